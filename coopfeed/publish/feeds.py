"""A Feed and the Site in, RSS 2.0 or Atom 1.0 bytes out (with feedgen), the same bytes every time.

Every date in the output comes from the items (never from the clock).  Without a
:class:`~coopfeed.publish.archive.Document`, items keep the order the caller gives (newest
first) and only the newest ``site.items_per_feed`` are included; with one, the document's
items and its RFC 5005 links (``prev-archive``, ``next-archive``, ``current``,
``fh:archive``) are written.  The rules the output follows are DESIGN section 6 and the W3C
Feed Validation Service's errors; ``tests/feedcheck.py`` checks them offline.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from feedgen.feed import FeedGenerator
from lxml import etree

from coopfeed.publish.archive import Document
from coopfeed.types import Feed, Item, Site

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
RSS, ATOM, JSON = "rss", "atom", "json"  # the file extensions of the feed formats
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
JSON_TYPE = "application/feed+json"
GENERATOR = "coopfeed"
GENERATOR_URI = "https://github.com/coopfeed/coopfeed"

# The `updated` of a feed without items: fixed, so that an empty feed is deterministic too.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

# Atom ids must be URIs; an RSS guid need not be one ("12345", "post 7", a URL with spaces).
# A guid that would not pass the W3C validator as an Atom id gets a name-based UUID in this
# namespace instead.  NEVER change the namespace or the rules below: readers key entries on
# the id, and a changed id is a new entry to them.
ATOM_ID_NAMESPACE = uuid.UUID("92f922be-0443-554c-8973-405802d12e54")
# The W3C Feed Validation Service's patterns (validators.py: rfc2396_full, tag_re, urn_re).
_URI_CHARS = r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]"
_HTTP_URI = re.compile(rf"[Hh][Tt][Tt][Pp][Ss]?://(?!/){_URI_CHARS}+")
_TAG_URI = re.compile(
    r"tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:"
    r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*)?"
)
_URN = re.compile(
    r"[Uu][Rr][Nn]:[a-zA-Z0-9][a-zA-Z0-9-]{1,31}:([a-zA-Z0-9()+,.:=@;$_!*'\-]|%[0-9A-Fa-f]{2})+"
)


def feed_title(feed: Feed, site: Site) -> str:
    """The title of a feed and of its HTML page: the site's title, plus the category's."""
    return site.title if feed.slug == "all" else f"{site.title}: {feed.title}"


def feed_url(site: Site, slug: str, extension: str) -> str:
    """Where the published file ``<slug>.<extension>`` is served from."""
    return f"{site.base_url}{slug}.{extension}"


def feed_items(feed: Feed, site: Site) -> tuple[Item, ...]:
    """The items that RSS and Atom carry: the newest ``site.items_per_feed``."""
    return feed.items[: site.items_per_feed]


def feed_updated(items: Sequence[Item]) -> datetime:
    """The newest ``updated`` of ``items``: the feed's Atom updated and RSS lastBuildDate."""
    return max((_utc(item.updated) for item in items), default=EMPTY_FEED_UPDATED)


def atom_id(guid: str) -> str:
    """The Atom id of an item: its guid when that is a valid http(s), tag: or urn: URI,
    else ``urn:uuid:`` and a UUID derived from the guid alone (stable across runs)."""
    if is_http_uri(guid) or _TAG_URI.fullmatch(guid) or _URN.fullmatch(guid):
        return guid
    return f"urn:uuid:{uuid.uuid5(ATOM_ID_NAMESPACE, guid)}"


def is_http_uri(value: str) -> bool:
    """True when ``value`` is an absolute http(s) URI the W3C validator accepts."""
    return _HTTP_URI.fullmatch(value) is not None


#: What stays as it is in the path, query and fragment of a published link.
_URI_SAFE = "/;:@&=+$,!~*'()%-._?#"


def link_uri(link: str) -> str:
    """A link as a URI (RFC 3987 3.1): characters a URI cannot hold (non-ASCII, spaces,
    "|", "[" ...) percent-encoded as UTF-8, a non-ASCII host IDNA-encoded.  The stored
    link, which identity keys on, is never changed; only what the files say."""
    if is_http_uri(link):
        return link
    try:
        parts = urlsplit(link)
    except ValueError:
        return link
    try:
        netloc = parts.netloc if parts.netloc.isascii() else parts.netloc.encode("idna").decode()
    except UnicodeError:
        netloc = quote(parts.netloc, safe=":@")
    path, query, fragment = (quote(part, safe=_URI_SAFE) for part in parts[2:])
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def render_rss(feed: Feed, site: Site, document: Document | None = None) -> bytes:
    """RSS 2.0 for the newest items of ``feed`` (or ``document``), UTF-8, XML declaration.

    Authors go to ``dc:creator``: RSS ``<author>`` must be an email address.  Note that
    feedgen formats RFC 822 dates by switching the process-wide locale to C and back
    around each call, which is not thread-safe; publishing is single-threaded for now.
    """
    document = document or current_document(feed, site)
    fg = _generator(feed, site, document, RSS)
    fg.load_extension("dc", atom=False, rss=True)
    for item in document.items:
        fe = fg.add_entry(order="append")
        # isPermaLink="true" promises a URL; a "link" that is not one must not make it so.
        fe.guid(item.guid, permalink=item.guid_is_permalink and is_http_uri(item.guid))
        fe.title(item.title)
        if item.link:
            fe.link(href=link_uri(item.link))
        if item.summary:
            fe.description(item.summary)
        fe.published(_utc(item.published))
        fe.updated(_utc(item.updated))
        if item.authors:
            fe.dc.dc_creator(list(item.authors))
        for category in item.categories:
            fe.category(term=category)
    data: bytes = fg.rss_str(pretty=True)
    return data


