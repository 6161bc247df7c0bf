"""Title matching across sources: the index and the database query against a plain scan."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from coopfeed.dedupe import (
    MatchPolicy,
    codes,
    differ,
    near_duplicate,
    part_count,
    partner_sizes,
    signatures,
    trigrams,
)
from coopfeed.identity import feed_candidate, title_key
from coopfeed.normalize import Normalized
from coopfeed.store import Store, matching
from coopfeed.store.matching import (
    EXTRA,
    PARTS_KEY,
    TitleIndex,
    file_parts,
    search_database,
    search_parts,
    uses_parts,
)
from coopfeed.store.schema import item_sources, items, meta, title_parts
from coopfeed.workers import MIN_BATCH, Workers

NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)
BASE = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
WORDS = "solar co op cooperative coop opens dairy merges farmers vote union bank new".split()


def scan(
    rows: list[tuple[int, str, int]], key: str, published: int, policy: MatchPolicy, skip: set[int]
) -> int | None:
    """The rule as DESIGN 5.1 states it, by brute force: the oldest equal title within
    the same-title window, else the oldest near duplicate within the near window."""
    near = None
    for item_id, other, when in sorted(rows):
        if item_id in skip:
            continue
        distance = abs(when - published)
        if other == key and distance <= policy.same_title_window:
            return item_id
        if (
            near is None
            and distance <= policy.near_duplicate_window
            and near_duplicate(key, other, policy.similarity)
        ):
            near = item_id
    return near


BASES = [
    "solar cooperative opens in jordan",
    "dairy farmers vote to merge their co op",
    "new union bank for housing cooperatives",
]


@st.composite
def titles(draw: st.DrawFn) -> str:
    """A few stories, each told many ways: near duplicates of each other and not."""
    title = list(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(title)))
        action = draw(st.sampled_from(["drop", "add", "swap"]))
        if action == "drop" and where < len(title):
            del title[where]
        elif action == "add":
            title.insert(where, draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz ")))
        elif where < len(title) - 1:
            title[where], title[where + 1] = title[where + 1], title[where]
    return "".join(title)


rows_strategy = st.lists(st.tuples(titles(), st.integers(0, 10 * 86_400)), min_size=0, max_size=40)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(str(tmp_path_factory.mktemp("matching") / "m.sqlite3"))
    yield store
    store.close()


def fill(store: Store, rows: list[tuple[str, int]]) -> list[tuple[int, str, int]]:
    with store.engine.begin() as c:
        c.execute(items.delete())
        c.execute(title_parts.delete())
        c.execute(meta.delete().where(meta.c.key == PARTS_KEY))
        stored = []
        for n, (title, offset) in enumerate(rows, start=1):
            c.execute(
                insert(items).values(
                    id=n,
                    guid=f"urn:x:{n}",
                    title=title,
                    title_key=title_key(title),
                    anchor="a",
                    categories="[]",
                    source="s",
                    published=BASE + offset,
                    updated=BASE + offset,
                    first_seen=BASE,
                )
            )
            stored.append((n, title_key(title), BASE + offset))
    return stored


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=rows_strategy,
    query=titles(),
    offset=st.integers(0, 10 * 86_400),
    similarity=st.sampled_from([0.6, 0.75, 0.85, 0.9, 1.0]),
    skip=st.sets(st.integers(1, 40), max_size=5),
)
def test_index_and_database_find_what_a_scan_finds(
    database: Store,
    rows: list[tuple[str, int]],
    query: str,
    offset: int,
    similarity: float,
    skip: set[int],
) -> None:
    stored = fill(database, rows)
    policy = MatchPolicy(similarity=similarity)
    key, published = title_key(query), BASE + offset
    expected = scan(stored, key, published, policy, skip)
    index = TitleIndex(0)
    for item_id, other, when in stored:
        index.add(item_id, other, when)
    assert index.search(key, published, policy, skip) == expected
    # Keys added after a search are filed as they come.
    growing = TitleIndex(0)
    half = len(stored) // 2
    for item_id, other, when in stored[:half]:
        growing.add(item_id, other, when)
    growing.search(key, published, policy, set())
    for item_id, other, when in stored[half:]:
        growing.add(item_id, other, when)
    assert growing.search(key, published, policy, skip) == expected
    with database.engine.connect() as c:
        grams = index.rarest(key, policy, EXTRA)
        assert search_database(c, key, published, policy, skip, grams) == expected
    if uses_parts(policy):
        with database.engine.begin() as c:
            file_parts(c, policy)
            assert search_parts(c, key, published, policy, skip) == expected
    loaded = TitleIndex(len(stored))
    with database.engine.connect() as c:
        loaded.load(c, set(range(BASE // 86_400 - 5, BASE // 86_400 + 20)))
    assert loaded.search(key, published, policy, skip) == expected


def test_the_database_counts_a_trigram_that_only_the_stored_key_s_padding_makes(
    database: Store,
) -> None:
    """ "co " is inside "solar co opens", but "solar co" has it only padded, at its end:
    the query must look in the padded key, or it counts 8 shared trigrams of the 9 that
    reach 0.6, and misses a near duplicate."""
    policy = MatchPolicy(similarity=0.6)
    [(item_id, _, _)] = fill(database, [("Solar co", 0)])
    key = title_key("Solar co opens")
    assert near_duplicate(key, "solar co", 0.6)
    with database.engine.connect() as c:
        grams = sorted(trigrams(key))  # all of them: 9 must be found
        assert search_database(c, key, BASE, policy, set(), grams) == item_id


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.75, 0.85, 0.9, 0.95, 0.99])
def test_the_index_signatures_allow_every_pair_that_can_be_similar(threshold: float) -> None:
    """Whenever keys of sizes a and b sharing n trigrams reach the threshold (computed as
    dedupe.similarity computes it), b is among a's partner sizes and the keys differ in no
    more trigrams than either size allows."""
    for size in range(1, 80):
        sizes = partner_sizes(size, threshold)
        for other in range(1, 200):
            reach = [n for n in range(min(size, other) + 1) if n / (size + other - n) >= threshold]
            assert (other in sizes) == bool(reach), (size, other)
            allowed = min(differ(size, threshold), differ(other, threshold))
            for n in reach:
                assert size + other - 2 * n <= allowed, (size, other, n)


def candidates(seed: int, source: str, count: int) -> list:  # type: ignore[type-arg]
    rng = random.Random(f"{seed}:{source}")
    found = []
    for n in range(count):
        words = rng.sample(WORDS, rng.randint(2, 6))
        if rng.random() < 0.3:
            words = [w.upper() if rng.random() < 0.5 else w for w in words]
        published = datetime.fromtimestamp(BASE, UTC) + timedelta(hours=rng.randint(0, 240))
        link = f"https://{source}.example/{n}" if rng.random() < 0.8 else None
        item = Normalized(
            source, "u", f"{source}-{n}", " ".join(words), link, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        found.append(feed_candidate(item, "a.org"))
    return found


def contents(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with store.engine.connect() as c:
        stored = c.execute(select(items).order_by(items.c.id)).all()
        keys = c.execute(
            select(item_sources).order_by(item_sources.c.source, item_sources.c.key)
        ).all()
    return [tuple(row) for row in stored], [tuple(row) for row in keys]


@pytest.mark.parametrize(("seed", "similarity"), [(1, 0.85), (2, 0.85), (3, 0.7), (4, 0.8)])
def test_the_database_path_stores_what_the_index_path_stores(
    tmp_path: Path, seed: int, similarity: float
) -> None:
    """Sources ingested in turn, one store indexing every day, one asking the database
    (an index too small for any day; through title_parts from 0.8 up, else by trigram
    substrings): the same rows, the same ids, the same merges."""
    policy = MatchPolicy(similarity=similarity)
    indexed = Store.open(str(tmp_path / "indexed.sqlite3"))
    asking = Store.open(str(tmp_path / "asking.sqlite3"))
    asking.max_indexed = 0
    try:
        for round_ in range(2):  # the second round finds everything stored
            for source in ("ica", "ilo", "coop", "wire"):
                batch = candidates(seed, source, 60)
                a = indexed.ingest(source, batch, NOW + timedelta(hours=round_), policy)
                b = asking.ingest(source, batch, NOW + timedelta(hours=round_), policy)
                assert (a.new, a.merged, a.updated, a.unchanged) == (
                    b.new,
                    b.merged,
                    b.updated,
                    b.unchanged,
                )
        first, second = contents(indexed), contents(asking)
        assert first == second
        assert len(first[0]) < 4 * 60  # some stories were merged
    finally:
        indexed.close()
        asking.close()


def part_rows(
    item_id: int, key: str, published: int, threshold: float
) -> set[tuple[int, int, int]]:
    """The title_parts rows of one item, made as the in-memory index deals its key."""
    grams = trigrams(key)
    signed = signatures(codes(grams), part_count(len(grams), threshold))
    return {(signature, published, item_id) for signature in signed}


@pytest.mark.parametrize("processes", [0, 2])
def test_filing_titles_files_every_stored_title_once(
    tmp_path: Path, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a run does at its end: every title stored, filed once under each of its
    parts' signatures (as the in-memory index deals them), and nothing else; the same
    when worker processes make the rows (in chunks of 50 here, so several)."""
    monkeypatch.setattr(matching, "_FILL_ROWS", 50)
    store = Store.open(str(tmp_path / "filed.sqlite3"))
    try:
        for source in ("ica", "ilo", "coop"):
            store.ingest(source, candidates(5, source, 60), NOW)
        assert store._index is not None and len(store._index) > 0
        with Workers(processes) as workers:
            if processes:  # started, as in a run (a few jobs alone would run here)
                assert workers.submit_all([(len, ("x",))] * MIN_BATCH)[0].get() == 1
            store.file_titles(MatchPolicy(), workers)
        with store.engine.connect() as c:
            filed = {tuple(row) for row in c.execute(select(title_parts))}
            stored = c.execute(select(items.c.id, items.c.title_key, items.c.published)).all()
        expected = {
            row for item_id, key, when in stored for row in part_rows(item_id, key, when, 0.85)
        }
        assert filed == expected and len({row[2] for row in filed}) == len(stored)
    finally:
        store.close()


