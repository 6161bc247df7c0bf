"""The SQLite store: migrations, one transaction per source, merging, locks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select, text

import coopfeed.store as store_module
from coopfeed.dedupe import MatchPolicy
from coopfeed.exceptions import LockError, StoreError
from coopfeed.identity import Candidate, archive_candidate, feed_candidate
from coopfeed.normalize import Normalized
from coopfeed.store import SQLITE_CACHE_KIB, SourceState, Store
from coopfeed.store.schema import IN_CHUNK, SCHEMA_VERSION, meta

NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)


def archive(title: str, summary: str = "", day: date = date(2021, 7, 3)) -> Candidate:
    published = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    return archive_candidate(
        Normalized(
            "ilo", "f:1", None, title, None, summary, published, published, ("News",), (), day
        ),
        "a.org",
    )


def remote(
    title: str,
    *,
    key: str,
    link: str | None = None,
    summary: str = "",
    source: str = "ica",
    category: str = "Energy",
    published: datetime = datetime(2021, 7, 3, 15, tzinfo=UTC),
) -> Candidate:
    return feed_candidate(
        Normalized(
            source,
            "u",
            key,
            title,
            link,
            summary,
            published,
            published,
            (category,),
            ("Ann",),
            None,
        ),
        "a.org",
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "db" / "coop.sqlite3"))


def test_new_store_is_migrated_and_in_wal_mode(store: Store) -> None:
    with store.engine.connect() as c:
        assert c.execute(text("SELECT value FROM meta WHERE key='schema_version'")).scalar() == str(
            SCHEMA_VERSION
        )
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        # A page cache that holds a group of sources' writes (SQLite's own is 2 MB).
        assert c.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
    assert SQLITE_CACHE_KIB >= 8192
    assert store.check_integrity() == "ok"


def test_reingesting_the_same_items_changes_nothing(store: Store) -> None:
    first = store.ingest("ilo", [archive("A"), archive("B")], NOW)
    assert (first.new, first.categories) == (2, {"News"})
    again = store.ingest("ilo", [archive("A"), archive("B")], NOW + timedelta(hours=1))
    assert (again.new, again.updated, again.unchanged, again.changed) == (0, 0, 2, False)
    assert [i.title for i in store.published_items()] == ["A", "B"]


def test_the_same_story_twice_in_one_batch_is_one_item(store: Store) -> None:
    report = store.ingest("ilo", [archive("Jordan launches"), archive("jordan  LAUNCHES")], NOW)
    assert report.new == 1 and report.unchanged == 1
    assert len(store.published_items()) == 1


def test_a_guid_repeated_in_one_batch_keeps_the_first_copy_which_the_later_fills_in(
    store: Store,
) -> None:
    """A feed that repeats a guid (its parser warns, saying this): the first copy is the
    item, and a later one only fills in what it lacks, here a longer summary and another
    category, never the title.  The next run with the same feed changes nothing."""
    first = remote("Same guid twice", key="b-3", summary="<p>three</p>")
    later = remote(
        "Same guid twice (edited)", key="b-3", summary="<p>three, and more</p>", category="Jobs"
    )
    report = store.ingest("ica", [first, later], NOW)
    assert (report.new, report.merged) == (1, 0)
    [item] = store.published_items()
    assert item.title == "Same guid twice"
    assert item.summary == "<p>three, and more</p>"
    assert item.categories == ("Energy", "Jobs")
    again = store.ingest("ica", [first, later], NOW + timedelta(hours=1))
    assert (again.new, again.updated, again.changed) == (0, 0, False)
    assert store.published_items() == [item]


def test_a_story_from_another_source_merges_and_keeps_first_guid_and_date(store: Store) -> None:
    store.ingest("ilo", [archive("Jordan launches strategy", "<p>short</p>")], NOW)
    first = store.published_items()[0]
    report = store.ingest(
        "ica",
        [
            remote(
                "JORDAN launches  strategy",
                key="https://ica.example/1",
                link="https://ica.example/1",
                summary="<p>a much longer summary</p>",
            )
        ],
        NOW,
    )
    assert (report.new, report.merged) == (0, 1)
    [merged] = store.published_items()
    assert merged.guid == first.guid and merged.published == first.published
    assert merged.link == "https://ica.example/1"
    assert merged.summary == "<p>a much longer summary</p>"
    assert merged.categories == ("News", "Energy") and merged.authors == ("Ann",)


def test_its_own_source_sending_it_again_keeps_the_longer_summary_filled_in(
    store: Store,
) -> None:
    """The first source's unchanged copy is no edit: the longer summary another source
    filled in stays, and nothing published changes; a real edit still wins."""
    store.ingest("ilo", [archive("Jordan launches strategy", "<p>short</p>")], NOW)
    longer = remote(
        "JORDAN launches  strategy", key="https://ica.example/1", summary="<p>much longer</p>"
    )
    assert store.ingest("ica", [longer], NOW).merged == 1
    revision = store.revision()
    again = store.ingest("ilo", [archive("Jordan launches strategy", "<p>short</p>")], NOW)
    assert (again.updated, again.unchanged) == (0, 1)
    assert store.published_items()[0].summary == "<p>much longer</p>"
    assert store.revision() == revision
    edited = store.ingest("ilo", [archive("Jordan launches strategy", "<p>fixed</p>")], NOW)
    assert edited.updated == 1
    assert store.published_items()[0].summary == "<p>fixed</p>"


def test_items_stored_before_schema_5_take_their_own_sources_copy_as_before(
    tmp_path: Path,
) -> None:
    """Without a record of what its source sent, a copy that differs is an edit (as
    before); one that does not only records what was sent."""
    path = str(tmp_path / "coop.sqlite3")
    store = Store.open(path)
    store.ingest("ilo", [archive("A", "<p>a</p>"), archive("B", "<p>b</p>")], NOW)
    with store.engine.begin() as c:
        c.execute(text("ALTER TABLE items DROP COLUMN own_digest"))
        c.execute(text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
    store.close()
    store = Store.open(path)
    try:
        with store.engine.connect() as c:
            assert c.execute(text("SELECT count(own_digest) FROM items")).scalar() == 0
        report = store.ingest("ilo", [archive("A", "<p>a</p>"), archive("B", "<p>b2</p>")], NOW)
        assert (report.updated, report.unchanged) == (1, 1)
        assert {i.title: i.summary for i in store.published_items()} == {
            "A": "<p>a</p>",
            "B": "<p>b2</p>",
        }
        with store.engine.connect() as c:
            assert c.execute(text("SELECT count(own_digest) FROM items")).scalar() == 2
    finally:
        store.close()


def test_title_parts_are_filed_on_the_first_ingest_and_again_when_the_threshold_changes(
    tmp_path: Path,
) -> None:
    """A store from before schema 6 has no title_parts: the first search of the
    database files every stored title, and finds a near duplicate through them (the
    batch's new item is filed by the next search); a changed threshold files them all
    again, and one below 0.8 stops keeping them."""
    path = str(tmp_path / "coop.sqlite3")
    store = Store.open(path)
    store.ingest(
        "ica", [remote(f"Solar cooperative number {n} opens", key=f"k{n}") for n in range(5)], NOW
    )
    with store.engine.begin() as c:
        c.execute(text("DROP TABLE title_parts"))
        c.execute(text("DELETE FROM meta WHERE key = 'title_parts'"))
        c.execute(text("UPDATE meta SET value = '5' WHERE key = 'schema_version'"))
    store.close()

    def filed() -> tuple[str | None, int, int]:
        with store.engine.connect() as c:
            value = c.execute(text("SELECT value FROM meta WHERE key = 'title_parts'")).scalar()
            rows = c.execute(text("SELECT count(*) FROM title_parts")).scalar()
            items = c.execute(text("SELECT count(DISTINCT item_id) FROM title_parts")).scalar()
        return value, int(rows or 0), int(items or 0)

    store = Store.open(path)
    store.max_indexed = 0  # every search asks the database
    try:
        assert filed() == (None, 0, 0)
        near = remote("Solar cooperatives number 3 opens", key="e1", source="euc")
        report = store.ingest(
            "euc", [near, remote("Dairy union votes", key="e2", source="euc")], NOW
        )
        assert (report.new, report.merged) == (1, 1)
        value, rows, items = filed()
        assert value == "0.85 5" and items == 5 and rows >= 5 * 5
        strict = MatchPolicy(similarity=0.95)
        report = store.ingest(
            "wire", [remote("Dairy union votes.", key="w1", source="wire")], NOW, strict
        )
        assert report.merged == 1
        value, rows_95, items = filed()
        assert value == "0.95 6" and items == 6
        store.ingest(
            "ilo",
            [remote("Something else", key="i1", source="ilo")],
            NOW,
            MatchPolicy(similarity=0.7),
        )
        assert filed()[0] is None  # no longer kept up to date
        store.file_titles()  # what a run does once it has stored what it fetched
        assert filed()[0] == "0.85 7" and filed()[2] == 7
    finally:
        store.close()


def test_titles_match_only_within_a_day(store: Store) -> None:
    store.ingest("ilo", [archive("Annual report")], NOW)
    later = datetime(2022, 7, 3, tzinfo=UTC)
    report = store.ingest("ica", [remote("Annual report", key="x1", published=later)], NOW)
    assert report.new == 1


def test_matching_by_canonical_link(store: Store) -> None:
    store.ingest(
        "ica", [remote("One", key="k1", link="https://coop.example/a?utm_source=rss")], NOW
    )
    report = store.ingest(
        "euc", [remote("Other words", key="z", link="HTTPS://coop.example/a", source="euc")], NOW
    )
    assert report.merged == 1 and len(store.published_items()) == 1


def test_own_source_edits_update_but_never_guid_or_published(store: Store) -> None:
    store.ingest("ica", [remote("Title", key="k1", summary="<p>a</p>")], NOW)
    before = store.published_items()[0]
    edited = remote(
        "Title, edited",
        key="k1",
        summary="<p>b</p>",
        published=before.published + timedelta(days=3),
    )
    report = store.ingest("ica", [edited], NOW + timedelta(days=3))
    assert report.updated == 1
    after = store.published_items()[0]
    assert (after.guid, after.published) == (before.guid, before.published)
    assert (after.title, after.summary) == ("Title, edited", "<p>b</p>")


def test_source_state_round_trips(store: Store) -> None:
    state = SourceState(
        "ica",
        etag='"x"',
        last_modified="Sat, 28 Nov 2026 10:00:00 GMT",
        last_fetch=NOW,
        failures=2,
        last_error="timed out",
        next_due=NOW,
    )
    store.save_source_state(state)
    assert store.source_state("ica") == state
    assert store.source_state("unknown") == SourceState("unknown")
    store.save_source_state(SourceState("ica", failures=0))
    assert store.source_states()["ica"].failures == 0


def test_a_source_s_state_is_saved_with_its_items(store: Store) -> None:
    """One transaction stores the items and the validators that vouch for them."""
    state = SourceState("ica", etag='"v2"', last_fetch=NOW, items_seen=1)
    report = store.ingest("ica", [remote("Title", key="k1")], NOW, state=state)
    assert report.new == 1 and store.source_state("ica") == state
    again = SourceState("ica", etag='"v3"', last_fetch=NOW, items_seen=1)
    assert store.ingest("ica", [remote("Title", key="k1")], NOW, state=again).unchanged == 1
    assert store.source_state("ica").etag == '"v3"'


def synchronous(store: Store) -> int | None:
    """SQLite's synchronous setting on a connection of the pool (None: PostgreSQL)."""
    if store.engine.dialect.name != "sqlite":
        return None
    with store.engine.connect() as c:
        return int(c.exec_driver_sql("PRAGMA synchronous").scalar())


def test_grouped_writes_commit_together_and_a_failed_one_rolls_back_alone(store: Store) -> None:
    """Inside, each transaction (a read too) is a savepoint: the group commits every
    ``writes`` of them, and at the end, SQLite without an fsync each
    (synchronous=NORMAL); a transaction that fails takes back only its own writes."""
    other = Store.open(store.name)  # another process's view

    def titles(of: Store) -> list[str]:
        return sorted(stored.item.title for stored in of.list_items())

    assert synchronous(store) in (2, None)
    with store.grouped_writes(writes=5, seconds=3600):
        if store.engine.dialect.name == "sqlite":
            assert store._group is not None  # (asked directly: a transaction would count)
            pragma = store._group.connection.exec_driver_sql("PRAGMA synchronous")
            assert pragma.scalar() == 1
        store.ingest("ica", [remote("One", key="k1")], NOW, state=SourceState("ica", etag='"1"'))
        store.ingest("ica", [remote("Two", key="k2")], NOW)
        with pytest.raises(RuntimeError), store._connect() as c:
            c.execute(insert(meta).values(key="half-done", value="x"))
            raise RuntimeError("a source whose ingest fails")
        assert titles(store) == ["One", "Two"]  # this thread sees the group's writes
        assert titles(other) == []  # three transactions, the failed one not counted
        with store.grouped_writes():  # nested: part of the same group
            store.ingest("coop", [remote("Three", key="k3")], NOW)
        assert titles(other) == []
        store.ingest("coop", [remote("Four", key="k4")], NOW)
        assert titles(other) == ["Four", "One", "Three", "Two"]  # five: committed
        store.ingest("coop", [remote("Five", key="k5")], NOW)
        assert titles(other) == ["Four", "One", "Three", "Two"]
    assert titles(other) == ["Five", "Four", "One", "Three", "Two"]  # and at the end
    assert other.source_state("ica").etag == '"1"'
    with other._connect() as c:
        assert c.execute(select(meta.c.value).where(meta.c.key == "half-done")).first() is None
    other.close()
    assert synchronous(store) in (2, None)  # the pool's connections are FULL again


def test_grouped_writes_keep_what_was_stored_when_the_run_fails(store: Store) -> None:
    with pytest.raises(RuntimeError), store.grouped_writes():
        store.ingest("ica", [remote("Title", key="k1")], NOW)
        raise RuntimeError("a run that fails keeps each source it stored whole")
    store.close()
    reopened = Store.open(store.name)
    assert [stored.item.title for stored in reopened.list_items()] == ["Title"]
    reopened.close()


def test_many_source_states_are_saved_and_read_together(store: Store) -> None:
    """Sources stored before and new ones, in one call, more than one IN list holds."""
    names = [f"feed-{n:04d}" for n in range(1_200)]
    store.save_source_states([SourceState(name, failures=1) for name in names[:700]])
    later = [SourceState(name, etag=f'"{name}"', next_due=NOW) for name in names]
    store.save_source_states(later)
    assert store.source_states() == {state.name: state for state in later}
    wanted = [names[3], names[900], "unknown"]
    assert store.source_states(wanted) == {name: later[int(name[5:])] for name in wanted[:2]}


def test_a_second_process_cannot_take_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "coop.sqlite3")
    one, two = Store.open(path), Store.open(path)
    with one.lock(), pytest.raises(LockError, match="another coopfeed process holds the lock"):
        with two.lock(wait=0.1):
            pass
    with two.lock():
        pass


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "coop.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"coop\.sqlite3: file is not a database"):
        Store.open(str(path))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "coop.sqlite3")
    store = Store.open(path)
    with store.engine.begin() as c:
        c.execute(text("UPDATE meta SET value='999' WHERE key='schema_version'"))
    store.close()
    with pytest.raises(StoreError, match="schema version 999, newer than this coopfeed"):
        Store.open(path)


