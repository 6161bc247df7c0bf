"""Offline feed checks for tests: feed bytes in, a list of problems out (empty when valid).

They encode the rules of the W3C Feed Validation Service that can be checked without the
network (its *errors*, and the few warnings coopfeed promises to avoid), written from the
specs and the validator's own patterns, not from coopfeed's code, so that they catch
coopfeed's mistakes.  Use them from any test::

    from feedcheck import check_atom, check_atom_rng, check_json_feed, check_opml, check_rss

    assert check_rss(data) == []

RSS and Atom documents may carry RFC 5005 (feed paging and archiving) links and
``fh:archive``; those are checked too.  ``check_json_feed`` follows the JSON Feed 1.1
specification, ``check_opml`` OPML 2.0 and the W3C validator's OPML errors.

Dependencies: lxml and the standard library (pytest only for ``check_atom_rng``'s skip).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# RFC 5005's link relations: feed-level only (the validator's FeedHistoryRelInEntry).
_RFC5005_RELS = ("current", "first", "last", "next", "next-archive", "prev-archive", "previous")
ATOM_RNG = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "atom.rng"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not %a: that follows the locale

# RFC 822 as RFC 2822 writes it, with the validator's strictness: 4-digit year, known zone.
_RFC822 = re.compile(
    r"(?:(?P<dow>Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d(?::\d\d)? "
    r"(?P<zone>[+-]\d\d[0-5]\d|UT|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|Z)"
)
# RFC 3339 date-time: the offset is required.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", re.I)
# The validator's URI checks (rfc2396_full, and its tag: and urn: patterns).
_URI_CHARS = r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]"
_FULL_URI = re.compile(rf"(?P<scheme>[a-zA-Z][0-9a-zA-Z+\-.]*):(//)?{_URI_CHARS}+")
_TAG_URI = re.compile(
    r"tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:"
    r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]*)?"
)
_URN = re.compile(
    r"urn:[a-zA-Z0-9][a-zA-Z0-9-]{1,31}:([a-zA-Z0-9()+,.:=@;$_!*'\-]|%[0-9A-Fa-f]{2})+", re.I
)
_EMAIL = re.compile(r"[^@\s()<>]+@[^@\s()<>]+\.[^@\s()<>]+(?: \(.*\))?")


def check_rss(data: bytes) -> list[str]:
    """Problems of an RSS 2.0 document (W3C validator errors, DESIGN 6)."""
    root, problems = _parse(data)
    if root is None:
        return problems
    if root.tag != "rss" or root.get("version") != "2.0":
        return [f'root is <{root.tag} version="{root.get("version")}">, not <rss version="2.0">']
    channel = root.find("channel")
    if channel is None:
        return ["rss has no channel"]
    for name in ("title", "link", "description"):
        if not _text(channel, name):
            problems.append(f"channel has no {name}")
    link = _text(channel, "link")
    if link and not _is_uri(link):
        problems.append(f"channel link is not a full URI: {link!r}")
    selfs = [e for e in channel.findall(f"{ATOM}link") if e.get("rel") == "self"]
    if not selfs:
        problems.append('channel has no atom:link rel="self"')
    for self_link in selfs:
        if not _is_uri(self_link.get("href", "")):
            problems.append(f"atom:link self has no valid href: {self_link.get('href')!r}")
        if not self_link.get("type"):
            problems.append("atom:link self has no type")
    for name in ("pubDate", "lastBuildDate"):
        if channel.find(name) is not None:
            problems += _rfc822_problems(f"channel {name}", _text(channel, name))
    problems += _history_problems("channel", channel)
    guids: set[str] = set()
    for n, item in enumerate(channel.findall("item"), 1):
        problems += _rss_item_problems(f"item {n}", item, guids)
        problems += _misplaced_history(f"item {n}", item)
    return problems


def _rss_item_problems(where: str, item: etree._Element, guids: set[str]) -> list[str]:
    problems = []
    if not _text(item, "title") and not _text(item, "description"):
        problems.append(f"{where} has neither title nor description")
    link = _text(item, "link")
    if item.find("link") is not None and not _is_uri(link):
        problems.append(f"{where} link is not a full URI: {link!r}")
    guid = item.find("guid")
    value = "" if guid is None else (guid.text or "").strip()
    if guid is None or not value:
        problems.append(f"{where} has no guid")
    else:
        permalink = guid.get("isPermaLink", "true")  # absent means true
        if permalink not in ("true", "false"):
            problems.append(f'{where} guid isPermaLink="{permalink}" is not true or false')
        if permalink != "false" and not re.match(r"https?://", value, re.I):
            problems.append(f'{where} guid {value!r} is not a URL but lacks isPermaLink="false"')
        if permalink == "true" and not _is_uri(value):
            problems.append(f"{where} guid {value!r} is a permalink but not a valid URI")
        if value in guids:
            problems.append(f"{where} repeats guid {value!r}")
        guids.add(value)
    if item.find("pubDate") is not None:
        problems += _rfc822_problems(f"{where} pubDate", _text(item, "pubDate"))
    for author in item.findall("author"):
        if not _EMAIL.fullmatch((author.text or "").strip()):
            problems.append(f"{where} author is not an email address: {author.text!r}")
    return problems


def check_atom(data: bytes) -> list[str]:
    """Problems of an Atom 1.0 document (RFC 4287 and W3C validator errors, DESIGN 6)."""
    root, problems = _parse(data)
    if root is None:
        return problems
    if root.tag != f"{ATOM}feed":
        return [f"root is <{root.tag}>, not an Atom feed"]
    problems += _atom_common("feed", root)
    feed_has_author = _has_author("feed", root, problems)
    links = root.findall(f"{ATOM}link")
    if not [e for e in links if e.get("rel") == "self"]:
        problems.append('feed has no link rel="self"')
    for link in links:
        if not link.get("href"):
            problems.append(f"feed link rel={link.get('rel')!r} has no href")
    problems += _history_problems("feed", root)
    ids: set[str] = set()
    for n, entry in enumerate(root.findall(f"{ATOM}entry"), 1):
        where = f"entry {n}"
        problems += _atom_common(where, entry)
        problems += _misplaced_history(where, entry)
        entry_id = _text(entry, f"{ATOM}id")
        if entry_id in ids:
            problems.append(f"{where} repeats id {entry_id!r}")
        ids.add(entry_id)
        if not _has_author(where, entry, problems) and not feed_has_author:
            problems.append(f"{where} has no author, and neither has the feed")
        if entry.find(f"{ATOM}published") is not None:
            problems += _rfc3339_problems(f"{where} published", _text(entry, f"{ATOM}published"))
        entry_links = entry.findall(f"{ATOM}link")
        alternates = [e for e in entry_links if e.get("rel", "alternate") == "alternate"]
        if not alternates and entry.find(f"{ATOM}content") is None:
            problems.append(f"{where} has neither an alternate link nor content")
        for link in entry_links:
            if not link.get("href"):
                problems.append(f"{where} link has no href")
        for name in ("title", "summary"):
            element = entry.find(f"{ATOM}{name}")
            kind = None if element is None else element.get("type", "text")
            if kind not in (None, "text", "html", "xhtml"):
                problems.append(f"{where} {name} has type {kind!r}")
    return problems


def check_atom_rng(data: bytes) -> list[str]:
    """Problems found by the RELAX NG schema of RFC 4287; skips the test without the schema."""
    if not ATOM_RNG.is_file():
        import pytest

        pytest.skip(f"no Atom schema at {ATOM_RNG}")
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG), _PARSER))
    root, problems = _parse(data)
    if root is None:
        return problems
    if schema.validate(root.getroottree()):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def _history_problems(where: str, head: etree._Element) -> list[str]:
    """RFC 5005 in a channel or feed: well-formed links, and what an archive document needs.

    An archive (``fh:archive``) must link to its subscription document (``current``; the
    validator's MissingCurrentInArchive).  A lone archive page may have neither
    ``prev-archive`` nor ``next-archive`` (the validator only warns: ArchiveIncomplete).
    """
    problems = []
    links = [e for e in head.findall(f"{ATOM}link") if e.get("rel") in _RFC5005_RELS]
    for rel in sorted({link.get("rel", "") for link in links}):
        same = [link for link in links if link.get("rel") == rel]
        if len(same) > 1:
            problems.append(f"{where} has {len(same)} links rel={rel!r}, not 1")
        for link in same:
            if not _is_uri(link.get("href", "")):
                problems.append(f"{where} link rel={rel!r} has no full URI: {link.get('href')!r}")
    markers = head.findall(f"{HISTORY}archive")
    complete = head.find(f"{HISTORY}complete") is not None
    if len(markers) > 1:
        problems.append(f"{where} has {len(markers)} fh:archive elements")
    for marker in markers:
        if len(marker) or (marker.text or "").strip():
            problems.append(f"{where} fh:archive is not empty")
    if markers and complete:
        problems.append(f"{where} has both fh:archive and fh:complete")
    rels = {link.get("rel") for link in links}
    if markers and not complete and "current" not in rels:
        problems.append(f'{where} is an archive (fh:archive) without a link rel="current"')
    if not markers and rels & {"current", "next-archive"}:
        problems.append(f"{where} links current/next-archive but has no fh:archive")
    return problems


def _misplaced_history(where: str, element: etree._Element) -> list[str]:
    """RFC 5005 links and markers belong to the feed, never to an entry or item."""
    problems = []
    for link in element.findall(f"{ATOM}link"):
        if link.get("rel") in _RFC5005_RELS:
            problems.append(f"{where} has a feed-level link rel={link.get('rel')!r}")
    if element.find(f"{HISTORY}archive") is not None:
        problems.append(f"{where} has fh:archive, which belongs to the feed")
    return problems


def _atom_common(where: str, element: etree._Element) -> list[str]:
    """id (a URI), title and updated (RFC 3339), each exactly once."""
    problems = []
    for name in ("id", "title", "updated"):
        found = element.findall(f"{ATOM}{name}")
        if len(found) != 1:
            problems.append(f"{where} has {len(found)} {name} elements, not 1")
    atom_id = _text(element, f"{ATOM}id")
    if atom_id and not _is_uri(atom_id):
        problems.append(f"{where} id is not a valid URI: {atom_id!r}")
    if element.find(f"{ATOM}updated") is not None:
        problems += _rfc3339_problems(f"{where} updated", _text(element, f"{ATOM}updated"))
    return problems


def _has_author(where: str, element: etree._Element, problems: list[str]) -> bool:
    authors = element.findall(f"{ATOM}author")
    for author in authors:
        if not _text(author, f"{ATOM}name"):
            problems.append(f"{where} has an author without a name")
    return bool(authors)


def _parse(data: bytes) -> tuple[etree._Element | None, list[str]]:
    try:
        return etree.fromstring(data, _PARSER), []
    except etree.XMLSyntaxError as e:
        return None, [f"not well-formed XML: {e}"]


def _text(element: etree._Element, path: str) -> str:
    found = element.find(path)
    return "" if found is None else (found.text or "").strip()


def _is_uri(value: str) -> bool:
    """A full (not relative) URI by the validator's rules; tag: and urn: by theirs."""
    match = _FULL_URI.fullmatch(value)
    if match is None:
        return False
    scheme = match["scheme"].lower()
    if scheme == "tag":
        return _TAG_URI.fullmatch(value) is not None
    if scheme == "urn":
        return _URN.fullmatch(value) is not None
    if scheme in ("http", "https", "ftp"):
        return re.match(r"\w+://[^/]", value) is not None
    return True


def _rfc822_problems(where: str, value: str) -> list[str]:
    match = _RFC822.fullmatch(value)
    if match is None:
        return [f"{where} is not an RFC 822 date with a 4-digit year and a zone: {value!r}"]
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError) as e:
        return [f"{where} is not a real date: {value!r} ({e})"]
    weekday = _WEEKDAYS[moment.weekday()]
    if match["dow"] and match["dow"] != weekday:
        return [f"{where} says {match['dow']} but {moment.date()} is a {weekday}: {value!r}"]
    return []


