"""What a publish showed of each feed, kept so that the next one can publish only what
changed since (see :mod:`coopfeed.publish.changes`).

A publish works on :class:`View`\\ s, one a feed: the feed's documents and HTML page as
this publish shows them, and the :class:`FeedRecord` of the feed once it is published.
The record holds what the files of a feed depend on beyond the items that changed: its
title, the full archive pages (how many of the feed's items each shows and the newest
``updated`` among them), the guids of the items on no full page, its newest items (the
HTML page's and the index's) and the items that link to an anchor on its HTML page.
The :class:`Record` of a whole publish adds its :class:`Mark`: the store, the change
sequence it read up to and that transaction's token, and a digest of the configuration
it was made with.  It is saved in the render cache (``.coopfeed-render``) beside the
files; anything that does not match it sends the next publish the whole way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coopfeed.publish.archive import Document, Pages, Paging, paginate
from coopfeed.publish.html import anchored, page_items
from coopfeed.types import Feed, Item, Site


@dataclass(frozen=True, slots=True)
class PageNote:
    """A full archive page of a feed: how many of the feed's items it shows, and the
    newest ``updated`` among them (None when it shows none)."""

    count: int
    latest: datetime | None


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One feed as a publish left it (see the module's docstring).

    ``names`` are the categories shown under the slug (none for ``all``); ``top`` the
    newest ``items_per_feed`` items, newest first, with their dates; ``open`` the guids
    of the items on no full page; ``archives`` how many archive documents it has.
    """

    slug: str
    title: str
    names: tuple[str, ...]
    count: int
    latest: datetime | None
    pages: tuple[PageNote, ...]
    archives: int
    open: tuple[str, ...]
    top: tuple[tuple[str, datetime], ...]
    anchored: tuple[str, ...]

    @property
    def newest(self) -> datetime | None:
        """The newest ``published`` of the feed's items."""
        return self.top[0][1] if self.top else None


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a publish read the store: the store's id, the change sequence number it
    read up to and that transaction's token (see ``Store.change_token``), and a digest
    of the configuration and coopfeed's version."""

    store: str
    sequence: int
    token: str
    config: str


@dataclass(frozen=True, slots=True)
class Record:
    """A whole publish: where it read the store, and every feed in order."""

    mark: Mark
    feeds: tuple[FeedRecord, ...]

    def to_json(self) -> dict[str, Any]:
        mark = self.mark
        return {
            "store": mark.store,
            "sequence": mark.sequence,
            "token": mark.token,
            "config": mark.config,
            "feeds": [_feed_json(feed) for feed in self.feeds],
        }

    @classmethod
    def from_json(cls, data: object) -> Record | None:
        """The record ``to_json`` gave, or None for anything else (an older cache)."""
        if not isinstance(data, dict):
            return None
        try:
            feeds = tuple(_feed_from_json(feed) for feed in data["feeds"])
            fields = (str(data["store"]), int(data["sequence"]), str(data["token"]))
            return cls(Mark(*fields, str(data["config"])), feeds)
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class View:
    """What a publish shows of one feed.

    ``feed`` holds the items it loaded (all of them when it publishes the whole way);
    ``paging`` is None when nothing the feed shows changed (its files are left as they
    are), else its documents, of which ``exact`` are whole (None: all of them; the
    other full pages are left as they are); ``html`` the items of its HTML page.
    """

    feed: Feed
    paging: Paging | None
    exact: frozenset[int] | None
    html: tuple[Item, ...]
    record: FeedRecord

    def is_exact(self, page: int) -> bool:
        return self.exact is None or page in self.exact


def whole_views(
    feeds: Sequence[Feed],
    site: Site,
    full_pages: Mapping[str, Pages],
    names: Mapping[str, Collection[str]],
) -> list[View]:
    """The views of a publish of every item: ``feeds`` hold all of their items."""
    views = []
    for feed in feeds:
        paging = paginate(feed, site.items_per_feed, full_pages.get(feed.slug, {}))
        top = feed.items[: site.items_per_feed]
        html = tuple(page_items(feed, site))
        # Every item anchored on the page is on it: no need to go over the feed again.
        on_page = anchored(html, site, feed.slug)
        record = feed_record(feed, names.get(feed.slug, ()), paging, top, on_page)
        views.append(View(feed, paging, None, html, record))
    return views


def feed_record(
    feed: Feed,
    names: Collection[str],
    paging: Paging,
    top: Sequence[Item],
    anchored: Sequence[Item],
    exact: Collection[int] | None = None,
    known: Sequence[PageNote] = (),
) -> FeedRecord:
    """The record of ``feed`` once ``paging`` is published: full pages in ``exact``
    (None: all) are noted from their documents, the others are as ``known``."""
    full = len(paging.archives) - 1 if paging.archives else 0  # all but the open page
    pages = tuple(
        _note(paging.archives[n - 1]) if exact is None or n in exact else known[n - 1]
        for n in range(1, full + 1)
    )
    unsealed = [
        *paging.current.items,
        *(item for doc in paging.archives[full:] for item in doc.items),
    ]
    latest = max(
        [*(page.latest for page in pages if page.latest), *(item.updated for item in unsealed)],
        default=None,
    )
    return FeedRecord(
        slug=feed.slug,
        title=feed.title,
        names=tuple(sorted(names)),
        count=sum(page.count for page in pages) + len(unsealed),
        latest=latest,
        pages=pages,
        archives=len(paging.archives),
        open=tuple(item.guid for item in unsealed),
        top=tuple((item.guid, item.published) for item in top),
        anchored=tuple(item.guid for item in anchored),
    )


def _note(document: Document) -> PageNote:
    return PageNote(len(document.items), max((i.updated for i in document.items), default=None))


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("a recorded date without its zone")
    return moment


def _feed_json(feed: FeedRecord) -> dict[str, Any]:
    return {
        "slug": feed.slug,
        "title": feed.title,
        "names": list(feed.names),
        "count": feed.count,
        "latest": _when(feed.latest),
        "pages": [[page.count, _when(page.latest)] for page in feed.pages],
        "archives": feed.archives,
        "open": list(feed.open),
        "top": [[guid, _when(published)] for guid, published in feed.top],
        "anchored": list(feed.anchored),
    }


def _feed_from_json(data: Any) -> FeedRecord:
    top = tuple((str(guid), _moment(when)) for guid, when in data["top"])
    if any(when is None for _, when in top):
        raise ValueError("an item without its date")
    return FeedRecord(
        slug=str(data["slug"]),
        title=str(data["title"]),
        names=tuple(map(str, data["names"])),
        count=int(data["count"]),
        latest=_moment(data["latest"]),
        pages=tuple(PageNote(int(count), _moment(latest)) for count, latest in data["pages"]),
        archives=int(data["archives"]),
        open=tuple(map(str, data["open"])),
        top=top,  # type: ignore[arg-type]
        anchored=tuple(map(str, data["anchored"])),
    )
