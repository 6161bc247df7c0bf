"""Remote feed documents: a feed's bytes and response headers go in, a SourceResult of
RawItems (or a one-line error) comes out.

``parse_feed`` hands feedparser the body as a stream (never a str or a path, which it
would open) after three cheap passes over the bytes: the text is re-declared as UTF-8
(so a wrong or missing charset never turns a document into mojibake), entity
declarations that could expand or reach outside the document are dropped, and
character references feedparser raises on become U+FFFD.  feedparser's own sanitizer
and URI resolver are off: ``normalize`` sanitizes with nh3 and resolves against
:attr:`RawItem.base_url`.

Most documents never reach feedparser: a well-formed RSS 2.0 or Atom 1.0 document
inside a strictly defined common subset (``coopfeed.sources.fastfeed``) is read with
lxml into the same entries feedparser would give (``parse_feed`` is then about 6 times
faster on the bench corpus), and the RawItems, warnings and refresh hint come from the
same code below.  Anything outside
the subset (xml:base, xhtml content, an unknown element in an entry, a DOCTYPE, a
document that is not well-formed...) goes to feedparser as before.  ``fast=False``
sends every document to feedparser; the tests compare the two.

Choices an operator sees:

- An empty body, an HTML page, anything without an RSS/RDF/Atom root, or a broken
  document without a single complete entry is an error ("not a feed: ..."); a
  well-formed feed with zero entries is not (no items, one warning).  Neither deletes
  anything stored.
- A document that is not well-formed but still readable gives its complete entries
  and a warning; a truncated last entry is dropped.
- ``RawItem.key`` is the entry's guid as written, never resolved against the feed's
  URL: a guid such as "dup" stays "dup" when the feed moves.  A guid that is no
  http(s) URL never becomes the link (feedparser would make "12345" one).
- Repeated guids within one document are all returned, with one warning.
- Impossible dates (rolled over by feedparser, negative or week-numbered years, bare
  epoch digits, offsets beyond 14 hours) become None, so the item takes the time it
  was first seen; a date without a time of day ("2024-01-03") becomes
  ``published_date``, which normalize places at the source's time of day.
"""

from __future__ import annotations

import calendar
import codecs
import email.utils
import html
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urljoin
from xml.sax import SAXParseException

import feedparser

from coopfeed.sources.fastfeed import read_feed
from coopfeed.types import RawItem, SourceResult

__all__ = ["parse_feed"]

#: feedparser resolves relative URIs (links, xml:base, and any guid it takes for a
#: permalink) against Content-Location.  It is given this stand-in instead of the
#: feed's URL, so a relative reference can be recovered from what it returns: links
#: are then resolved against the real URL, and guids are kept as written.  The
#: ``.invalid`` top-level domain is reserved, so no real URL starts with it.
_STAND_IN_ORIGIN = "https://relative.coopfeed.invalid"
_STAND_IN_DEPTH = 8
_STAND_IN_PATH = "/" + "".join(f"{i}/" for i in range(_STAND_IN_DEPTH))
_STAND_IN_BASE = _STAND_IN_ORIGIN + _STAND_IN_PATH
#: (path prefix, the relative reference that reaches it) from the deepest level up.
_STAND_IN_LEVELS = tuple(
    ("/" + "".join(f"{i}/" for i in range(depth)), "../" * (_STAND_IN_DEPTH - depth))
    for depth in range(_STAND_IN_DEPTH, 0, -1)
)
#: What feedparser is told: the bytes are UTF-8 XML (they are, once ``_to_utf8`` ran).
#: The stand-in base only goes to documents with xml:base attributes: without a base,
#: feedparser leaves relative references as they are, and parses about 20% faster.
_HEADERS = {"content-type": "application/xml; charset=utf-8"}
_HEADERS_WITH_BASE = {**_HEADERS, "content-location": _STAND_IN_BASE}
_BASE_ATTRIBUTE = re.compile(rb"\bbase\s*=")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")

