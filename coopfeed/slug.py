"""Category title -> file-name-safe slug (DESIGN 9).

"Spotlight Interviews with Co-operators" -> "spotlight-interviews-with-co-operators".
A slug is ASCII letters, digits and single dashes: it cannot hold a path separator,
cannot be empty for a title with a letter or digit, and never names a device file
(Windows' CON, NUL, COM1 ...) or a file coopfeed publishes itself.
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

_OTHER = re.compile(r"[^a-z0-9]+")
MAX_LENGTH = 80
RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "index", "feeds", "all", "healthz"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
)


def slugify(text: str, max_length: int = MAX_LENGTH) -> str:
    """Transliterate to ASCII, lower-case, turn every run of other characters into '-'."""
    ascii_text = anyascii(unicodedata.normalize("NFC", text)).lower()
    slug = _OTHER.sub("-", ascii_text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug


def category_slug(title: str) -> str:
    """The slug of a category's feed files; never empty, never a reserved name."""
    slug = slugify(title)
    if not slug:
        return "category"
    if slug in RESERVED:
        return f"{slug}-category"
    return slug
