"""A publish of what changed since the last one: the views of every feed (see
:mod:`.record`) from the last publish's record and the items that changed, without
reading every stored item.

The store tells which items changed since the record's change sequence (new, edited,
removed or restored).  An item's feeds before are those whose record or full archive
pages list it; its feeds now are what ``build`` makes of it.  A feed that neither lists
nor shows a changed item is left as it is: its files, count and dates are the record's.
Of every other feed this loads what its files can show that the record does not settle:
its items on no full page, its newest, those anchored on its HTML page, and the full
pages that list a changed item, and pages them as a whole publish would.

Whatever the record cannot settle returns None, for a whole publish: a feed that
appears or disappears, a category shown under a slug that the record does not name
(its title could change), a slug under more than one name, a newest item that left its
feed or changed its date, full pages that another node recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from coopfeed.publish.archive import Pages, newest_first, paginate
from coopfeed.publish.html import anchored, page_items
from coopfeed.publish.record import FeedRecord, Record, View, feed_record
from coopfeed.types import Feed, Item, Site

#: ``build``: items -> their feeds (each with its items shown in it) and the category
#: names shown under each slug (see ``coopfeed.pipeline.build_feeds``).
Build = Callable[[Sequence[Item]], tuple[list[Feed], Mapping[str, Collection[str]]]]


class Loader(Protocol):
    """Items by guid, as the store publishes them (removed ones left out)."""

    def __call__(self, guids: Collection[str]) -> Sequence[Item]: ...


def views_since(
    record: Record,
    changed: Collection[str],
    full_pages: Mapping[str, Pages],
    load: Loader,
    build: Build,
    site: Site,
) -> list[View] | None:
    """Every feed's view after the items ``changed`` since ``record`` changed, or None
    when a whole publish is needed (see the module's docstring)."""
    recorded = {feed.slug: feed for feed in record.feeds}
    if any(len(full_pages.get(slug, {})) != len(feed.pages) for slug, feed in recorded.items()):
        return None  # pages sealed (or lost) since: not by a publish into this folder
    changed = set(changed)
    touched_pages: dict[str, set[int]] = {}
    for slug, was in recorded.items():
        numbers = {
            n for n, guids in full_pages.get(slug, {}).items() if not changed.isdisjoint(guids)
        }
        if numbers or not changed.isdisjoint(was.open):
            touched_pages[slug] = numbers
    now_in, _ = build(load(changed))
    for shows in now_in:
        if shows.slug not in recorded:
            return None  # a new feed: the index and every feed's order change
        touched_pages.setdefault(shows.slug, set())
    wanted = set(changed)
    for slug in touched_pages:
        was = recorded[slug]
        wanted.update(was.open, was.anchored, (guid for guid, _ in was.top))
        for number in touched_pages[slug]:
            wanted.update(full_pages[slug][number])
    feeds, names = build(load(wanted))
    shown = {feed.slug: feed for feed in feeds}
    views = []
    for feed in record.feeds:
        if feed.slug not in touched_pages:
            views.append(_as_it_was(feed))
            continue
        items = shown[feed.slug].items if feed.slug in shown else ()
        if len(feed.names) > 1 or not set(names.get(feed.slug, ())) <= set(feed.names):
            return None  # the feed's title could change with what is stored under it
        full = full_pages.get(feed.slug, {})
        view = _view(feed, items, changed, full, touched_pages[feed.slug], site)
        if view is None:
            return None
        views.append(view)
    return views


def _as_it_was(feed: FeedRecord) -> View:
    return View(Feed(feed.slug, feed.title, ()), None, frozenset(), (), feed)


def _view(
    feed: FeedRecord,
    items: Sequence[Item],
    changed: Collection[str],
    full: Pages,
    touched: Collection[int],
    site: Site,
) -> View | None:
    """The view of a feed that shows or showed a changed item; ``items`` are those of
    its items loaded, ``touched`` its full pages that list a changed item (see the
    module's docstring)."""
    by_guid = {item.guid: item for item in items}
    for guid, published in feed.top:
        item = by_guid.get(guid)
        if item is None or item.published != published:
            return None  # the item that follows the newest ones is not known
    # The newest items now are among those that were and those that changed: every
    # other item was older than the last of those that were, and still is.
    was_top = {guid for guid, _ in feed.top}
    top = newest_first(item for item in items if item.guid in changed or item.guid in was_top)
    top = top[: site.items_per_feed]
    on_page = anchored(items, site, feed.slug)
    latest: dict[int, datetime | None] = {
        number: note.latest for number, note in enumerate(feed.pages, 1) if number not in touched
    }
    whole = Feed(feed.slug, feed.title, tuple(items))
    paging = paginate(whole, site.items_per_feed, full, latest)
    exact = frozenset(touched) | frozenset(range(len(full) + 1, len(paging.archives) + 1))
    html = page_items(Feed(feed.slug, feed.title, tuple(newest_first({*top, *on_page}))), site)
    record = feed_record(whole, feed.names, paging, top, on_page, exact, feed.pages)
    if not record.count:
        return None  # the feed is gone: its files go, and the index changes
    return View(whole, paging, exact, tuple(html), record)