#: Entity declarations whose expansion would exceed this many characters are dropped.
ENTITY_BUDGET = 1_000_000
#: The longest text of one element (bytes) handed to feedparser: a longer one (a 100 MB
#: description) is cut first, as feedparser's time and memory grow with it and
#: normalize keeps far less (``[limits]``: 100,000 characters of summary by default).
MAX_TEXT = 4 * 2**20
_LONG_TEXT = re.compile(rb">([^<]{%d,})" % MAX_TEXT)
_MAX_ENTITIES = 100

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
#: "<" in encodings that are not ASCII-compatible, for documents without a BOM.
_MARKERS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
#: Labels servers send by default; a label in the document itself is trusted more.
_WEAK_CODECS = {"ascii", "latin-1", "iso8859-1"}
_XML_ENCODING = re.compile(rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
#: The start of a document whose root is a feed's, though feedparser saw no version
#: (RSS 1.0 without its namespace, say): prolog, comments and a DOCTYPE, then the root.
_FEED_ROOT = re.compile(
    rb"(?:\s|<\?[^>]*>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*"
    rb"<(?:[\w.-]+:)?(?:rss|RDF|channel|feed)[\s/>]",
    re.DOTALL,
)
_HTML = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)

_ENTITY_DECLARATION = re.compile(rb"""<!ENTITY(?:[^>"']|"[^"]*"|'[^']*')*>""")
_INTERNAL_ENTITY = re.compile(rb"""<!ENTITY\s+([\w.-]+)\s+(?:"([^"]*)"|'([^']*)')\s*>""")
#: Values that refer to other entities (or parameter entities): nesting is how bombs grow.
_NESTING_VALUE = re.compile(rb"%|&(?!#\w+;)")
#: Numeric character references big enough to be a surrogate or beyond U+10FFFF.
_BIG_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")
_ENTRY_END = re.compile(
    rb"</(?:[\w.-]+:)?(?:item|entry)\s*>|<(?:[\w.-]+:)?(?:item|entry)\b[^>]*/>", re.I
)

_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])")
_COMPACT_DAY = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_DATE_ONLY = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}")
_WEEK_DATE = re.compile(r"[0-9]{4}-?W", re.IGNORECASE)
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})$")
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_C1 = re.compile(b"\xc2[\x80-\x9f]")  # U+0080 to U+009F in UTF-8
_TAG_START = re.compile(r"</?[A-Za-z]")
#: An RFC 822 date with its weekday but no zone, which feedparser cannot read.
_RFC822_NO_ZONE = re.compile(r"[A-Za-z]{3},\s*[0-9]{1,2}\s+[A-Za-z]{3}\s+[0-9]{4}\s+[0-9:]{5,8}")


class _NotAFeed(Exception):
    """The bytes cannot be read as a feed; the message says why, in one line."""


def parse_feed(
    source: str,
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    fast: bool = True,
) -> SourceResult:
    """Parse one fetched feed document into RawItems, warnings, or an error.

    ``url`` is where the document came from (relative links are resolved against
    it, and it names entries in messages); ``headers`` are the response headers
    (only Content-Type matters: its charset and whether it announces HTML).
    ``fast=False`` has feedparser read every document (the fast path gives the
    same result, for the documents it takes).
    """
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    warnings: list[str] = []
    try:
        data, parsed = _parse(body, headers, warnings, fast=fast)
    except _NotAFeed as e:
        return SourceResult(source, error=str(e))
    except Exception as e:  # feedparser raises on some hostile inputs (FIELD-NOTES)
        return SourceResult(source, error=f"not a feed: {_one_line(e)}")
    entries: list[Any] = parsed.get("entries") or []
    if not parsed.get("version") and not _FEED_ROOT.match(data):
        entries = []  # <item>s in some other XML vocabulary (or in HTML) make no feed
    if parsed.get("bozo"):
        entries = _complete_entries(entries, data, warnings, parsed.get("bozo_exception"))
    if not entries:
        error = _no_entries(parsed, data, headers)
        if error:
            return SourceResult(source, error=error)
        warnings.append("the feed has no entries")
    # RSS says nothing of a title's type; feedparser guesses "plain text" for escaped
    # markup with tags it does not allow (<script>), which would then stay in the title.
    html_titles = not str(parsed.get("version") or "").startswith("atom")
    items = tuple(
        _raw_item(source, url, i, entry, html_titles) for i, entry in enumerate(entries, 1)
    )
    _note_repeated_keys(items, warnings)
    return SourceResult(
        source,
        items=items,
        warnings=tuple(f"{source}: {url}: {w}" for w in warnings),
        extra=_refresh_hint(parsed.get("feed") or {}),
    )


