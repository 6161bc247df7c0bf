"""The fast path of ``parse_feed``: a feed document's cleaned UTF-8 bytes go in; what
feedparser would make of them comes out (version, feed-level values, entries as plain
dicts), or None when the document is outside the subset read here.

lxml parses the document in a fraction of feedparser's time; the handlers below
then do, element by element, what feedparser 6.0.14's handlers do in strict mode
(``feedparser.mixin`` and ``feedparser.namespaces._base``), for the keys of an entry
that ``feed._raw_item`` reads, and reuse feedparser's own functions where its output
is decided (dates, ``looks_like_html``, URI fix-ups, the cp1252 mapping).  The subset:

- a well-formed document (lxml's error means None) without DOCTYPE, processing
  instructions (the XML declaration aside), xml:base other than on the root element,
  or namespace declarations that change how feedparser names things;
- ``<rss version="2.x">`` with one ``<channel>`` of known leaf elements (``<image>``,
  ``<skipHours>``, ``<skipDays>`` with theirs) and ``<item>``s; or an Atom 1.0
  ``<feed>`` of known elements and ``<entry>``s;
- items and entries of whitelisted elements only, each a leaf (Atom ``<author>``
  aside), with whitelisted attributes.  An RSS item may hold title, link, description,
  guid, pubDate, author, category, comments, enclosure, dc:creator, dc:date,
  dc:subject, atom:published, atom:updated, content:encoded, wfw:commentRss and
  slash:comments; an Atom entry title, link (with href), id, published, updated,
  summary, content and category, text or html (no xhtml, no src), and author of
  name, email and uri.

Anything else returns None, and feedparser reads the document: a fallback costs time,
a difference would be a bug.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

__all__ = ["read_feed"]

ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"
_WFW = "{http://wellformedweb.org/commentAPI/}"
_SLASH = "{http://purl.org/rss/1.0/modules/slash/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_A_AUTHOR = ATOM + "author"
_A_LINK = ATOM + "link"
_A_CATEGORY = ATOM + "category"
_A_ID = ATOM + "id"
_A_PUBLISHED = ATOM + "published"
_A_UPDATED = ATOM + "updated"
_A_TITLE = ATOM + "title"
_A_SUMMARY = ATOM + "summary"
_A_CONTENT = ATOM + "content"
_A_ENTRY = ATOM + "entry"
_A_FEED = ATOM + "feed"
_A_NAME = ATOM + "name"
_A_EMAIL = ATOM + "email"
_A_URI = ATOM + "uri"
_CONTENT_ENCODED = _CONTENT + "encoded"
_DC_DATE = _DC + "date"
_DC_CREATOR = _DC + "creator"
_DC_SUBJECT = _DC + "subject"

#: feedparser replaces the first thing that looks like this with its own declaration.
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?>")
#: A namespace declaration (and, now and then, text that looks like one).
_XMLNS = re.compile(rb"xmlns[^=>]{0,100}=\s*(?:\"([^\"]*)\"|'([^']*)')")
#: Namespaces whose mere declaration changes feedparser's version guess (RSS 1.0 and
#: 0.90) or adds attributes to the next element (XLink).
_ODD_NAMESPACES = {
    b"http://purl.org/rss/1.0/",
    b"http://my.netscape.com/rdf/simple/0.9/",
    b"http://www.w3.org/1999/xlink",
}
#: What feedparser's ``pop`` does to a <link>'s text in an entry.
_AMPERSAND_NAME = re.compile("&([A-Za-z0-9_]+);")
#: Characters feedparser maps to cp1252's (``feedparser.html._cp1252``), and those
#: that a UTF-8 continuation byte read as Latin-1 gives.
_C1 = re.compile("[\x80-\x9f]")
_CONTINUATION = re.compile("[\x80-\xbf]")
#: feedparser's ``_sync_author_detail`` pattern for an email address in an author.
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_looks_like_html = _FeedParserMixin.looks_like_html
_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: Atom text constructs: the type attribute's values read here, as feedparser maps them.
_ATOM_TYPES = {None: "text/plain", "text": "text/plain", "html": "text/html"}

_RSS_LEAVES = {
    "title",
    "link",
    "description",
    "language",
    "copyright",
    "managingEditor",
    "webMaster",
    "pubDate",
    "lastBuildDate",
    "category",
    "generator",
    "docs",
    "cloud",
    "rating",
    ATOM + "link",
    _SY + "updateBase",
    _DC + "creator",
    _DC + "date",
    _DC + "language",
    _DC + "rights",
    _DC + "publisher",
}
_RSS_DATES = {"pubDate", "lastBuildDate", _DC + "date"}
#: Channel-level values the refresh hint reads, under feedparser's names.
_RSS_HINTS = {"ttl": "ttl", _SY + "updatePeriod": "sy_updateperiod"}
_RSS_HINTS[_SY + "updateFrequency"] = "sy_updatefrequency"
_RSS_CONTAINERS = {
    "image": {"title", "url", "link", "width", "height", "description"},
    "skipHours": {"hour"},
    "skipDays": {"day"},
}
_ATOM_LEAVES = {
    ATOM + name for name in ("title", "subtitle", "link", "id", "updated", "generator")
} | {ATOM + name for name in ("icon", "logo", "rights", "category")}
_ATOM_PERSON = {_A_NAME, _A_EMAIL, _A_URI}

#: Attributes an item's or entry's element may carry (feedparser lowercases attribute
#: names and rel/type values; those spelled otherwise are left to it).
_RSS_ITEM_ATTRIBUTES = {
    "guid": {"isPermaLink"},
    "category": {"domain"},
    "enclosure": {"url", "length", "type"},
}
_ATOM_LINK_ATTRIBUTES = {"href", "rel", "type", "hreflang", "title", "length"}

_local = threading.local()


def _parser() -> Any:
    parser = getattr(_local, "parser", None)
    if parser is None:  # one per thread: an lxml parser is not to be shared
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


def read_feed(data: bytes, base: str = "") -> dict[str, Any] | None:
    """What feedparser would return for ``data`` (the bytes ``feed._clean`` made:
    UTF-8 without BOM), as far as ``parse_feed`` reads it: ``version``, ``bozo``,
    ``feed`` (the refresh hint's values) and ``entries``; None outside the subset.
    ``base`` is the Content-Location feedparser is given (empty for none)."""
    declaration = _XML_DECLARATION.match(data)
    if declaration:
        data = data[declaration.end() :]
    if b"<?" in data or b"<!DOCTYPE" in data or _odd_namespace(data):
        return None
    try:
        root = etree.fromstring(data, _parser())
    except (etree.LxmlError, ValueError):
        return None
    inside = _base_in(base, root.get(_XML_BASE))
    if inside is None:
        return None
    if root.tag == "rss":
        return _rss(root, inside)
    if root.tag == _A_FEED:
        return _atom(root, inside)
    return None


def _odd_namespace(data: bytes) -> bool:
    for match in _XMLNS.finditer(data):
        uri = (match[1] if match[1] is not None else match[2]).strip().lower()
        if uri in _ODD_NAMESPACES or b"&" in uri:
            return True
    return False


def _base_in(base: str, given: str | None) -> str | None:
    """The base URI feedparser resolves against inside the root element (whose
    xml:base is ``given``), or None if it would not stay the same in every element
    below (an xml:base elsewhere is left to feedparser)."""
    base = _next_base(base, given)
    return base if _next_base(base, None) == base else None


def _next_base(base: str, given: str | None) -> str:
    """feedparser's ``unknown_starttag``: the base inside an element."""
    given = given or base
    if base:
        return make_safe_absolute_uri(base, given) or base
    return str(_urljoin(base, given))


# -- what feedparser's pop() does to a text ------------------------------------------


def _fixed(text: str) -> str:
    """feedparser's last steps on an element's text: UTF-8 read as Latin-1 is undone,
    and U+0080 to U+009F become the cp1252 characters.  Neither changes a text
    without a character from U+0080 to U+00BF (UTF-8 has no sequence without one)."""
    if text.isascii() or not _CONTINUATION.search(text):
        return text
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except UnicodeError:
        pass
    return text.translate(_cp1252) if _C1.search(text) else text


def _uri(text: str, base: str) -> str:
    """The text of an element feedparser takes for a URI, as it gives it."""
    return _fixed(_urljoin(base, text) if text else text)


# -- RSS 2.0 -------------------------------------------------------------------------


def _rss(root: Any, base: str) -> dict[str, Any] | None:
    if set(root.keys()) - {_XML_BASE} != {"version"}:
        return None
    if not root.get("version").startswith("2."):
        return None
    channels = list(root)
    if len(channels) != 1 or channels[0].tag != "channel" or channels[0].keys():
        return None
    feed: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    for child in channels[0]:
        tag = child.tag
        if tag == "item":
            entry = _rss_item(child, base)
            if entry is None:
                return None
            entries.append(entry)
        elif tag in _RSS_LEAVES:
            if len(child) or _has_base(child):
                return None
            if tag in _RSS_DATES:  # parsed, as feedparser does, in case that raises
                _parse_date(_fixed((child.text or "").strip()))
        elif tag in _RSS_HINTS:
            if len(child) or child.keys():
                return None
            feed[_RSS_HINTS[tag]] = _fixed((child.text or "").strip())
        elif tag in _RSS_CONTAINERS:
            if child.keys() or not _leaves(child, _RSS_CONTAINERS[tag]):
                return None
        else:
            return None
    return {"version": "rss20", "bozo": False, "feed": feed, "entries": entries}


def _leaves(element: Any, tags: set[str]) -> bool:
    """Every child of ``element`` is a leaf without attributes and one of ``tags``."""
    return all(c.tag in tags and not len(c) and not c.keys() for c in element)


def _has_base(element: Any) -> bool:
    """An attribute feedparser takes for xml:base (it ignores the namespace and case)."""
    return any(name.rpartition("}")[2].lower() == "base" for name in element.keys())


def _rss_item(item: Any, base: str) -> dict[str, Any] | None:
    """One <item> as feedparser's handlers make it, or None."""
    if item.keys():
        return None
    entry: dict[str, Any] = {}
    titled = False  # feedparser keeps the first non-empty title ("title_depth")
    has_content = False
    for child in item:
        if len(child):
            return None
        tag = child.tag
        names = child.keys()
        if names and not (tag in _RSS_ITEM_ATTRIBUTES and set(names) <= _RSS_ITEM_ATTRIBUTES[tag]):
            return None
        text = child.text
        text = text.strip() if text else ""
        if tag == "title":
            kind = "text/html" if _looks_like_html(text) else "text/plain"
            text = _fixed(text)
            if not titled:
                entry["title"] = text
                entry["title_detail"] = {"type": kind, "base": base, "value": text}
                titled = bool(text)
        elif tag == "description":
            if "summary" in entry and not has_content:  # a second one is taken for content
                has_content = True
                kind = "text/html" if _looks_like_html(text) else "text/plain"
                _add_content(entry, kind, _fixed(text), base)
            else:
                text = _fixed(text)
                entry["summary"] = text
                entry["summary_detail"] = {"type": "text/html", "base": base, "value": text}
        elif tag == _CONTENT_ENCODED:
            has_content = True
            _add_content(entry, "text/html", _fixed(text), base)
        elif tag == "link":
            text = _uri(text, base).replace("&amp;", "&")
            entry["link"] = _AMPERSAND_NAME.sub(r"&\g<1>", text)
        elif tag == "guid":
            permalink = child.get("isPermaLink", "true") == "true"
            _add_id(entry, _uri(text, base) if permalink else _fixed(text), permalink)
        elif tag == "pubDate":
            _add_date(entry, "published", _fixed(text))
        elif tag == _DC_DATE or tag == _A_UPDATED:
            _add_date(entry, "updated", _fixed(text))
        elif tag == _A_PUBLISHED:
            _add_date(entry, "published", _fixed(text))
        elif tag == "author" or tag == _DC_CREATOR:
            entry.setdefault("authors", []).append({})
            entry["author"] = _fixed(text)
            _sync_author(entry)
        elif tag == "category" or tag == _DC_SUBJECT:
            _add_tag(entry, None, child.get("domain"), None)
            _end_category(entry, _fixed(text))
        elif tag not in ("comments", "enclosure", _WFW + "commentRss", _SLASH + "comments"):
            return None  # (those four give keys that RawItems do not read)
    return entry


# -- Atom 1.0 ------------------------------------------------------------------------


def _atom(root: Any, base: str) -> dict[str, Any] | None:
    if any(name != _XML_LANG and name != _XML_BASE for name in root.keys()):
        return None
    entries: list[dict[str, Any]] = []
    for child in root:
        tag = child.tag
        if tag == _A_ENTRY:
            entry = _atom_entry(child, base)
            if entry is None:
                return None
            entries.append(entry)
        elif tag in _ATOM_LEAVES:
            if len(child) or _has_base(child) or child.get("type") == "xhtml":
                return None
            if tag == _A_UPDATED:  # parsed, as feedparser does, in case that raises
                _parse_date(_fixed((child.text or "").strip()))
        elif tag == _A_AUTHOR:
            if child.keys() or not _leaves(child, _ATOM_PERSON):
                return None
        else:
            return None
    return {"version": "atom10", "bozo": False, "feed": {}, "entries": entries}


def _atom_entry(element: Any, base: str) -> dict[str, Any] | None:
    """One <entry> as feedparser's handlers make it, or None."""
    if element.keys():
        return None
    entry: dict[str, Any] = {}
    titled = False
    has_content = False
    for child in element:
        tag = child.tag
        if tag == _A_AUTHOR:
            if child.keys() or not _atom_author(entry, child, base):
                return None
            continue
        if len(child):
            return None
        text = child.text
        text = text.strip() if text else ""
        if tag == _A_LINK:
            if not _atom_link(entry, child, base):
                return None
            continue
        if tag == _A_CATEGORY:
            if not set(child.keys()) <= {"term", "scheme", "label"}:
                return None
            _add_tag(entry, child.get("term"), child.get("scheme"), child.get("label"))
            _end_category(entry, _fixed(text))
            continue
        names = child.keys()
        if names and (names != ["type"] or tag in (_A_ID, _A_PUBLISHED)):
            return None
        kind = _ATOM_TYPES.get(child.get("type"))
        if kind is None:
            return None
        if tag == _A_TITLE:
            text = _fixed(text)
            if not titled:
                entry["title"] = text
                entry["title_detail"] = {"type": kind, "base": base, "value": text}
                titled = bool(text)
        elif tag == _A_SUMMARY:
            text = _fixed(text)
            if "summary" in entry and not has_content:  # a second one is taken for content
                has_content = True
                _add_content(entry, kind, text, base)
            else:
                entry["summary"] = text
                entry["summary_detail"] = {"type": kind, "base": base, "value": text}
        elif tag == _A_CONTENT:
            has_content = True
            _add_content(entry, kind, _fixed(text), base)
        elif names:
            return None  # a type on id, published or updated
        elif tag == _A_ID:
            _add_id(entry, _uri(text, base), True)
        elif tag == _A_PUBLISHED:
            _add_date(entry, "published", _fixed(text))
        elif tag == _A_UPDATED:
            _add_date(entry, "updated", _fixed(text))
        else:
            return None
    return entry


def _atom_link(entry: dict[str, Any], link: Any, base: str) -> bool:
    """feedparser's ``_start_link``: the last alternate HTML link is the entry's link."""
    names = link.keys()
    if "href" not in names or not set(names) <= _ATOM_LINK_ATTRIBUTES:
        return False
    rel = link.get("rel")
    rel = "alternate" if rel is None else rel.lower()
    kind = link.get("type")
    if kind is None:
        kind = "application/atom+xml" if rel == "self" else "text/html"
    href = _urljoin(base, link.get("href"))
    if rel == "alternate" and _FeedParserMixin.map_content_type(kind) in _HTML_TYPES:
        entry["link"] = href
    return True


def _atom_author(entry: dict[str, Any], author: Any, base: str) -> bool:
    """feedparser's ``_start_author``, ``_save_author`` and ``_end_author``."""
    authors = entry.setdefault("authors", [])
    authors.append({})
    for child in author:
        if len(child) or child.keys():
            return False
        text = child.text
        text = text.strip() if text else ""
        if child.tag == _A_NAME:
            key = "name"  # name and email are read without pop's fix-ups
        elif child.tag == _A_EMAIL:
            key = "email"
        elif child.tag == _A_URI:
            key, text = "href", _uri(text, base)
        else:
            return False
        _sync_author(entry)
        authors[-1][key] = text
    pieces = [author.text or "", *(child.tail or "" for child in author)]
    entry["author"] = _fixed("".join(pieces).strip())
    _sync_author(entry)
    return True


# -- feedparser's bookkeeping, on plain dicts ----------------------------------------


def _add_content(entry: dict[str, Any], kind: str, text: str, base: str) -> None:
    """A content element popped: appended to ``content``, and the summary if none yet."""
    entry.setdefault("content", []).append({"type": kind, "base": base, "value": text})
    entry.setdefault("summary", text)


def _add_id(entry: dict[str, Any], text: str, permalink: bool) -> None:
    """feedparser's ``_end_guid``: a permalink is also the link, unless there is one."""
    entry["id"] = text
    entry.setdefault("guidislink", permalink and "link" not in entry)
    if permalink:
        entry.setdefault("link", text)


def _add_date(entry: dict[str, Any], name: str, text: str) -> None:
    entry[name] = text
    entry[f"{name}_parsed"] = _parse_date(text)


def _add_tag(entry: dict[str, Any], term: Any, scheme: Any, label: Any) -> None:
    tags = entry.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


def _end_category(entry: dict[str, Any], text: str) -> None:
    if not text:
        return
    tags = entry["tags"]
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = text
    else:
        _add_tag(entry, text, None, None)


def _sync_author(entry: dict[str, Any]) -> None:
    """feedparser's ``_sync_author_detail``: the author string from the last author's
    name and email, or the last author's name and email from the author string."""
    authors = entry.get("authors")
    detail = authors[-1] if authors else {}
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            entry["author"] = f"{name} ({email})"
        elif name:
            entry["author"] = name
        elif email:
            entry["author"] = email
        return
    author = entry.get("author")
    if not author:
        return
    found = _EMAIL.search(author)
    email = None
    if found:
        email = found.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email