def test_near_duplicate_titles_from_another_source_merge(store: Store) -> None:
    store.ingest(
        "ilo", [archive("Jordan launches national strategy for the cooperative movement")], NOW
    )
    close = remote(
        "Jordan launches national strategy for the co-operative movement!",
        key="k9",
        published=datetime(2021, 7, 5, 9, tzinfo=UTC),
    )
    assert store.ingest("ica", [close], NOW).merged == 1
    far = remote(
        "Jordan launches national strategy for the co-operative movement!",
        key="k10",
        source="euc",
        published=datetime(2021, 7, 20, 9, tzinfo=UTC),
    )
    assert store.ingest("euc", [far], NOW).new == 1


def test_similar_titles_within_one_source_stay_apart(store: Store) -> None:
    report = store.ingest(
        "ica", [remote("Weekly digest 12", key="a"), remote("Weekly digest 12", key="b")], NOW
    )
    assert report.new == 2


def test_a_threshold_of_one_turns_near_duplicates_off(store: Store) -> None:
    from coopfeed.dedupe import MatchPolicy

    store.ingest("ilo", [archive("Jordan launches national strategy")], NOW)
    close = remote("Jordan launches national strategy!!", key="k9")
    assert (
        store.ingest("ica", [close], NOW, MatchPolicy(similarity=1.0)).merged == 1
    )  # same title key
    other = remote("Jordan launches a national strategy", key="k10", source="euc")
    assert store.ingest("euc", [other], NOW, MatchPolicy(similarity=1.0)).new == 1


