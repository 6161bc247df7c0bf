"""The Feeds and the Site in, an OPML 2.0 subscription list (``feeds.opml``) out.

One ``<outline type="rss">`` per published feed, the feed of everything first, then the
categories in the caller's order: ``xmlUrl`` is the feed's RSS document (OPML's ``type``
names RSS, and every reader takes RSS), ``htmlUrl`` its HTML page.  The Atom and JSON Feed
documents of a feed carry the same items, so they are not listed again.  ``dateModified``
is the newest item's ``updated`` (no clock; omitted when there are no items) and there is
no ``dateCreated``, which nothing in the store could say honestly.  Deterministic.
http://opml.org/spec2.opml
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from coopfeed.publish.feeds import RSS, feed_title, feed_url
from coopfeed.publish.index import Listed
from coopfeed.types import Feed, Site

ALL = "all"


def render_opml(feeds: Sequence[Feed], site: Site) -> bytes:
    """OPML 2.0 listing ``feeds`` (for ``feeds.opml`` and ``coopfeed opml export``), UTF-8."""
    return opml_list([Listed.of(feed) for feed in feeds], site)


def opml_list(feeds: Sequence[Listed], site: Site) -> bytes:
    """The OPML list of the feeds ``feeds`` list (see :func:`render_opml`)."""
    ordered = [feed for feed in feeds if feed.slug == ALL]
    ordered += [feed for feed in feeds if feed.slug != ALL]
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = site.title
    newest = max((feed.latest for feed in feeds if feed.latest is not None), default=None)
    if newest is not None:
        etree.SubElement(head, "dateModified").text = rfc822(newest)
    if site.author:
        etree.SubElement(head, "ownerName").text = site.author
    body = etree.SubElement(root, "body")
    for feed in ordered:
        title = feed_title(Feed(feed.slug, feed.title, ()), site)
        etree.SubElement(
            body,
            "outline",
            type="rss",
            text=title,
            title=title,
            xmlUrl=feed_url(site, feed.slug, RSS),
            htmlUrl=feed_url(site, feed.slug, "html"),
        )
    if not ordered:  # OPML 2.0: a body holds at least one outline
        etree.SubElement(body, "outline", text="No feeds published yet")
    data: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    return data


def rfc822(moment: datetime) -> str:
    """An RFC 822 date in UTC with a numeric zone ("Fri, 01 Mar 2024 09:30:00 +0000")."""
    if moment.tzinfo is None:
        raise ValueError(f"Datetime object has no timezone info: {moment.isoformat()}")
    return format_datetime(moment.astimezone(UTC))  # English names whatever the locale
