"""RawItem -> Normalized: clean text, sanitize HTML, fix dates; pure.

Titles become plain text (NFC, entities decoded, whitespace collapsed, characters
XML 1.0 forbids removed); summaries become sanitized HTML; dates become
timezone-aware UTC.  Identity (guid, keys) is not decided here but in
``identity``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import nh3

from coopfeed.types import RawItem, pickled_as_fields

# Characters XML 1.0 forbids, plus DEL and the C1 controls (allowed but never wanted),
# lone surrogates and the non-characters U+FFFE/U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: A tag holds no "<": a run of "<" without ">" is text (and matching stays linear).
_TAGS = re.compile(r"<[^<>]*>")
#: Elements whose content is code, not text: dropped with their content (the tempered
#: dot stops at the next script or style tag, so matching stays linear).
_SCRIPTS = re.compile(
    r"<(script|style)\b[^<>]*>(?:(?!</?(?:script|style)\b).)*</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
_SPACE = re.compile(r"\s+")
#: An archive date gets this time of day in the source's timezone (noon keeps the
#: calendar date in UTC for every timezone within 11 hours of it).
DATE_TIME_OF_DAY = time(12, 0)
#: A date later than this past the time an item is seen is clamped to that time.
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on field sizes (characters), so one hostile entry cannot bloat a feed."""

    title: int = 1_000
    summary: int = 100_000
    categories: int = 20
    authors: int = 20


DEFAULT_LIMITS = Limits()


@pickled_as_fields
@dataclass(frozen=True, slots=True)
class Normalized:
    """A RawItem's fields after normalization; identity is added later."""

    source: str
    where: str
    key: str | None
    title: str
    link: str | None
    summary: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...]
    authors: tuple[str, ...]
    day: date | None  # the calendar date, for sources whose dates have no time


def clean_text(text: str) -> str:
    """NFC, with every character XML 1.0 forbids (and C1/DEL) removed."""
    text = _FORBIDDEN.sub("", text)
    return unicodedata.normalize("NFC", text)


def plain_text(text: str, *, decode_html: bool, limit: int) -> str:
    """A one-line plain-text string: tags stripped and entities decoded if asked."""
    if decode_html:
        text = html.unescape(_TAGS.sub(" ", _SCRIPTS.sub(" ", text)))
    text = _SPACE.sub(" ", clean_text(text)).strip()
    return _truncate(text, limit)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "\u2026"


def text_to_html(text: str, limit: int) -> str:
    """Plain-text paragraphs (blank-line separated) -> escaped ``<p>`` elements."""
    return _at_most(limit, clean_text(text)[:limit], _paragraphs)


def _paragraphs(text: str) -> str:
    paragraphs = [_SPACE.sub(" ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)


def _at_most(limit: int, text: str, render: Callable[[str], str]) -> str:
    """``render(text)``, rendering less of ``text`` until the result (which escaping and
    added attributes make longer than the text) has at most ``limit`` characters."""
    result = render(text)
    while len(result) > limit:
        text = text[: min(len(text) - 1, len(text) * limit // len(result))]
        result = render(text)
    return result


def sanitize_html(fragment: str, base_url: str | None, limit: int) -> str:
    """Allowlist-sanitize an HTML fragment (no script, style, event attributes,
    javascript:/data: URLs); relative URLs are made absolute against ``base_url``."""
    attribute_filter = _absolute_urls(base_url) if base_url else None

    def clean(text: str) -> str:
        cleaned = nh3.clean(
            text,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            attribute_filter=attribute_filter,
        )
        # nh3 decodes character references: "&#x1b;" comes out as a raw ESC.
        return clean_text(cleaned).strip()

    return _at_most(limit, clean_text(fragment)[:limit], clean)


def _absolute_urls(base_url: str) -> Callable[[str, str, str], str | None]:
    def absolute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src", "cite") and not _joins_as_is(value):
            return urljoin(base_url, value)
        return value

    return absolute


#: An absolute http(s) URL with a host, without ";" (path parameters), without a "?" or
#: "#" that nothing follows, and without square brackets (IPv6 hosts, which urlsplit
#: checks): see _joins_as_is.
_ABSOLUTE = re.compile(r"https?://[^/?#;\[\]]+(?:/[^?#;]*)?(?:\?[^#]+)?(?:#.+)?")


def _joins_as_is(url: str) -> bool:
    """Whether ``urljoin(base, url)`` is ``url`` for every base: an absolute http(s) URL
    of printable ASCII that ``urlunsplit(urlsplit(url))`` gives back as it is (it drops
    an empty query or fragment and lowercases the scheme).  Most links in summaries are
    such URLs, and joining them took a tenth of normalizing the bench's entries."""
    return url.isascii() and url.isprintable() and " " not in url and bool(_ABSOLUTE.fullmatch(url))


def to_utc(value: datetime | date, timezone: str) -> datetime:
    """A datetime in UTC; a naive one is taken as ``timezone``; a date gets noon there."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, DATE_TIME_OF_DAY)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def normalize(
    raw: RawItem,
    *,
    now: datetime,
    timezone: str,
    default_category: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> Normalized | None:
    """Normalize one RawItem; None when nothing readable is left of its title."""
    title = plain_text(raw.title or "", decode_html=raw.title_is_html, limit=limits.title)
    if not title:
        return None
    published, day = _published(raw, now, timezone)
    updated = to_utc(raw.updated, timezone) if raw.updated else published
    updated = max(min(updated, now + FUTURE_TOLERANCE), published)
    if raw.summary is None:
        summary = ""
    elif raw.summary_is_html:
        summary = sanitize_html(raw.summary, raw.base_url or raw.link, limits.summary)
    else:
        summary = text_to_html(raw.summary, limits.summary)
    # The source's own labels: [categories] aliases map them when publishing, so that
    # renaming a category moves stored items too.
    labels = [plain_text(c, decode_html=True, limit=200) for c in raw.categories]
    categories = _unique(labels) or _unique(
        [plain_text(default_category, decode_html=False, limit=200)]
    )
    authors = _unique(plain_text(a, decode_html=True, limit=200) for a in raw.authors)
    return Normalized(
        source=raw.source,
        where=raw.where,
        key=raw.key,
        title=title,
        link=_link(raw.link),
        summary=summary,
        published=published,
        updated=updated,
        categories=categories[: limits.categories],
        authors=authors[: limits.authors],
        day=day,
    )


def _published(raw: RawItem, now: datetime, timezone: str) -> tuple[datetime, date | None]:
    """The publication time, and the calendar date when the source gave only a date."""
    if raw.published is not None:
        value, day = to_utc(raw.published, timezone), None
    elif raw.published_date is not None:
        value, day = to_utc(raw.published_date, timezone), raw.published_date
    else:
        return now, None
    if value > now + FUTURE_TOLERANCE:
        return now, None
    return value, day


def _link(link: str | None) -> str | None:
    if not link:
        return None
    link = clean_text(link).strip()
    if not re.match(r"^https?://[^\s/]+", link, re.IGNORECASE) or re.search(r"\s", link):
        return None
    return link


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return tuple(seen)