def _rfc3339_problems(where: str, value: str) -> list[str]:
    if not _RFC3339.fullmatch(value):
        return [f"{where} is not an RFC 3339 date-time with an offset: {value!r}"]
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as e:
        return [f"{where} is not a real date-time: {value!r} ({e})"]
    return []


# --- JSON Feed 1.1 ------------------------------------------------------------------------


def check_json_feed(data: bytes) -> list[str]:
    """Problems of a JSON Feed 1.1 document (https://www.jsonfeed.org/version/1.1/).

    Required: ``version`` (this version's URL), ``title``, ``items``; every item an ``id``
    (a string: JSON Feed 1.1 says so, coopfeed promises it), unique within the feed, and
    ``content_html`` or ``content_text``.  Optional members must have their types; URLs
    must be absolute; dates RFC 3339 with an offset; author objects need a name, url or
    avatar; hubs a type and a url.  DESIGN 6 also wants ``home_page_url`` and ``feed_url``.
    """
    try:
        feed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return [f"not UTF-8 JSON: {e}"]
    if not isinstance(feed, dict):
        return [f"top level is a {type(feed).__name__}, not an object"]
    problems = []
    if feed.get("version") != JSON_FEED_VERSION:
        problems.append(f"version is {feed.get('version')!r}, not {JSON_FEED_VERSION!r}")
    if not isinstance(feed.get("title"), str) or not feed["title"].strip():
        problems.append("feed has no title")
    for name in ("home_page_url", "feed_url"):
        if name not in feed:
            problems.append(f"feed has no {name}")
    for name in ("home_page_url", "feed_url", "next_url", "icon", "favicon"):
        problems += _json_url("feed", feed, name)
    for name in ("description", "user_comment", "language"):
        problems += _json_type("feed", feed, name, str)
    problems += _json_type("feed", feed, "expired", bool)
    problems += _json_authors("feed", feed)
    if "author" in feed:
        problems.append("feed has author (JSON Feed 1.0); 1.1 uses authors")
    hubs = feed.get("hubs", [])
    if not isinstance(hubs, list):
        problems.append("feed hubs is not an array")
        hubs = []
    for n, hub in enumerate(hubs, 1):
        if not isinstance(hub, dict) or not isinstance(hub.get("type"), str):
            problems.append(f"hub {n} has no type")
        elif not _json_is_url(hub.get("url")):
            problems.append(f"hub {n} has no absolute url: {hub.get('url')!r}")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, "feed has no items array"]
    ids: set[str] = set()
    for n, item in enumerate(items, 1):
        problems += _json_item_problems(f"item {n}", item, ids)
    return problems


