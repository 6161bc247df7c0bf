"""A Feed and the Site in, the UTF-8 HTML5 page ``<slug>.html`` out, listing every item of the feed.

Each item sits in an element whose id is its anchor, so the links that archive items get
(``<base_url><slug>.html#<anchor>``) land on it.  The page is rendered with jinja2 with
autoescaping on: titles and other text are escaped, only the (already sanitized) summary
HTML is inserted as markup.  No clock, no locale: the same feed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import jinja2

from coopfeed.publish.feeds import (
    ATOM_TYPE,
    JSON_TYPE,
    RSS_TYPE,
    feed_title,
    feed_url,
    link_uri,
)
from coopfeed.types import Feed, Item, Site

_MONTHS = (
    "January February March April May June July August September October November December"
).split()

environment = jinja2.Environment(
    loader=jinja2.PackageLoader("coopfeed.publish", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the template shows of one item, every value already a string."""

    anchor: str
    title: str
    href: str | None
    datetime: str
    date: str
    authors: str
    summary: str


def page_items(feed: Feed, site: Site) -> list[Item]:
    """The items a feed's HTML page shows, newest first: the newest ``items_per_feed``
    (as its RSS and Atom documents), and every item whose link is an anchor on this
    page (archive items link to their entry here), so those links keep working
    however old the item.  A page of every item would grow without bound."""
    here = anchor_prefix(site, feed.slug)
    return [
        item
        for number, item in enumerate(feed.items)
        if number < site.items_per_feed or (item.link or "").startswith(here)
    ]


def anchored(items: Iterable[Item], site: Site, slug: str) -> list[Item]:
    """Those of ``items`` whose link is an anchor on the HTML page of the feed ``slug``
    (items without a link of their own link to their entry there), in their order."""
    here = anchor_prefix(site, slug)
    return [item for item in items if (item.link or "").startswith(here)]


def anchor_prefix(site: Site, slug: str) -> str:
    """What the link of an item that links to its entry on the feed's HTML page starts
    with (items without a link of their own: see :func:`page_items`)."""
    return feed_url(site, slug, "html") + "#"


def render_html(feed: Feed, site: Site) -> bytes:
    """The HTML page of ``feed`` (see :func:`page_items`), with feed autodiscovery."""
    template = environment.get_template("category.html")
    page = template.render(
        language=site.language or "en",
        title=feed_title(feed, site),
        description=site.description,
        html_url=feed_url(site, feed.slug, "html"),
        rss_url=feed_url(site, feed.slug, "rss"),
        atom_url=feed_url(site, feed.slug, "atom"),
        json_url=feed_url(site, feed.slug, "json"),
        rss_type=RSS_TYPE,
        atom_type=ATOM_TYPE,
        json_type=JSON_TYPE,
        entries=[_entry(item) for item in page_items(feed, site)],
    )
    return page.encode("utf-8")


def _entry(item: Item) -> _Entry:
    published = item.published.astimezone(UTC)
    return _Entry(
        anchor=item.anchor,
        title=item.title,
        href=_safe_href(item.link),
        datetime=html_datetime(published),
        date=human_date(published),
        authors=", ".join(item.authors),
        summary=item.summary,
    )


def html_datetime(moment: datetime) -> str:
    """A valid HTML global date and time string in UTC (no fraction digits)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_date(moment: datetime) -> str:
    """The UTC date as people read it, "1 March 2024": English, whatever the locale."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _safe_href(link: str | None) -> str | None:
    """The link when it is http(s); a javascript: or data: link would run on this site."""
    if link and link.lower().startswith(("http://", "https://")):
        return link_uri(link)
    return None