# -- the change sequence ---------------------------------------------------------------


def changed_column(store: Store) -> dict[str, int]:
    """guid -> the ``changed`` number of its row."""
    with store.engine.connect() as c:
        return dict(c.execute(text("SELECT guid, changed FROM items")).all())


def guid_of(store: Store, title: str) -> str:
    [found] = [stored.item.guid for stored in store.list_items() if stored.item.title == title]
    return found


def test_a_new_store_has_an_id_and_a_change_sequence_at_zero(store: Store) -> None:
    store_id, sequence = store.change_marker()
    assert len(store_id) == 32 and int(store_id, 16) >= 0
    assert sequence == 0 and store.changed_guids(0) == [] and store.changed_guids(-1) == []
    with store.engine.connect() as c:
        keys = c.execute(text("SELECT key FROM meta WHERE key IN ('store_id', 'change_sequence')"))
        assert sorted(keys.scalars()) == ["change_sequence", "store_id"]
    store.migrate()  # nothing to do: the same id
    assert store.change_marker() == (store_id, 0)


def test_each_store_gets_its_own_id_and_keeps_it(tmp_path: Path) -> None:
    one, two = Store.open(str(tmp_path / "one.sqlite3")), Store.open(str(tmp_path / "two.sqlite3"))
    one_id, two_id = one.change_marker()[0], two.change_marker()[0]
    assert one_id != two_id
    one.close()
    again = Store.open(str(tmp_path / "one.sqlite3"))
    assert again.change_marker() == (one_id, 0)
    again.close()
    two.close()


