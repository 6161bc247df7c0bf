"""A publish of what changed since the last one (coopfeed.publish.changes) against a
publish of everything: random histories of new, edited, removed and restored items, and
after each step the folder the changes were published into holds, byte for byte, what a
whole publish of the store makes, and the same record for the next publish."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_publish_from_store import published as files

from coopfeed.config import Config, load_config
from coopfeed.pipeline import feeds_and_names, publish_all, read_mark
from coopfeed.pipeline import published as store_published
from coopfeed.prepare import prepare
from coopfeed.publish import RENDER_CACHE, PublishReport, last_record, publish_views
from coopfeed.publish.record import whole_views
from coopfeed.store import Store
from coopfeed.types import RawItem

Project = Callable[..., Path]
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SOURCES = """
[[sources]]
name = "ilo"
type = "archive"
path = "archive"
timezone = "Europe/Zurich"

[[sources]]
name = "wire"
type = "feed"
url = "http://127.0.0.1:9/wire.xml"
"""
#: Categories to draw from: two that map to one ("Press release" is "News"), and one
#: that differs from another only in case (one slug under two names).
CATEGORIES = ("News", "Press release", "Events", "Spotlight", "Opinion", "opinion")


class History:
    """A store that a seeded random history of items changes, one step at a time."""

    def __init__(self, config: Config, store: Store, seed: int, names: tuple[str, ...]) -> None:
        self.config, self.store = config, store
        self.random = random.Random(seed)
        self.names = names  # the categories this history draws from
        self.wire: dict[str, RawItem] = {}  # the feed source's entries by key
        self.serial = 0
        self.removing = True  # whether steps remove and restore items

    def step(self) -> None:
        r = self.random
        for _ in range(r.randint(1, 6)):
            self._new(r.choice(("ilo", "wire", "wire")))
        for key in r.sample(sorted(self.wire), min(len(self.wire), r.randint(0, 2))):
            self._edit(key)
        if not self.removing:
            return
        guids = [item.guid for item in self.store.published_items()]
        if guids and r.random() < 0.3:
            self.store.set_removed(r.sample(guids, 1), NOW)
        removed = [one.item.guid for one in self.store.list_items(removed=True)]
        if removed and r.random() < 0.3:
            self.store.set_removed(r.sample(removed, 1), None)

    def edit(self, count: int) -> None:
        """Edit ``count`` of the feed source's entries, and nothing else."""
        for key in self.random.sample(sorted(self.wire), count):
            self._edit(key)

    def _raw(self, source: str, **fields: object) -> RawItem:
        self.serial += 1
        r = self.random
        # Mostly new dates, some late arrivals with old ones (they land in open pages).
        days = r.choice((0, 0, 1, 2, 30)) + r.random()
        published = NOW - timedelta(days=days) - timedelta(minutes=self.serial)
        values: dict[str, object] = {
            "source": source,
            "title": f"Cooperative story {self.serial} {r.choice(('a', 'b'))}",
            "summary": f"<p>Told for the {self.serial}th time.</p>",
            "published": published,
            "updated": published,
            "categories": tuple(r.sample(self.names, r.randint(1, min(2, len(self.names))))),
        }
        if source == "wire":
            values["key"] = f"urn:wire:{self.serial}"
            values["link"] = None if r.random() < 0.3 else f"https://wire.example/{self.serial}"
        values.update(fields)
        return RawItem(**values)  # type: ignore[arg-type]

    def _new(self, source: str) -> None:
        raw = self._raw(source)
        if raw.key is not None:
            self.wire[raw.key] = raw
        self._ingest(raw)

    def _edit(self, key: str) -> None:
        old = self.wire[key]
        later = (old.updated or NOW) + timedelta(hours=1)
        new = replace(
            old,
            title=f"{old.title} (corrected)",
            summary=f"{old.summary}<p>Corrected.</p>",
            updated=later,
        )
        self.wire[key] = new
        self._ingest(new)

    def _ingest(self, raw: RawItem) -> None:
        source = self.config.source(raw.source)
        prepared = prepare(source, [raw], NOW, self.config.limits, self.config.tag_authority)
        self.store.ingest(raw.source, prepared.candidates, NOW)


def whole(config: Config, store: Store, folder: Path) -> None:
    """A publish of every stored item into ``folder``, as publish_all makes one (with the
    same record), without recording its archive pages."""
    stored = store_published(config, store)
    feeds, names = feeds_and_names(config, stored.items, NOW)
    views = whole_views(feeds, config.site, store.archive_pages(), names)
    publish_views(views, config.site, folder, stored=stored, mark=read_mark(config, store))


def run_history(
    project: Project, tmp_path: Path, seed: int, names: tuple[str, ...], site: str = ""
) -> list[bool]:
    """Steps of a history, each published both ways and compared; whether each step's
    publish was of the changes only.  ``site``: more of ``[site]`` (another database)."""
    extra = f"items_per_feed = 3\n{site}"
    config = load_config(project(extra_site=extra, sources=SOURCES, archive=""))
    store = Store.open(config.database)
    partial = []
    try:
        history = History(config, store, seed, names)
        for number in range(14):
            history.step()
            reference = tmp_path / f"whole-{number}"
            whole(config, store, reference)
            report = publish_all(config, store, NOW)
            assert files(config.output_dir) == files(reference), f"step {number}"
            assert last_record(config.output_dir) == last_record(reference), f"step {number}"
            partial.append(report.partial)
            if number % 5 == 4:  # a step with nothing changed publishes nothing
                again = publish_all(config, store, NOW)
                assert again.written == () and files(config.output_dir) == files(reference)
    finally:
        store.close()
    return partial


