"""Normalized -> Candidate: the keys that decide whether two items are one story,
and the guid and anchor a new item is published under (DESIGN 5); pure.

The key functions are versioned (:data:`KEY_VERSION`): a stored guid is never
recomputed, and a change to how keys are made must come with a store migration.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from coopfeed.normalize import Normalized
from coopfeed.slug import category_slug, slugify
from coopfeed.types import pickled_as_fields

KEY_VERSION = 1
#: Absolute URI schemes whose ids are kept as published guids.
GUID_SCHEMES = ("http", "https", "tag", "urn")
#: Fixed date part of tag: URIs minted for remote items without a usable guid.
TAG_DATE = "2026"
_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|_hsenc|_hsmi|yclid|igshid)$", re.I)
_NOT_WORD = re.compile(r"[\W_]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PCHAR = "/:@!$&'()*+,;=-._~"  # what RFC 4151 allows unescaped in a tag's specific part
#: What XML 1.0 forbids (and C1/DEL): a guid kept as written must not hold them.
_UNPUBLISHABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@pickled_as_fields
@dataclass(frozen=True, slots=True)
class Candidate:
    """A normalized item with its identity: what the store matches and inserts."""

    item: Normalized
    key: str  # identity within its source
    guid: str  # the guid it gets if it turns out to be new
    title_key: str
    link_key: str | None
    anchor: str
    aliases: tuple[str, ...] = ()  # the other keys it could be known by (identity policies)


def title_key(title: str) -> str:
    """Case, accents' composition, punctuation and spacing folded away."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def canonical_url(url: str) -> str | None:
    """A URL's form for comparison: scheme and host lower-cased, default port,
    fragment and tracking parameters dropped.  None when it is no http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        ]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def is_absolute_id(value: str) -> bool:
    """True for an id usable as a published guid as it is (http(s), tag, urn)."""
    scheme, sep, rest = value.partition(":")
    return bool(sep and rest) and scheme.lower() in GUID_SCHEMES and not re.search(r"\s", value)


def archive_candidate(item: Normalized, authority: str) -> Candidate:
    """Archive items: keyed and tagged by date, category and title (never summary)."""
    day = item.day or item.published.date()
    category = category_slug(item.categories[0]) if item.categories else "uncategorized"
    tkey = title_key(item.title)
    return Candidate(
        item=item,
        key=f"{day.isoformat()}|{category}|{tkey}",
        guid=f"tag:{authority},{day.isoformat()}:{category}/{_title_slug(item.title, tkey)}",
        title_key=tkey,
        link_key=canonical_url(item.link) if item.link else None,
        anchor=_anchor(day, item.title, tkey),
    )


#: How a source's items are told apart (``identity`` in a source's configuration).
IDENTITY_POLICIES = ("guid", "link", "title-date")


def feed_candidate(item: Normalized, authority: str, policy: str = "guid") -> Candidate:
    """Remote items: keyed on the raw guid, else the canonical link, else title and date
    (``policy`` "link" starts at the link, "title-date" at title and date, for sources
    whose guids or links are broken).

    The published guid is the item's own when it is an absolute URI, else a tag:
    URI of the source name and key, so it never depends on the feed's URL.  Every
    key the item could have is kept as an alias, so switching the policy later
    finds the items already stored.
    """
    tkey = title_key(item.title)
    link_key = canonical_url(item.link) if item.link else None
    day = item.day or item.published.date()
    raw = _UNPUBLISHABLE.sub("", item.key or "").strip()
    by_title = (f"title|{day.isoformat()}|{tkey}", f"{day.isoformat()}/{tkey}")
    keys = {
        "guid": (f"id|{raw}", raw) if raw else None,
        "link": (f"link|{link_key}", link_key) if link_key else None,
        "title-date": by_title,
    }
    order = IDENTITY_POLICIES[IDENTITY_POLICIES.index(policy) :]
    key, specific = next(pair for name in order if (pair := keys[name]) is not None)
    if policy == "guid" and raw and is_absolute_id(raw):
        guid = raw
    else:
        name, specific = quote(item.source, safe=""), quote(specific, safe=_PCHAR)
        guid = f"tag:{authority},{TAG_DATE}:{name}/{specific}"
    aliases = tuple(pair[0] for pair in keys.values() if pair is not None and pair[0] != key)
    return Candidate(
        item=item,
        key=key,
        guid=guid,
        title_key=tkey,
        link_key=link_key,
        anchor=_anchor(day, item.title, tkey),
        aliases=aliases,
    )


def _title_slug(title: str, tkey: str) -> str:
    slug = slugify(title, max_length=100)
    if not slug or len(slugify(title, max_length=10_000)) > 100:
        slug = f"{slug}-{_digest(tkey)}".strip("-")
    return slug


def _anchor(day: date, title: str, tkey: str) -> str:
    slug = slugify(title, max_length=50)
    return f"{day.isoformat()}-{slug}-{_digest(tkey)[:6]}" if slug else f"{day}-{_digest(tkey)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