def test_an_ingest_numbers_the_items_it_inserts_or_edits(store: Store) -> None:
    """One number per transaction that changed something, on exactly the rows it
    inserted or edited; a batch that changes nothing takes none."""
    store.ingest("ica", [remote(t, key=t, summary=f"<p>{t}</p>") for t in ("A", "B", "C")], NOW)
    store_id, first = store.change_marker()
    assert first == 1 and set(changed_column(store).values()) == {1}
    assert store.changed_guids(0) == sorted(changed_column(store))
    assert store.changed_guids(first) == []
    again = store.ingest("ica", [remote(t, key=t, summary=f"<p>{t}</p>") for t in ("A", "B")], NOW)
    assert again.unchanged == 2 and store.change_marker() == (store_id, first)
    batch = [
        remote("A", key="A", summary="<p>A</p>"),
        remote("B, edited", key="B"),
        remote("D", key="D"),
    ]
    report = store.ingest("ica", batch, NOW)
    assert (report.new, report.updated, report.unchanged) == (1, 1, 1)
    assert store.change_marker() == (store_id, first + 1)
    assert store.changed_guids(first) == sorted([guid_of(store, "B, edited"), guid_of(store, "D")])
    assert changed_column(store)[guid_of(store, "A")] == first
    assert changed_column(store)[guid_of(store, "C")] == first
    assert store.changed_guids(first + 1) == []
    merged = remote("C", key="other", source="euc", summary="<p>C, at length</p>")
    assert store.ingest("euc", [merged], NOW).merged == 1  # another source fills it in
    assert store.changed_guids(first + 1) == [guid_of(store, "C")]


