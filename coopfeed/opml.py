"""OPML subscription lists -> ``[[sources]]`` tables appended to the configuration.

``read_opml`` turns an OPML file into (name, url, category) entries (a nested
outline's text is the category of the feeds inside it); ``import_opml`` appends
the feeds that are not configured yet to config.toml, keeping its comments, and
checks the result loads before it replaces the file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from coopfeed.config import load_config
from coopfeed.exceptions import ConfigError
from coopfeed.identity import canonical_url
from coopfeed.slug import slugify

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    url: str
    category: str


def read_opml(path: Path) -> list[Subscription]:
    """Every outline with an xmlUrl, in document order; ConfigError if unreadable."""
    try:
        root = etree.fromstring(path.read_bytes(), _PARSER)
    except OSError as e:
        raise ConfigError(f"cannot read OPML file: {e.strerror}", file=str(path)) from None
    except etree.XMLSyntaxError as e:
        raise ConfigError(f"not an OPML file: {e}", file=str(path), line=e.lineno) from None
    if root.tag != "opml":
        raise ConfigError(f"not an OPML file: the root is <{root.tag}>", file=str(path))
    found = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        parent = outline.getparent()
        category = ""
        if parent is not None and parent.tag == "outline":
            category = parent.get("text") or parent.get("title") or ""
        title = outline.get("title") or outline.get("text") or url
        found.append(Subscription(" ".join(title.split()), url, " ".join(category.split())))
    return found


def import_opml(config_file: Path, opml_file: Path) -> list[Subscription]:
    """Append the OPML file's feeds that are not configured yet; returns them."""
    config = load_config(config_file)
    known_urls = {_key(s.url) for s in config.sources if s.url}
    names = {s.name for s in config.sources}
    added = []
    for subscription in read_opml(opml_file):
        if _key(subscription.url) in known_urls or not _is_web(subscription.url):
            continue
        name = _unique_name(subscription.name, subscription.url, names)
        names.add(name)
        known_urls.add(_key(subscription.url))
        added.append(Subscription(name, subscription.url, subscription.category))
    if added:
        _append(config_file, "".join(_table(s) for s in added))
    return added


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _key(url: str) -> str:
    return canonical_url(url) or url.strip()


def _unique_name(title: str, url: str, taken: set[str]) -> str:
    base = slugify(title, max_length=60) or slugify(url, max_length=60) or "feed"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def _table(subscription: Subscription) -> str:
    lines = [
        "",
        "[[sources]]",
        f"name = {_toml_string(subscription.name)}",
        'type = "feed"',
        f"url = {_toml_string(subscription.url)}",
    ]
    if subscription.category:
        lines.append(f"category = {_toml_string(subscription.category)}")
    return "\n".join(lines) + "\n"


def _append(config_file: Path, text: str) -> None:
    """Write the extended file beside the old one, check it loads, then replace."""
    old = config_file.read_text(encoding="utf-8")
    new = old if old.endswith("\n") or not old else old + "\n"
    fd, temp = tempfile.mkstemp(prefix=".config.", suffix=".toml", dir=config_file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new + text)
        load_config(Path(temp))
        os.chmod(temp, config_file.stat().st_mode & 0o777)
        os.replace(temp, config_file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
