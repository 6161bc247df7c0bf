"""A Feed and the Site in, JSON Feed 1.1 bytes (``<slug>.json``) out, the same bytes every time.

The document carries the same items as the RSS and Atom current documents, each with the
RSS guid as its ``id``, so a reader that switches formats sees the same items.  Dates are
RFC 3339 in UTC and come from the items; keys keep a fixed order.  With a WebSub hub
configured, the feed lists it under ``hubs``.  https://www.jsonfeed.org/version/1.1/
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from coopfeed.publish.archive import Document
from coopfeed.publish.feeds import JSON, current_document, feed_title, feed_url, link_uri
from coopfeed.types import Feed, Item, Site

VERSION = "https://jsonfeed.org/version/1.1"


def render_json(feed: Feed, site: Site, document: Document | None = None) -> bytes:
    """JSON Feed 1.1 for the newest items of ``feed`` (or for ``document``), UTF-8.

    Only current documents are written as JSON Feed: the format has no archive links
    (its ``next_url`` pages a feed, which is not RFC 5005's archiving), so it is omitted.
    """
    document = document or current_document(feed, site)
    data: dict[str, Any] = {
        "version": VERSION,
        "title": feed_title(feed, site),
        "home_page_url": feed_url(site, feed.slug, "html"),
        "feed_url": feed_url(site, document.stem, JSON),
        "description": site.description or feed_title(feed, site),
    }
    if site.language:
        data["language"] = site.language
    data["authors"] = [{"name": site.author or site.title}]
    if site.hub and not document.archive:
        data["hubs"] = [{"type": "WebSub", "url": site.hub}]
    data["items"] = [_item(item) for item in document.items]
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
    return (text + "\n").encode("utf-8")


def _item(item: Item) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": item.guid}
    if item.link:
        entry["url"] = link_uri(item.link)
    entry["title"] = item.title
    if item.summary:
        entry["content_html"] = item.summary
    else:  # one of content_html and content_text is required: the title, as Atom does
        entry["content_text"] = item.title
    entry["date_published"] = rfc3339(item.published)
    entry["date_modified"] = rfc3339(item.updated)
    if item.authors:
        entry["authors"] = [{"name": name} for name in item.authors]
    if item.categories:
        entry["tags"] = list(item.categories)
    return entry


def rfc3339(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC (``2024-03-01T09:30:00+00:00``), as Atom writes it."""
    if moment.tzinfo is None:
        raise ValueError(f"Datetime object has no timezone info: {moment.isoformat()}")
    return moment.astimezone(UTC).isoformat()
