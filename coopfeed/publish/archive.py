"""A Feed, the page size and the pages already full in, RFC 5005 (section 4) documents out.

An archived feed is one *current* document with the newest items and numbered *archive*
documents with the older ones (page 1 holds the oldest).  A subscriber who walks back
from the current document along ``prev-archive`` links meets every item exactly once.

The promise to subscribers is that a full archive document never changes, so page
membership is sticky and this module is told, by ``full_pages``, which items earlier
publishes sealed into which page (the caller stores what :attr:`Paging.sealed` reports):

1. Items of a full page stay in it; guids no longer present (items the operator removed)
   are dropped, the only way a full page changes.
2. Every other item is ordered newest first (published descending, then guid): the newest
   ``per_page`` make the current document, the rest fill pages of ``per_page`` items,
   oldest first, after the last full page.
3. Every such page except the newest is sealed: it is full and has a successor.  The
   newest archive page stays open, even when it holds ``per_page`` items, because sealing
   it would mean adding its ``next-archive`` link later, and a sealed page's bytes never
   change; it is sealed by the publish that starts the page after it.

So an item that arrives late with an old date lands in the current document or the open
page, never in a full one; and for a fresh store (nothing full yet) the current document
holds exactly the newest ``per_page`` items.  Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from types import MappingProxyType

from coopfeed.types import Feed, Item

#: ``full_pages`` and ``Paging.sealed``: page number -> guids of its items, oldest first.
Pages = Mapping[int, tuple[str, ...]]
_NOTHING_KNOWN: Mapping[int, datetime | None] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Document:
    """One feed document (RSS, Atom or JSON Feed): its file stem, items and RFC 5005 links.

    The stems (``"news"``, ``"news.archive-2"``) name files without their extension: a
    link points to the document of the same format.  ``items`` are newest first.
    ``updated`` overrides the document's date when it has no items of its own.
    """

    stem: str
    items: tuple[Item, ...]
    archive: bool = False
    current: str | None = None
    prev_archive: str | None = None
    next_archive: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Paging:
    """The documents of one feed, and the pages this paging sealed (to be stored)."""

    current: Document
    archives: tuple[Document, ...]  # page 1 (the oldest) first
    sealed: dict[int, tuple[str, ...]]


def archive_stem(slug: str, page: int) -> str:
    """The file stem of archive page ``page`` of the feed ``slug``: ``news.archive-2``."""
    return f"{slug}.archive-{page}"


def paginate(
    feed: Feed,
    per_page: int,
    full_pages: Pages,
    latest: Mapping[int, datetime | None] = _NOTHING_KNOWN,
) -> Paging:
    """Split ``feed`` into its current document and archive pages (the rules above).

    ``full_pages`` must be numbered 1, 2, ... without gaps, as :attr:`Paging.sealed`
    reported them; anything else is a caller's bug (``ValueError``).  ``latest`` gives
    the newest ``updated`` of full pages whose items ``feed`` does not hold (a publish
    of what changed loads only some pages): an empty page is dated by the pages before
    it.
    """
    if per_page < 1:
        raise ValueError(f"items_per_feed must be at least 1, not {per_page}")
    if sorted(full_pages) != list(range(1, len(full_pages) + 1)):
        raise ValueError(f"full pages of {feed.slug!r} are not numbered 1..n: {sorted(full_pages)}")
    by_guid = {item.guid: item for item in feed.items}
    full: list[list[Item]] = []
    for number in range(1, len(full_pages) + 1):
        page = [by_guid.pop(guid) for guid in full_pages[number] if guid in by_guid]
        full.append(page)
    rest = newest_first(by_guid.values())
    current, older = rest[:per_page], rest[per_page:][::-1]
    new_pages = [older[start : start + per_page] for start in range(0, len(older), per_page)]
    if full and not new_pages:
        # Only after removals: the last full page links to a next page, which must exist.
        new_pages = [[]]
    sealed = {
        len(full) + n: tuple(item.guid for item in page) for n, page in enumerate(new_pages[:-1], 1)
    }
    pages = full + new_pages
    archives = []
    before: datetime | None = None  # the newest ``updated`` of the pages so far
    for number, page in enumerate(pages, 1):
        archives.append(_archive(feed.slug, page, number, len(pages), before))
        newest = latest[number] if number in latest else max(_updated(page), default=None)
        if newest is not None and (before is None or newest > before):
            before = newest
    return Paging(
        current=Document(
            feed.slug,
            tuple(current),
            prev_archive=archive_stem(feed.slug, len(pages)) if pages else None,
        ),
        archives=tuple(archives),
        sealed=sealed,
    )


def newest_first(items: Iterable[Item]) -> list[Item]:
    """``items`` by published date, newest first; on equal dates by guid (as the store)."""
    return sorted(sorted(items, key=_GUID), key=_PUBLISHED, reverse=True)


def _archive(
    slug: str, page: list[Item], number: int, count: int, before: datetime | None
) -> Document:
    """Archive page ``number`` of ``count``; ``before``: the newest ``updated`` of the
    pages before it, which dates it when it is empty (after removals)."""
    items = newest_first(page)
    return Document(
        archive_stem(slug, number),
        tuple(items),
        archive=True,
        current=slug,
        prev_archive=archive_stem(slug, number - 1) if number > 1 else None,
        next_archive=archive_stem(slug, number + 1) if number < count else None,
        updated=None if items else before,
    )


_GUID, _PUBLISHED = attrgetter("guid"), attrgetter("published")


def _updated(items: Iterable[Item]) -> Iterator[datetime]:
    return (item.updated for item in items)