def _json_item_problems(where: str, item: object, ids: set[str]) -> list[str]:
    if not isinstance(item, dict):
        return [f"{where} is not an object"]
    problems = []
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        problems.append(f"{where} has no id string: {item_id!r}")
    elif item_id in ids:
        problems.append(f"{where} repeats id {item_id!r}")
    else:
        ids.add(item_id)
    if not isinstance(item.get("content_html"), str) and not isinstance(
        item.get("content_text"), str
    ):
        problems.append(f"{where} has neither content_html nor content_text")
    for name in ("url", "external_url", "image", "banner_image"):
        problems += _json_url(where, item, name)
    for name in ("title", "content_html", "content_text", "summary", "language"):
        problems += _json_type(where, item, name, str)
    for name in ("date_published", "date_modified"):
        if name in item:
            value = item[name]
            if not isinstance(value, str):
                problems.append(f"{where} {name} is not a string: {value!r}")
            else:
                problems += _rfc3339_problems(f"{where} {name}", value)
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append(f"{where} tags is not an array of strings: {tags!r}")
    problems += _json_authors(where, item)
    if "author" in item:
        problems.append(f"{where} has author (JSON Feed 1.0); 1.1 uses authors")
    return problems


def _json_authors(where: str, owner: dict[str, object]) -> list[str]:
    authors = owner.get("authors", [])
    if not isinstance(authors, list):
        return [f"{where} authors is not an array"]
    problems = []
    for n, author in enumerate(authors, 1):
        if not isinstance(author, dict) or not any(
            isinstance(author.get(key), str) and author[key] for key in ("name", "url", "avatar")
        ):
            problems.append(f"{where} author {n} has no name, url or avatar: {author!r}")
    return problems