_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def _refresh_hint(feed: Mapping[str, Any]) -> dict[str, str]:
    """How often the feed says it changes, in seconds, as ``{"ttl": "..."}``: RSS
    ``<ttl>`` (minutes) or ``sy:updatePeriod``/``sy:updateFrequency``; the longer wins."""
    seconds = 0.0
    ttl = str(feed.get("ttl") or "").strip()
    if ttl.isdigit():
        seconds = int(ttl) * 60.0
    period = _PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period:
        frequency = str(feed.get("sy_updatefrequency") or "1").strip()
        seconds = max(seconds, period / max(int(frequency) if frequency.isdigit() else 1, 1))
    return {"ttl": f"{seconds:g}"} if seconds else {}


def _parse(
    body: bytes, headers: Mapping[str, str], warnings: list[str], *, fast: bool = True
) -> tuple[bytes, Any]:
    """The document as the UTF-8 bytes that were read, and what feedparser made of
    them (or the fast path, which makes the same of the documents it takes)."""
    data = _clean(body, headers, warnings)
    based = _has_base(data)
    parsed = _read_fast(data, based) if fast else None
    if parsed is None:
        parsed = feedparser.parse(
            io.BytesIO(data),
            response_headers=_HEADERS_WITH_BASE if based else _HEADERS,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    return data, parsed


def _has_base(data: bytes) -> bool:
    return b"base" in data and _BASE_ATTRIBUTE.search(data) is not None


def _read_fast(data: bytes, based: bool | None = None) -> dict[str, Any] | None:
    """What the fast path reads in ``data``, given the base feedparser would be given
    (a stand-in when ``data`` has an xml:base: ``based``, worked out if not given);
    None when the document is outside its subset."""
    if based is None:
        based = _has_base(data)
    return read_feed(data, _STAND_IN_BASE if based else "")


def _clean(body: bytes, headers: Mapping[str, str], warnings: list[str]) -> bytes:
    """The body as the UTF-8 bytes both parsers read: re-encoded, C1 controls removed,
    risky entity declarations dropped, impossible character references replaced and
    huge texts cut (each change that loses something noted in ``warnings``)."""
    data, problem = _to_utf8(body, _declared_encodings(body, headers))
    if problem:
        warnings.append(problem)
    if not data.strip():
        raise _NotAFeed("empty body")
    if b"\xc2" in data:  # C1 controls: removed, as normalize would (feedparser's loose
        data = _C1.sub(b"", data)  # parser turns them into cp1252's "…" and "Ÿ" first)
    if b"<!ENTITY" in data and b"<!DOCTYPE" in data:  # declarations act only in a DTD
        data = _defuse_entities(data, warnings)
    if b"&#" in data:
        data = _BIG_CHARREF.sub(_charref, data)
    if len(data) > MAX_TEXT:
        data = _cut_long_texts(data, warnings)
    return data


# -- encodings ---------------------------------------------------------------------


def _declared_encodings(body: bytes, headers: Mapping[str, str]) -> list[str]:
    """Usable codec names declared by the Content-Type charset and the XML declaration,
    the more trustworthy first; UTF-8 and UTF-16/32 labels are left out (the bytes
    themselves decide those)."""
    labels = [_charset(headers.get("content-type", ""))]
    match = _XML_ENCODING.search(body, 0, 300)
    labels.append(match[1].decode("ascii") if match else "")
    codecs_found = [name for name in map(_codec_name, labels) if name]
    if len(codecs_found) == 2 and codecs_found[0] in _WEAK_CODECS:
        codecs_found.reverse()
    return codecs_found


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


def _codec_name(label: str) -> str:
    try:
        name = codecs.lookup(label).name if label else ""
    except LookupError:
        return ""
    return "" if name.startswith(("utf-8", "utf-16", "utf-32")) else name


def _to_utf8(body: bytes, declared: list[str]) -> tuple[bytes, str | None]:
    """The body as UTF-8 without BOM or leading whitespace, and what was wrong with it.

    A BOM decides; so does valid UTF-8, whatever was declared (a server's default
    charset is often wrong, and other encodings are almost never valid UTF-8).
    Otherwise a few broken sequences in mostly-UTF-8 text become U+FFFD, and text
    without valid UTF-8 sequences is read in the declared encoding or windows-1252.
    """
    for mark, encoding in _BOMS:
        if body.startswith(mark):
            if encoding == "utf-8":
                return _utf8_or_nearly(body[len(mark) :], declared=[])
            return _decoded(body[len(mark) :], encoding)
    for marker, encoding in _MARKERS:
        if body.startswith(marker):
            return _decoded(body, encoding)
    return _utf8_or_nearly(body, declared)


def _decoded(body: bytes, encoding: str) -> tuple[bytes, str | None]:
    text = body.decode(encoding, "replace")
    bad = text.count("\ufffd")
    problem = f"{bad} byte sequence(s) invalid in {encoding} replaced with U+FFFD" if bad else None
    return text.lstrip().encode("utf-8"), problem


def _utf8_or_nearly(body: bytes, declared: list[str]) -> tuple[bytes, str | None]:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return body.lstrip(), None
    try:  # UTF-8 but for lone surrogates encoded as UTF-8 is (no legacy text looks so)
        text = body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        pass
    else:
        text, bad = _SURROGATE.subn("\ufffd", text)
        note = f"{bad} encoded surrogate(s) replaced with U+FFFD"
        return text.lstrip().encode("utf-8"), note
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    well_formed = len(text) - len(text.encode("ascii", "ignore")) - bad
    if well_formed > bad:
        note = f"{bad} invalid UTF-8 sequence(s) replaced with U+FFFD"
        return text.lstrip().encode("utf-8"), note
    for encoding in [*declared, "latin-1"]:
        for codec in ("cp1252", "latin-1") if encoding in _WEAK_CODECS else (encoding,):
            try:
                text = body.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
            name = "windows-1252" if codec == "cp1252" else codec
            wrong = None if encoding in declared else f"not valid UTF-8; read as {name}"
            return text.lstrip().encode("utf-8", "replace"), wrong
    raise AssertionError("unreachable: latin-1 decodes every byte")


# -- hostile markup ------------------------------------------------------------------


def _defuse_entities(data: bytes, warnings: list[str]) -> bytes:
    """Drop every entity declaration when one of them is external, a parameter entity,
    nested, or when expanding them would exceed ENTITY_BUDGET characters.  feedparser
    already ignores most such declarations, but expands "plain" ones in its lenient
    parser without a limit (a quadratic blowup)."""
    declarations = _ENTITY_DECLARATION.findall(data)
    reason = _entity_risk(data, declarations)
    if reason is None:
        return data
    data = _ENTITY_DECLARATION.sub(b"", data)
    if b"<!ENTITY" in data:
        raise _NotAFeed("not a feed: unreadable entity declarations")
    warnings.append(f"ignored the document's entity declarations ({reason})")
    return data


def _entity_risk(data: bytes, declarations: list[bytes]) -> str | None:
    if data.count(b"<!ENTITY") != len(declarations):
        return "unreadable declarations"
    if len(declarations) > _MAX_ENTITIES:
        return f"more than {_MAX_ENTITIES} declarations"
    expansion = 0
    for declaration in declarations:
        match = _INTERNAL_ENTITY.fullmatch(declaration)
        if match is None:
            return "external or parameter entities"
        name, value = match[1], match[2] if match[2] is not None else match[3]
        if _NESTING_VALUE.search(value):
            return "entities that refer to other entities"
        if b"\\" in value:  # feedparser uses values as regex replacements: re.error
            return "a backslash in an entity value"
        expansion += len(value) * data.count(b"&" + name + b";")
        if expansion > ENTITY_BUDGET:
            return f"they would expand to more than {ENTITY_BUDGET:,} characters"
    return None


def _cut_long_texts(data: bytes, warnings: list[str]) -> bytes:
    """Texts and CDATA sections longer than MAX_TEXT bytes cut to that length (at a
    character boundary, never inside an entity reference)."""
    cut = 0

    def shorten(match: re.Match[bytes]) -> bytes:
        nonlocal cut
        if b"]]>" in match[1] or b"-->" in match[1]:  # it ends a CDATA section or comment
            return match[0]
        cut += 1
        return b">" + _prefix(match[1])

    data = _LONG_TEXT.sub(shorten, data)
    parts, start = [], 0
    while (begin := data.find(b"<![CDATA[", start)) >= 0:
        begin += len(b"<![CDATA[")
        end = data.find(b"]]>", begin)
        if end < 0:
            break
        parts.append(data[start:begin])
        if end - begin > MAX_TEXT:
            parts.append(_prefix(data[begin:end]))
            cut += 1
        else:
            parts.append(data[begin:end])
        start = end
    if cut:
        warnings.append(f"cut {_count(cut, 'text', 'texts')} longer than {MAX_TEXT:,} bytes")
    return b"".join([*parts, data[start:]]) if parts else data


def _prefix(text: bytes) -> bytes:
    """The first MAX_TEXT bytes of UTF-8 ``text``, less a character or reference cut in two."""
    kept = text[:MAX_TEXT]
    amp = kept.rfind(b"&", len(kept) - 64)
    if amp >= 0 and b";" not in kept[amp:]:
        kept = kept[:amp]
    return kept.decode("utf-8", "ignore").encode("utf-8")


def _charref(match: re.Match[bytes]) -> bytes:
    """A reference to a surrogate or beyond U+10FFFF (feedparser raises) -> U+FFFD."""
    code = int(match[1], 16) if match[1] else int(match[2])
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return b"&#xFFFD;"
    return match[0]


# -- the document as a whole ---------------------------------------------------------


def _complete_entries(entries: list[Any], data: bytes, warnings: list[str], exc: Any) -> list[Any]:
    """A document that is not well-formed: keep the entries whose end tag it holds."""
    problem = f"not well-formed XML ({_one_line(exc)})"
    ends = len(_ENTRY_END.findall(data))
    if entries and ends < len(entries):
        dropped = len(entries) - ends
        entries = entries[:ends]
        problem += f"; dropped {_count(dropped, 'incomplete entry', 'incomplete entries')}"
    if entries:
        warnings.append(f"{problem}; kept {_count(len(entries), 'entry', 'entries')}")
    else:
        warnings.append(problem)
    return entries


def _no_entries(parsed: Any, data: bytes, headers: Mapping[str, str]) -> str | None:
    """Why a document without entries is an error; None for a well-formed, empty feed."""
    if parsed.get("version") and not parsed.get("bozo"):
        return None
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if _HTML.search(data, 0, 2048) or content_type in _HTML_TYPES:
        return "not a feed: got an HTML page"
    if parsed.get("version"):
        return f"no entries: not well-formed XML ({_one_line(parsed.get('bozo_exception'))})"
    return "not a feed: no RSS, RDF or Atom document found"


def _note_repeated_keys(items: tuple[RawItem, ...], warnings: list[str]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for item in items:
        if item.key is not None:
            if item.key in seen:
                repeated.append(item.key)
            seen.add(item.key)
    if repeated:
        warnings.append(
            f"{_count(len(repeated), 'entry repeats', 'entries repeat')} a guid used earlier"
            f" in the feed (e.g. {repeated[0][:100]!r}); the store keeps the first of each,"
            " and a later copy only fills in what it lacks"
        )


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _one_line(problem: object) -> str:
    """An exception (feedparser's bozo_exception included) as one short line."""
    if isinstance(problem, SAXParseException):
        line, column = problem.getLineNumber(), problem.getColumnNumber()
        text = f"line {line}, column {column}: {problem.getMessage()}"
    elif isinstance(problem, Exception):
        text = f"{type(problem).__name__}: {problem}"
    else:
        text = str(problem)
    return " ".join(text.split())[:200]


# -- entries -------------------------------------------------------------------------


def _raw_item(
    source: str, url: str, index: int, entry: dict[str, Any], html_titles: bool = False
) -> RawItem:
    """One feedparser entry as a RawItem.  ``dict.get`` bypasses FeedParserDict's
    aliases (``updated`` silently falls back to ``published`` with a warning).
    ``html_titles``: a plain-text title is read as HTML all the same (RSS)."""
    key = _key(entry)
    title_detail = dict.get(entry, "title_detail")
    title = dict.get(entry, "title")
    if (
        html_titles
        and isinstance(title_detail, dict)
        and title_detail.get("type") == "text/plain"
        and isinstance(title, str)
        and _TAG_START.search(title)
    ):
        title_detail = {**title_detail, "type": "text/html"}
    summary, base = _summary(entry)
    published = _when(entry, "published") or _when(entry, "updated")
    updated = _when(entry, "updated")
    return RawItem(
        source=source,
        where=f"{url} entry {index}",
        key=key,
        title=_html_of(title, title_detail) or None,
        title_is_html=True,
        link=_link(entry, key, url),
        summary=summary,
        summary_is_html=True,
        published=published if isinstance(published, datetime) else None,
        published_date=published if not isinstance(published, datetime) else None,
        updated=updated if isinstance(updated, datetime) else None,
        categories=_categories(entry),
        authors=_authors(entry),
        base_url=_absolute(base, url) if base else url,
    )


def _key(entry: dict[str, Any]) -> str | None:
    """The guid as written.  feedparser resolves a guid it takes for a permalink
    against the base in scope: that is undone (against the entry's xml:base, when the
    document gives one, so "dup" under xml:base="/blog/" is still "dup")."""
    key = _text(dict.get(entry, "id"))
    if not key or not key.startswith(_STAND_IN_ORIGIN):
        return key or None
    title = dict.get(entry, "title_detail")
    base = _text(title.get("base")) if isinstance(title, dict) else None
    if base and base.startswith(_STAND_IN_ORIGIN):
        directory = base[: base.rfind("/") + 1]
        if key.startswith(directory) and len(key) > len(directory):
            return key[len(directory) :]
    return _relative(key) or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _relative(uri: str) -> str | None:
    """The relative reference that feedparser resolved against the stand-in base to get
    ``uri``; None when ``uri`` was absolute in the document."""
    if not uri.startswith(_STAND_IN_ORIGIN):
        return None
    rest = uri[len(_STAND_IN_ORIGIN) :]
    if not rest:
        return "/"
    if rest[0] not in "/?#":
        return None
    for prefix, up in _STAND_IN_LEVELS:
        if rest.startswith(prefix):
            return up + rest[len(prefix) :]
    return rest  # a path from the root


def _absolute(uri: str, url: str) -> str | None:
    """``uri`` as feedparser returned it (resolved against the stand-in base, or left
    relative), resolved against the feed's real URL instead."""
    relative = _relative(uri)
    if relative is None:
        if _SCHEME.match(uri):
            return uri
        relative = uri
    try:
        return urljoin(url, relative)
    except ValueError:
        return None


def _link(entry: dict[str, Any], key: str | None, url: str) -> str | None:
    link = _text(dict.get(entry, "link"))
    if not link:
        return None
    if dict.get(entry, "guidislink") and link == dict.get(entry, "id"):
        # An RSS guid without isPermaLink="false" is taken for the link by feedparser;
        # a guid such as "12345" is no URL, so it gives no link.
        return link if key and key.lower().startswith(("http://", "https://")) else None
    return _absolute(link, url)


def _summary(entry: dict[str, Any]) -> tuple[str | None, str | None]:
    """The longer of the first content and the summary, as HTML, and its xml:base."""
    summary = _html_of(dict.get(entry, "summary"), dict.get(entry, "summary_detail"))
    contents = dict.get(entry, "content")
    content = contents[0] if isinstance(contents, list) and contents else None
    if isinstance(content, dict):
        value = _html_of(content.get("value"), content)
        if value and len(value) >= len(summary or ""):
            return value, _text(content.get("base"))
    details = (dict.get(entry, "summary_detail"), content, dict.get(entry, "title_detail"))
    bases = (_text(detail.get("base")) for detail in details if isinstance(detail, dict))
    return summary or None, next((base for base in bases if base), None)


def _html_of(value: Any, detail: Any) -> str | None:
    """A text construct's value as HTML: plain text is escaped, other types dropped."""
    if not isinstance(value, str):
        return None
    kind = detail.get("type", "text/html") if isinstance(detail, dict) else "text/html"
    if kind in _HTML_TYPES:
        return value
    if isinstance(kind, str) and kind.startswith("text/"):
        return html.escape(value, quote=False)
    return None


def _categories(entry: dict[str, Any]) -> tuple[str, ...]:
    tags = dict.get(entry, "tags")
    if not isinstance(tags, list):
        return ()
    # Atom's label is meant for people; its term (and RSS's category) is what there is else.
    terms = (tag.get("label") or tag.get("term") for tag in tags if isinstance(tag, dict))
    return tuple(term for term in terms if isinstance(term, str) and term.strip())


def _authors(entry: dict[str, Any]) -> tuple[str, ...]:
    authors = dict.get(entry, "authors")
    names = (
        [a.get("name") for a in authors if isinstance(a, dict)] if isinstance(authors, list) else []
    )
    found = tuple(name for name in names if isinstance(name, str) and name.strip())
    if not found:
        author = _text(dict.get(entry, "author"))
        found = (author,) if author and author.strip() else ()
    return found


def _when(entry: dict[str, Any], name: str) -> datetime | date | None:
    """feedparser's parsed date (naive UTC) as an aware datetime, or the calendar date
    when the document gave a date without a time of day (normalize then gives it the
    source's time of day, as for the archive); None when absent or implausible."""
    parsed = dict.get(entry, f"{name}_parsed")
    raw = dict.get(entry, name)
    if not isinstance(raw, str) or not _plausible(raw):
        return None
    if parsed is None:
        return _rfc822_without_zone(raw)
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    return moment.date() if _DATE_ONLY.fullmatch(raw.strip()) else moment


def _rfc822_without_zone(raw: str) -> datetime | None:
    """An RFC 822 date without a zone ("Wed, 03 Jan 2024 10:00:00"), which feedparser
    cannot read when it names the weekday: UTC, as feedparser takes other naive dates."""
    if not _RFC822_NO_ZONE.fullmatch(raw.strip()):
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).replace(tzinfo=UTC)
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def _plausible(raw: str) -> bool:
    """False for date strings feedparser misreads rather than rejects: impossible days
    it rolls over ("2024-02-30"), signed or week-numbered years, bare digits (epoch
    seconds; YYYYMMDD[hhmm[ss]] is fine), and UTC offsets beyond 14 hours."""
    raw = raw.strip()
    if raw.startswith(("+", "-")) or _WEEK_DATE.match(raw):
        return False
    if raw.isdigit():
        if len(raw) not in (8, 12, 14):
            return False
        day = _COMPACT_DAY.match(raw)
    else:
        day = _ISO_DAY.match(raw)
    if day:
        try:
            date(int(day[1]), int(day[2]), int(day[3]))
        except ValueError:
            return False
    offset = _OFFSET.search(raw)
    return offset is None or int(offset[3]) < 60 and int(offset[2]) * 60 + int(offset[3]) <= 14 * 60