@pytest.mark.parametrize("seed", range(4))
def test_a_publish_of_the_changes_writes_what_a_whole_publish_would(
    project: Project, tmp_path: Path, seed: int
) -> None:
    partial = run_history(project, tmp_path, seed, CATEGORIES[:5])
    assert partial[0] is False  # nothing recorded yet: the first publish is whole
    assert sum(partial) >= len(partial) // 2  # most steps publish only their changes


def test_a_slug_under_two_names_is_published_whole_and_right(
    project: Project, tmp_path: Path
) -> None:
    partial = run_history(project, tmp_path, 7, CATEGORIES)
    assert partial.count(False) > 1  # "Opinion" and "opinion": the title could change


def test_a_file_edited_by_hand_sends_the_publish_the_whole_way(
    project: Project, tmp_path: Path
) -> None:
    config = load_config(project(extra_site="items_per_feed = 3\n", sources=SOURCES, archive=""))
    store = Store.open(config.database)
    try:
        history = History(config, store, 3, CATEGORIES[:5])
        for _ in range(6):
            history.step()
            publish_all(config, store, NOW)
        kept = sorted(config.output_dir.glob("*.archive-1.atom"))
        assert kept
        kept[0].write_bytes(b"edited by hand")
        history.step()
        report = publish_all(config, store, NOW)
        reference = tmp_path / "whole"
        whole(config, store, reference)
    finally:
        store.close()
    assert files(config.output_dir) == files(reference)
    assert kept[0].read_bytes() != b"edited by hand"
    assert report.partial is False


def test_a_record_from_another_store_is_not_trusted(project: Project, tmp_path: Path) -> None:
    path = project(extra_site="items_per_feed = 3\n", sources=SOURCES, archive="")
    config = load_config(path)
    reports: list[PublishReport] = []
    for database in ("one.db", "two.db"):
        store = Store.open(str(tmp_path / database))
        try:
            history = History(config, store, 5, CATEGORIES[:5])
            for _ in range(3):
                history.step()
            reports.append(publish_all(config, store, NOW))
            reference = tmp_path / f"whole-{database}"
            whole(config, store, reference)
        finally:
            store.close()
        assert files(config.output_dir) == files(reference)
    assert [report.partial for report in reports] == [False, False]
    assert (config.output_dir / RENDER_CACHE).is_file()


def test_a_changed_configuration_or_a_max_age_filter_publishes_the_whole_way(
    project: Project, tmp_path: Path
) -> None:
    path = project(extra_site="items_per_feed = 3\n", sources=SOURCES, archive="")
    config = load_config(path)
    store = Store.open(config.database)
    try:
        history = History(config, store, 11, ("News",))
        history.removing = False  # a removed newest item would send it the whole way
        history.step()
        publish_all(config, store, NOW)
        history.step()
        assert publish_all(config, store, NOW).partial  # the record settles it
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('title = "Cooperative news"', 'title = "Co-op news"'))
        retitled = load_config(path)
        history.step()
        assert not publish_all(retitled, store, NOW).partial
        history.step()
        assert publish_all(retitled, store, NOW).partial
        aging = text.replace('path = "archive"\n', 'path = "archive"\nmax_age = "3650d"\n')
        path.write_text(aging.replace('title = "Cooperative news"', 'title = "Co-op news"'))
        history.config = aged = load_config(path)
        for _ in range(2):
            history.step()
            assert not publish_all(aged, store, NOW).partial
        reference = tmp_path / "whole"
        whole(aged, store, reference)
    finally:
        store.close()
    assert files(config.output_dir) == files(reference)
    assert b"Co-op news" in (config.output_dir / "index.html").read_bytes()


def test_a_store_put_back_from_a_copy_is_published_the_whole_way(
    project: Project, tmp_path: Path
) -> None:
    """The copy numbers its next transactions as the store had numbered others (here
    edits the copy never saw): the tokens tell them apart, and no item stored since the
    copy is missed, no edit it lost is left in the files."""
    config = load_config(project(extra_site="items_per_feed = 3\n", sources=SOURCES, archive=""))
    database = Path(config.database)
    backup = tmp_path / "backup.sqlite3"
    store = Store.open(str(database))
    try:
        history = History(config, store, 13, ("News", "Events"))
        history.removing = False
        for _ in range(3):
            history.step()
        publish_all(config, store, NOW)
    finally:
        store.close()
    shutil.copyfile(database, backup)
    store = Store.open(str(database))
    try:
        history.store = store
        history.edit(3)  # no page, feed or newest item changes: the record would settle it
        assert publish_all(config, store, NOW).partial
        _, recorded = store.change_marker()
    finally:
        store.close()
    shutil.copyfile(backup, database)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    store = Store.open(str(database))
    try:
        history.store = store
        while store.change_marker()[1] <= recorded + 2:
            history.step()  # numbers the copy gives again, to other transactions
        report = publish_all(config, store, NOW)
        reference = tmp_path / "whole"
        whole(config, store, reference)
    finally:
        store.close()
    assert not report.partial
    assert files(config.output_dir) == files(reference)
