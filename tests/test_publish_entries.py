"""An item's RSS and Atom entries are written once a publish, though its categories'
feeds and ``all`` all show it: the documents are the bytes their renderers write alone,
and the summaries of an archived item are asked of the store once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coopfeed.publish import publish
from coopfeed.publish.archive import paginate
from coopfeed.publish.feeds import render_atom, render_rss
from coopfeed.publish.jsonfeed import render_json
from coopfeed.types import Feed, Item, Site
from coopfeed.workers import Workers

SITE = Site(
    title="Cooperative news",
    description="",
    base_url="http://127.0.0.1:8080/",
    author="",
    items_per_feed=4,
)
CATEGORIES = ("Energy", "Housing", "Retail")


def _items(count: int) -> list[Item]:
    """Items in one to three categories, newest first."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Item(
            guid=f"tag:example.org,2026:{n}",
            title=f"Story {n} <b>&</b>",
            published=start + timedelta(hours=count - n),
            updated=start + timedelta(hours=count - n, minutes=n % 3),
            link=f"https://example.org/{n}" if n % 5 else None,
            summary=f"<p>Summary {n} é</p>" if n % 7 else "",
            categories=tuple(CATEGORIES[(n + k) % 3] for k in range(1 + n % 3)),
            authors=("Ada",) if n % 2 else (),
        )
        for n in range(count)
    ]


def _feeds(items: Sequence[Item]) -> list[Feed]:
    """A feed per category, then ``all``, as build_feeds makes them (one object per item)."""
    feeds = [
        Feed(name.lower(), name, tuple(item for item in items if name in item.categories))
        for name in CATEGORIES
    ]
    return [*feeds, Feed("all", "Everything", tuple(items))]


@dataclass
class _Summaries:
    """What a store tells a publish (see coopfeed.publish.Stored), its items handed over
    without their summaries; counts the summaries asked for."""

    whole: Mapping[str, Item]
    asked: Counter[str] = field(default_factory=Counter)

    @property
    def digests(self) -> Mapping[str, int]:
        return {guid: hash(item) for guid, item in self.whole.items()}

    @property
    def complete(self) -> bool:
        return False

    def summaries(self, guids: Sequence[str]) -> Mapping[str, str]:
        self.asked.update(guids)
        return {guid: self.whole[guid].summary for guid in guids}


def _expected(feeds: Sequence[Feed]) -> dict[str, bytes]:
    """Every feed document as its renderer writes it alone, from whole items."""
    files = {}
    for feed in feeds:
        paging = paginate(feed, SITE.items_per_feed, {})
        head = replace(feed, items=())
        for page in paging.archives:
            files[f"{page.stem}.rss"] = render_rss(head, SITE, page)
            files[f"{page.stem}.atom"] = render_atom(head, SITE, page)
        files[f"{feed.slug}.rss"] = render_rss(head, SITE, paging.current)
        files[f"{feed.slug}.atom"] = render_atom(head, SITE, paging.current)
        files[f"{feed.slug}.json"] = render_json(head, SITE, paging.current)
    return files


@pytest.mark.parametrize("processes", [0, 2])
def test_each_document_is_what_its_renderer_writes_alone(tmp_path: Path, processes: int) -> None:
    items = _items(150)
    whole = _feeds(items)
    stored = _Summaries({item.guid: item for item in items})
    slim = _feeds([replace(item, summary="") for item in items])
    with Workers(processes) as workers:
        report = publish(slim, SITE, tmp_path, workers=workers, stored=stored)
        assert workers.started == bool(processes)
    expected = _expected(whole)
    assert set(expected) <= set(report.written)
    # Each feed's files in an order that keeps every link resolving: its HTML page, its
    # archive pages oldest first, its current documents.
    for feed in whole:
        mine = [name for name in report.written if name.split(".")[0] == feed.slug]
        pages = len(paginate(feed, SITE.items_per_feed, {}).archives)
        archives = [
            f"{feed.slug}.archive-{n}.{ext}" for n in range(1, pages + 1) for ext in ("rss", "atom")
        ]
        current = [f"{feed.slug}.{ext}" for ext in ("rss", "atom", "json")]
        assert mine == [f"{feed.slug}.html", *archives, *current]
    for name, data in expected.items():
        assert (tmp_path / name).read_bytes() == data, name
    # Each item is in 2 to 4 feeds.  Its summary is asked for to write its entries, and
    # for the HTML page and the current documents (JSON Feed) that show the newest.
    on_pages = {item.guid for feed in slim for item in feed.items[: SITE.items_per_feed]}
    archived_only = [item.guid for item in items if item.guid not in on_pages]
    assert len(archived_only) > 100
    # Once each, with workers too: a page that shows items whose entries a job shortly
    # before writes waits until they are back (the plan is the same whatever the timing).
    assert [stored.asked[guid] for guid in archived_only] == [1] * len(archived_only)


def test_an_entry_xml_forbids_fails_the_publish_as_the_renderer_does(tmp_path: Path) -> None:
    """Its page is left to feedgen, which needs every item whole, and refuses it: also
    when the page's other items came without summaries, their entries written."""
    items = _items(40)
    bad = replace(items[35], guid="tag:example.org,2026:bad", title="Story \x01")
    everything = Feed("all", "Everything", tuple(items))
    energy = Feed("energy", "Energy", (*items[20:30], bad))  # only here: written here
    stored = _Summaries({item.guid: item for item in [*items, bad]})
    head = replace(energy, items=())
    page = paginate(energy, SITE.items_per_feed, {}).archives[0]
    assert bad in page.items and len(page.items) == 4  # with three that "all" shows
    with pytest.raises(ValueError) as alone:
        render_rss(head, SITE, page)
    with pytest.raises(ValueError) as published:
        publish([energy, everything], SITE, tmp_path, stored=stored)
    assert str(published.value) == str(alone.value)


def test_a_document_left_to_feedgen_takes_no_entries() -> None:
    """Written entries are for documents the fast writer writes: handing them to one
    that feedgen renders (an item without a title) is a caller's bug, not ignored."""
    items = [replace(item, title="") if n == 1 else item for n, item in enumerate(_items(3))]
    news = Feed("news", "News", tuple(items))
    document = paginate(news, SITE.items_per_feed, {}).current
    with pytest.raises(ValueError, match="left to feedgen"):
        render_rss(news, SITE, document, entries=b"")