def test_the_index_follows_items_another_process_stored(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    mine, theirs = Store.open(path), Store.open(path)
    try:
        published = datetime(2026, 11, 20, 9, tzinfo=UTC)
        one = Normalized(
            "ica", "u", "k1", "Solar co-op opens in Jordan", None, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        mine.ingest("ica", [feed_candidate(one, "a.org")], NOW)  # the index now holds that day
        other = Normalized(
            "wire", "u", "k2", "Dairy farmers vote to merge", None, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        theirs.ingest("wire", [feed_candidate(other, "a.org")], NOW)
        same = Normalized(
            "ilo", "u", "k3", "DAIRY farmers vote to merge", None, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        report = mine.ingest("ilo", [feed_candidate(same, "a.org")], NOW)
        assert (report.new, report.merged) == (0, 1)
    finally:
        mine.close()
        theirs.close()


def test_the_day_sizes_the_index_keeps_are_what_the_database_counts(tmp_path: Path) -> None:
    """The sizes of days decide which ones the index loads: once asked, they follow what
    this store stores, and a day where another process stored is asked again."""
    path = str(tmp_path / "shared.sqlite3")
    mine, theirs = Store.open(path), Store.open(path)
    rng = random.Random(7)

    def story(source: str, number: int, day: int) -> Normalized:
        published = datetime(2026, 11, day, 9, tzinfo=UTC) + timedelta(minutes=number)
        title = " ".join(rng.choice(WORDS) for _ in range(6)) + f" {source} {number}"
        return Normalized(
            source, "u", f"k{number}", title, None, "", published, published, ("News",), (), None
        )

    def both_agree() -> None:
        with mine.engine.begin() as c:
            index = mine._title_index(c)
            days = set(range(BASE // matching.DAY - 2, BASE // matching.DAY + 40))
            assert index._sizes_of(c, days) == {
                day: matching.day_counts(c, days).get(day, 0) for day in days
            }

    try:
        for round_, day in enumerate((10, 11, 12, 11)):
            batch = [story("ica", round_ * 100 + n, day + n % 3) for n in range(30)]
            mine.ingest("ica", [feed_candidate(one, "a.org") for one in batch], NOW)
            both_agree()
        others = [story("wire", 1000 + n, 12 + n % 2) for n in range(20)]
        theirs.ingest("wire", [feed_candidate(one, "b.org") for one in others], NOW)
        mine.ingest("ilo", [feed_candidate(story("ilo", 2000, 20), "c.org")], NOW)
        both_agree()
    finally:
        mine.close()
        theirs.close()


def test_a_failed_batch_leaves_no_trace_in_the_index(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "s.sqlite3"))
    try:
        published = datetime(2026, 11, 20, 9, tzinfo=UTC)
        one = Normalized(
            "ica", "u", "k1", "Solar co-op opens in Jordan", None, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        with store.engine.begin() as c:  # a trigger makes the insert fail
            c.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON item_sources "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(Exception, match="refused"):
            store.ingest("ica", [feed_candidate(one, "a.org")], NOW)
        with store.engine.begin() as c:
            c.exec_driver_sql("DROP TRIGGER refuse")
        again = Normalized(
            "ilo", "u", "k2", "Solar co-op opens in Jordan", None, "", published, published,
            ("News",), (), None,
        )  # fmt: skip
        report = store.ingest("ilo", [feed_candidate(again, "a.org")], NOW)
        assert (report.new, report.merged) == (1, 0)  # nothing to merge with: it rolled back
    finally:
        store.close()


def test_a_store_that_forgot_its_titles_stores_what_one_that_kept_them_does(
    tmp_path: Path,
) -> None:
    """forget_titles() between batches (as a run does before it publishes) costs the
    next batch a reload, never a merge."""
    kept = Store.open(str(tmp_path / "kept.sqlite3"))
    forgetting = Store.open(str(tmp_path / "forgetting.sqlite3"))
    try:
        merged = 0
        for source in ("ica", "ilo", "coop", "wire"):
            batch = candidates(7, source, 60)
            a = kept.ingest(source, batch, NOW)
            forgetting.forget_titles()
            b = forgetting.ingest(source, batch, NOW)
            assert (a.new, a.merged, a.updated) == (b.new, b.merged, b.updated)
            merged += a.merged
        assert merged > 0
        assert contents(kept) == contents(forgetting)
    finally:
        kept.close()
        forgetting.close()
