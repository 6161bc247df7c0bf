"""The Feeds and the Site in, the UTF-8 HTML5 page ``index.html`` out: every feed, once.

The page lists the feed of everything first, then each category in the caller's order,
with its item count, the date of its newest item and links to its HTML page and its RSS,
Atom and JSON Feed documents; its ``<head>`` carries ``<link rel="alternate">``
autodiscovery for every feed document.  Rendered with jinja2, autoescaping on; no script,
no clock: the same feeds give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coopfeed.publish.feeds import (
    ATOM,
    ATOM_TYPE,
    JSON,
    JSON_TYPE,
    RSS,
    RSS_TYPE,
    feed_title,
    feed_url,
)
from coopfeed.publish.html import environment, html_datetime, human_date
from coopfeed.types import Feed, Site

ALL = "all"
OPML_NAME = "feeds.opml"


@dataclass(frozen=True, slots=True)
class Listed:
    """What the index page and the OPML list show of a feed: its item count and the
    newest ``published`` and ``updated`` of its items (None when it has none)."""

    slug: str
    title: str
    count: int
    newest: datetime | None
    latest: datetime | None

    @classmethod
    def of(cls, feed: Feed) -> Listed:
        newest = max((item.published for item in feed.items), default=None)
        latest = max((item.updated for item in feed.items), default=None)
        return cls(feed.slug, feed.title, len(feed.items), newest, latest)


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    type: str
    href: str


@dataclass(frozen=True, slots=True)
class _Row:
    """What the template shows of one feed, every value already a string."""

    label: str
    title: str
    html: str
    count: int
    datetime: str
    date: str
    formats: tuple[_Format, ...]


def render_index(feeds: Sequence[Feed], site: Site) -> bytes:
    """The index page of ``feeds`` (the ``all`` feed first), with feed autodiscovery."""
    return index_page([Listed.of(feed) for feed in feeds], site)


def index_page(feeds: Sequence[Listed], site: Site) -> bytes:
    """The index page of the feeds ``feeds`` list (see :func:`render_index`)."""
    ordered = [feed for feed in feeds if feed.slug == ALL]
    ordered += [feed for feed in feeds if feed.slug != ALL]
    template = environment.get_template("index.html")
    page = template.render(
        language=site.language or "en",
        title=site.title,
        description=site.description,
        index_url=f"{site.base_url}index.html",
        opml_url=f"{site.base_url}{OPML_NAME}",
        rows=[_row(feed, site) for feed in ordered],
    )
    return page.encode("utf-8")


def _row(feed: Listed, site: Site) -> _Row:
    newest = feed.newest
    return _Row(
        label="Everything" if feed.slug == ALL else feed.title,
        title=feed_title(Feed(feed.slug, feed.title, ()), site),
        html=feed_url(site, feed.slug, "html"),
        count=feed.count,
        datetime=html_datetime(newest) if newest else "",
        date=human_date(newest) if newest else "",
        formats=(
            _Format("RSS", RSS_TYPE, feed_url(site, feed.slug, RSS)),
            _Format("Atom", ATOM_TYPE, feed_url(site, feed.slug, ATOM)),
            _Format("JSON Feed", JSON_TYPE, feed_url(site, feed.slug, JSON)),
        ),
    )