def test_an_update_of_own_digest_alone_does_not_number_the_item(store: Store) -> None:
    """The source sending its item again with no summary records what it sent, and
    changes nothing published: that row keeps its number, though another item's edit in
    the same transaction takes the next one."""
    store.ingest("ilo", [archive("A", "<p>a</p>"), archive("B", "<p>b</p>")], NOW)
    a, b = guid_of(store, "A"), guid_of(store, "B")
    with store.engine.connect() as c:
        before = dict(c.execute(text("SELECT guid, own_digest FROM items")).all())
    _, sequence = store.change_marker()
    report = store.ingest("ilo", [archive("A", ""), archive("B", "<p>b, edited</p>")], NOW)
    assert (report.updated, report.unchanged) == (1, 1)
    with store.engine.connect() as c:
        after = dict(c.execute(text("SELECT guid, own_digest FROM items")).all())
    assert after[a] != before[a]  # written...
    assert changed_column(store) == {a: sequence, b: sequence + 1}  # ...but not numbered
    assert store.changed_guids(sequence) == [b]
    alone = store.ingest("ilo", [archive("A", "<p>a</p>")], NOW)  # own_digest again, alone
    assert (alone.updated, alone.unchanged) == (0, 1)
    assert store.change_marker()[1] == sequence + 1 and store.changed_guids(sequence + 1) == []