def _json_type(where: str, owner: dict[str, object], name: str, kind: type) -> list[str]:
    if name in owner and not isinstance(owner[name], kind):
        return [f"{where} {name} is not a {kind.__name__}: {owner[name]!r}"]
    return []


def _json_url(where: str, owner: dict[str, object], name: str) -> list[str]:
    if name in owner and not _json_is_url(owner[name]):
        return [f"{where} {name} is not an absolute URL: {owner[name]!r}"]
    return []


def _json_is_url(value: object) -> bool:
    return isinstance(value, str) and re.match(r"https?://[^/\s]", value) is not None


# --- OPML 2.0 ------------------------------------------------------------------------------

# The head elements OPML 2.0 defines that the W3C validator knows (it has no "docs").
_OPML_HEAD = {
    "title",
    "dateCreated",
    "dateModified",
    "ownerName",
    "ownerEmail",
    "ownerId",
    "expansionState",
    "vertScrollState",
    "windowTop",
    "windowLeft",
    "windowBottom",
    "windowRight",
}


def check_opml(data: bytes) -> list[str]:
    """Problems of an OPML 2.0 subscription list (http://opml.org/spec2.opml and the W3C
    validator's OPML rules): ``<opml version="2.0">`` with a head and a body; every
    outline has ``text``; an ``rss`` outline has ``xmlUrl`` and ``title``; URLs are full;
    dates are RFC 822; no feed is listed twice."""
    root, problems = _parse(data)
    if root is None:
        return problems
    if root.tag != "opml" or root.get("version") != "2.0":
        return [f'root is <{root.tag} version="{root.get("version")}">, not <opml version="2.0">']
    head, body = root.find("head"), root.find("body")
    if head is None:
        problems.append("opml has no head")
    else:
        for element in head:
            if element.tag not in _OPML_HEAD:
                problems.append(f"head has an undefined element <{element.tag}>")
        for name in ("dateCreated", "dateModified"):
            if head.find(name) is not None:
                problems += _rfc822_problems(f"head {name}", _text(head, name))
    if body is None:
        return [*problems, "opml has no body"]
    outlines = list(body.iter("outline"))
    if not outlines:
        problems.append("body has no outline")
    urls: set[str] = set()
    for n, outline in enumerate(outlines, 1):
        where = f"outline {n}"
        if outline.get("text") is None:
            problems.append(f"{where} has no text")
        if (outline.text or "").strip():
            problems.append(f"{where} holds text")
        if (outline.get("type") or "").lower() == "rss":
            if not outline.get("xmlUrl"):
                problems.append(f"{where} is of type rss but has no xmlUrl")
            if outline.get("title") is None:
                problems.append(f"{where} is of type rss but has no title")
        elif outline.get("xmlUrl") or outline.get("htmlUrl"):
            problems.append(f"{where} has feed URLs but no type")
        for name in ("xmlUrl", "htmlUrl", "url"):
            value = outline.get(name)
            if value is not None and not _is_uri(value):
                problems.append(f"{where} {name} is not a full URI: {value!r}")
        xml_url = outline.get("xmlUrl")
        if xml_url:
            if xml_url in urls:
                problems.append(f"{where} lists {xml_url!r} again")
            urls.add(xml_url)
        if outline.get("created") is not None:
            problems += _rfc822_problems(f"{where} created", outline.get("created", ""))
    return problems