def render_atom(feed: Feed, site: Site, document: Document | None = None) -> bytes:
    """Atom 1.0 for the newest items of ``feed`` (or ``document``), UTF-8, XML declaration.

    Every entry has an id, a title, updated and published, and a link or content; the
    summary is ``type="html"`` content of ``atom:summary``, or of ``atom:content`` when the
    item has no link.  An item with neither a link nor a summary carries its title as text
    content, so the entry stays valid.  Archive
    documents share the current document's feed id: they are parts of the same feed.
    """
    document = document or current_document(feed, site)
    fg = _generator(feed, site, document, ATOM)
    for item in document.items:
        fe = fg.add_entry(order="append")
        fe.id(atom_id(item.guid))
        fe.title(item.title)
        fe.updated(_utc(item.updated))
        fe.published(_utc(item.published))
        if item.link:
            # feedgen 1.0.0 writes entry links without rel/type attributes (it reads them
            # from the new element, not the dict): no rel means "alternate" in Atom.
            fe.link(href=link_uri(item.link), rel="alternate")
        if item.link and item.summary:
            fe.summary(item.summary, type="html")
        elif item.summary:  # an entry without an alternate link must have content
            fe.content(item.summary, type="html")
        elif not item.link:
            fe.content(item.title, type="text")
        if item.authors:
            fe.author([{"name": name} for name in item.authors])
        for category in item.categories:
            fe.category(term=category)
    data: bytes = fg.atom_str(pretty=True)
    return data


def current_document(feed: Feed, site: Site) -> Document:
    """The document of a feed without archives: its newest items, no RFC 5005 links."""
    return Document(feed.slug, feed_items(feed, site))


def document_updated(document: Document) -> datetime:
    """The date of a document: its newest item's ``updated`` (or the one it was given)."""
    if document.items or document.updated is None:
        return feed_updated(document.items)
    return _utc(document.updated)


def _generator(feed: Feed, site: Site, document: Document, extension: str) -> Any:
    """A FeedGenerator with the feed-level fields both formats share, every date set."""
    title = feed_title(feed, site)
    self_type = RSS_TYPE if extension == RSS else ATOM_TYPE
    self_url = feed_url(site, document.stem, extension)
    fg = FeedGenerator()
    fg.id(feed_url(site, feed.slug, extension))  # Atom: one id for the current and archives
    fg.title(title)
    fg.description(site.description or title)
    if site.language:
        fg.language(site.language)
    fg.author({"name": site.author or site.title})
    fg.generator(GENERATOR, uri=GENERATOR_URI)
    fg.updated(document_updated(document))  # also the RSS lastBuildDate; feedgen's is "now"
    # feedgen takes the RSS channel <link> from the LAST fg.link() call: alternate goes last.
    fg.link(href=self_url, rel="self", type=self_type)
    hub = site.hub if site.hub and not document.archive else ""  # subscribe to the current
    if hub and extension == ATOM:
        fg.link(href=hub, rel="hub")  # RSS gets it from _HeadLinks
    fg.link(href=feed_url(site, feed.slug, "html"), rel="alternate", type="text/html")
    links: list[tuple[str, str, str | None]] = []
    if hub and extension == RSS:
        links.append(("hub", hub, None))
    for rel, stem in (
        ("current", document.current),
        ("prev-archive", document.prev_archive),
        ("next-archive", document.next_archive),
    ):
        if stem:
            links.append((rel, feed_url(site, stem, extension), self_type))
    if links or document.archive:
        head = functools.partial(_HeadLinks, tuple(links), document.archive)
        fg.register_extension("coopfeed_head", head, None, atom=True, rss=True)
    return fg


def _utc(moment: datetime) -> datetime:
    """The same instant in UTC, so every date is written the same way (+0000, +00:00)."""
    if moment.tzinfo is None:  # astimezone() would silently take the machine's zone
        raise ValueError(f"Datetime object has no timezone info: {moment.isoformat()}")
    return moment.astimezone(UTC)


class _HeadLinks:
    """A feedgen extension for what feedgen cannot write itself: ``<atom:link>`` elements
    in the feed's head (the WebSub hub in RSS; RFC 5005 ``current``, ``prev-archive`` and
    ``next-archive`` in both formats) and RFC 5005's ``<fh:archive/>`` marker.

    They go before the items, where the validators expect feed-level metadata.
    """

    def __init__(self, links: tuple[tuple[str, str, str | None], ...], archive: bool) -> None:
        self.links = links  # (rel, href, type or None)
        self.archive = archive

    def extend_ns(self) -> dict[str, str]:
        # feedgen always declares the atom prefix in RSS; Atom's is the default namespace.
        return {"fh": HISTORY_NS} if self.archive else {}

    def extend_rss(self, rss: Any) -> Any:
        self._extend(rss[0], f"{{{ATOM_NS}}}link")
        return rss

    def extend_atom(self, feed: Any) -> Any:
        # feedgen builds Atom elements without a namespace and declares the default one
        # with an xmlns attribute: a plain "link" comes out as <link>, in the Atom namespace.
        self._extend(feed, "link" if feed.tag == "feed" else f"{{{ATOM_NS}}}link")
        return feed

    def _extend(self, head: Any, link_tag: str) -> None:
        for rel, href, kind in self.links:
            link = etree.SubElement(head, link_tag, href=href, rel=rel)
            if kind:
                link.set("type", kind)
        if self.archive:
            etree.SubElement(head, f"{{{HISTORY_NS}}}archive")