def test_removing_and_restoring_number_the_items(store: Store) -> None:
    store.ingest("ica", [remote("A", key="a"), remote("B", key="b")], NOW)
    a, b = guid_of(store, "A"), guid_of(store, "B")
    _, sequence = store.change_marker()
    assert store.set_removed([a, "unknown"], NOW) == 1
    assert store.change_marker()[1] == sequence + 1
    assert store.changed_guids(sequence) == [a]  # removed items too
    assert store.set_removed(["unknown"], NOW) == 0  # nothing changed: no number taken
    assert store.set_removed([], None) == 0
    assert store.change_marker()[1] == sequence + 1
    assert store.set_removed([a], None) == 1
    assert store.changed_guids(sequence + 1) == [a]
    assert changed_column(store) == {a: sequence + 2, b: sequence}
    store.save_archive_pages({"news": {1: (a, b)}})  # counts, and numbers no item
    assert store.change_marker()[1] == sequence + 3
    assert store.changed_guids(sequence + 2) == []


def test_each_number_has_its_transactions_token_for_a_while(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record names a number and its token: the same number from a copy put back has
    another token; old numbers are forgotten (their token is "")."""
    assert store.change_token(0) == ""
    store.ingest("ica", [remote("A", key="a")], NOW)
    _, first = store.change_marker()
    token = store.change_token(first)
    assert len(token) == 16 and store.revision() == token
    monkeypatch.setattr(store_module, "LOG_KEPT", 3)
    monkeypatch.setattr(store_module, "LOG_PRUNED_EVERY", 2)
    for n in range(6):
        store.ingest("ica", [remote(f"Story {n}", key=f"s{n}")], NOW)
    _, last = store.change_marker()
    assert store.change_token(last) == store.revision() != token
    assert store.change_token(first) == ""  # pruned
    assert store.change_token(last + 1) == ""  # not yet


def test_published_reads_only_the_guids_asked_for(store: Store) -> None:
    """The same items, order, digests and summaries as a full read, for more guids than
    one IN (...) holds; removed and unknown guids are left out."""
    day = datetime(2021, 7, 3, tzinfo=UTC)
    candidates = [
        remote(
            f"Story number {n}",
            key=f"k{n}",
            summary=f"<p>{n}</p>",
            published=day + timedelta(hours=n % 7),
        )
        for n in range(IN_CHUNK + 150)
    ]
    assert store.ingest("ica", candidates, NOW).new == len(candidates)
    everything = store.published()
    guids = [item.guid for item in everything.items]
    removed = guids[5]
    assert store.set_removed([removed], NOW) == 1
    full = store.published()
    wanted = [*(g for n, g in enumerate(reversed(guids)) if n % 7), removed, "unknown", guids[0]]
    assert len(set(wanted)) > IN_CHUNK
    for summaries in (True, False):
        expected = store.published(summaries=summaries)
        found = store.published(summaries=summaries, guids=wanted)
        kept = set(wanted) - {removed, "unknown"}
        assert found.items == [item for item in expected.items if item.guid in kept]
        assert found.digests == {g: d for g, d in expected.digests.items() if g in kept}
        assert found.complete is summaries
        asked = [guids[0], guids[3], removed]
        assert found.summaries(asked) == full.summaries(asked)
        assert len(found.summaries(asked)) == 2
    assert store.published(guids=[]).items == []
    assert store.published(guids=[removed, "unknown"]).digests == {}
    since = store.change_marker()[1]
    store.ingest("ica", [remote("Story number 3, edited", key="k3", published=day)], NOW)
    [edited] = store.published(guids=store.changed_guids(since)).items
    assert edited.title == "Story number 3, edited"
    assert [edited] == [item for item in store.published().items if item.guid == edited.guid]


def schema_of_items(store: Store) -> tuple[list[tuple[object, ...]], list[str]]:
    """The items table's columns and indexes, as the database describes them."""
    with store.engine.connect() as c:
        found = inspect(c)
        columns = [
            (one["name"], str(one["type"]), one["nullable"], one["default"])
            for one in found.get_columns("items")
        ]
        indexes = sorted(repr(sorted(one.items())) for one in found.get_indexes("items"))
    return sorted(columns), indexes


def test_schema_7_numbers_the_stored_items_zero_and_gives_the_store_an_id(store: Store) -> None:
    """A database made before schema 7 ends with the columns and indexes of a new one,
    its items numbered 0 and the sequence at 0; the next ingest numbers from 1 and
    logs its token (schema 8)."""
    made_new = schema_of_items(store)
    store.ingest("ica", [remote("A", key="a"), remote("B", key="b")], NOW)
    with store.engine.begin() as c:
        c.execute(text("DROP INDEX items_changed"))
        c.execute(text("ALTER TABLE items DROP COLUMN changed"))
        c.execute(text("DELETE FROM meta WHERE key IN ('store_id', 'change_sequence')"))
        c.execute(text("DROP TABLE change_log"))
        c.execute(text("UPDATE meta SET value = '6' WHERE key = 'schema_version'"))
    assert "changed" not in [column[0] for column in schema_of_items(store)[0]]
    store.migrate()
    assert schema_of_items(store) == made_new
    with store.engine.connect() as c:
        version = c.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    assert version == str(SCHEMA_VERSION) == "8"
    store_id, sequence = store.change_marker()
    assert len(store_id) == 32 and sequence == 0
    assert set(changed_column(store).values()) == {0} and store.changed_guids(0) == []
    store.ingest("ica", [remote("C", key="c")], NOW)
    assert store.change_marker() == (store_id, 1)
    assert store.changed_guids(0) == [guid_of(store, "C")]
    assert store.change_token(1) == store.revision()
