"""config.toml -> Config: reads and validates the configuration, never fetches.

Every mistake raises :class:`ConfigError` naming the file, the key and what was
expected; unknown keys are errors.  Paths are relative to the file's folder.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coopfeed.dedupe import MatchPolicy
from coopfeed.exceptions import ConfigError
from coopfeed.filters import FIELDS, NO_FILTER, Filter, Rule
from coopfeed.identity import IDENTITY_POLICIES
from coopfeed.normalize import Limits
from coopfeed.slug import slugify
from coopfeed.sources.http import FetchSettings
from coopfeed.types import Site

DEFAULT_CONFIG = "config.toml"
SOURCE_TYPES = ("archive", "feed")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
MAX_DURATION = 10 * 365 * 86400.0  # ten years: beyond it a "duration" is a typo
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One ``[[sources]]`` table."""

    name: str
    type: str
    path: str = ""
    url: str = ""
    category: str = ""
    timezone: str = "UTC"
    interval: float | None = None
    cron: str | None = None
    identity: str = "guid"
    filter: Filter = NO_FILTER

    @property
    def location(self) -> str:
        return self.url or self.path


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    file: Path
    site: Site
    output_dir: Path
    database: str
    tag_authority: str
    timezone: str
    min_interval: float
    max_interval: float
    categories: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchSettings = FetchSettings()
    category_filters: Mapping[str, Filter] = field(default_factory=dict)
    folded_categories: Mapping[str, str] = field(default_factory=dict)  # casefolded aliases
    matching: MatchPolicy = MatchPolicy()
    limits: Limits = Limits()

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def source(self, name: str) -> SourceConfig:
        return self.sources_by_name[name]

    @property
    def sources_by_name(self) -> dict[str, SourceConfig]:
        return {source.name: source for source in self.sources}

    def canonical_category(self, label: str) -> str:
        """Map a source's label to its canonical category title through the aliases."""
        label = " ".join(label.split())
        return self.categories.get(label) or self.folded_categories.get(label.casefold(), label)


def config_path(given: str | None) -> Path:
    """The file to read: ``-c``, else ``$COOPFEED_CONFIG``, else ``./config.toml``."""
    return Path(given or os.environ.get("COOPFEED_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raise ConfigError on any mistake."""
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (use -c PATH or set COOPFEED_CONFIG)", file=name) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read: {e}", file=name) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"at line (\d+)", str(e))
        raise ConfigError(
            f"not valid TOML: {e}", file=name, line=int(line.group(1)) if line else None
        ) from None
    return _build(data, path.resolve(), name)


def parse_duration(value: object) -> float:
    """ "30m" -> 1800.0; a bare number is seconds.  Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(value)
    if not 0 < seconds <= MAX_DURATION:  # also refuses nan and inf
        raise ValueError(value)
    return seconds


class _Table:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, data: object, key: str, file: str):
        if not isinstance(data, dict):
            raise ConfigError(f"expected a table, got {_kind(data)}", file=file, key=key)
        self.data: dict[str, Any] = data
        self.key = key
        self.file = file
        self.seen: set[str] = set()

    def error(self, key: str, message: str) -> ConfigError:
        full = f"{self.key}.{key}" if self.key and key else self.key or key
        return ConfigError(message, file=self.file, key=full)

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"expected {_NAMES[kind]}, got {_kind(value)} {value!r}")
        return value

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        value: str = self.get(key, str, default)
        if required and not value.strip():
            raise self.error(
                key, "expected a non-empty string" + ("" if key in self.data else ", missing")
            )
        return value

    def convert(self, key: str, parse: Callable[[Any], Any], expected: str, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        try:
            return parse(self.data[key])
        except (ValueError, TypeError, KeyError):
            raise self.error(key, f"expected {expected}, got {self.data[key]!r}") from None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(
                unknown[0], f"unknown key (known keys: {', '.join(sorted(self.seen))})"
            )


_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def _kind(value: object) -> str:
    for kind, label in [
        (bool, "a boolean"),
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
        (list, "an array"),
        (dict, "a table"),
    ]:
        if isinstance(value, kind):
            return label
    return type(value).__name__


#: Names people write that the IANA database lacks.  DESIGN 9's own example says
#: "Europe/Geneva", which is no IANA zone: Geneva keeps Switzerland's time.
TIMEZONE_ALIASES = {"Europe/Geneva": "Europe/Zurich"}


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    name = TIMEZONE_ALIASES.get(value, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(value) from None
    return name


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(value)
    return value if value.endswith("/") else value + "/"


def _tag_authority(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"[A-Za-z0-9.-]+|[^@\s]+@[A-Za-z0-9.-]+", value
    ):
        raise ValueError(value)
    return value.lower()


def _build(data: dict[str, Any], file: Path, name: str) -> Config:
    top = _Table(data, "", name)
    site = _Table(top.get("site", dict, {}), "site", name)
    title = site.text("title", "Cooperative news")
    description = site.text("description", "News, stories and statements on cooperatives")
    base_url = site.convert("base_url", _base_url, "an http(s) URL", "http://127.0.0.1:8080/")
    output_dir = site.text("output_dir", "feeds", required=True)
    database = os.environ.get("COOPFEED_DATABASE_URL") or site.text(
        "database", "coopfeed.sqlite3", required=True
    )
    items_per_feed = site.get("items_per_feed", int, 50)
    if items_per_feed < 1:
        raise site.error("items_per_feed", f"expected a positive integer, got {items_per_feed}")
    authority = site.convert(
        "tag_authority",
        _tag_authority,
        "a domain name such as 'example.org' or an email address",
        "coopfeed.example.org",
    )
    timezone = site.convert(
        "timezone", _timezone, "an IANA timezone such as 'Europe/Geneva'", "UTC"
    )
    interval_words = "a duration such as '90s', '5m', '6h' or '1d'"
    min_interval = site.convert("min_interval", parse_duration, interval_words, 300.0)
    max_interval = site.convert("max_interval", parse_duration, interval_words, 86400.0)
    if min_interval > max_interval:
        raise site.error("min_interval", "must not be greater than max_interval")
    hub = site.text("hub", "")
    if hub:
        site.convert("hub", _base_url, "an http(s) URL", "")
    author = site.text("author", "") or title
    language = site.text("language", "en")
    site.done()

    categories = _categories(top.get("categories", dict, {}), name)
    fetch = _fetch(_Table(top.get("fetch", dict, {}), "fetch", name))
    matching = _matching(_Table(top.get("dedupe", dict, {}), "dedupe", name))
    category_filters = _category_filters(top.get("filters", dict, {}), name)
    limits = _limits(_Table(top.get("limits", dict, {}), "limits", name))
    raw_sources = top.get("sources", list, [])
    top.done()
    sources = tuple(
        _source(raw, i, name, file.parent, timezone) for i, raw in enumerate(raw_sources)
    )
    _check_unique(sources, name)
    return Config(
        file=file,
        site=Site(
            title=title,
            description=description,
            base_url=base_url,
            author=author,
            items_per_feed=items_per_feed,
            hub=hub,
            language=language,
        ),
        output_dir=file.parent / output_dir,
        database=_database(database, file.parent),
        tag_authority=authority,
        timezone=timezone,
        min_interval=min_interval,
        max_interval=max_interval,
        categories=categories,
        sources=sources,
        fetch=fetch,
        category_filters=category_filters,
        folded_categories={key.casefold(): value for key, value in categories.items()},
        matching=matching,
        limits=limits,
    )


_DURATION_WORDS = "a duration such as '10s' or '2m'"


def _fetch(table: _Table) -> FetchSettings:
    default = FetchSettings()
    settings = FetchSettings(
        timeout=table.convert("timeout", parse_duration, _DURATION_WORDS, default.timeout),
        deadline=table.convert("deadline", parse_duration, _DURATION_WORDS, default.deadline),
        max_body_size=table.convert(
            "max_body_size",
            parse_size,
            "a size such as '20MiB' or '512KiB'",
            default.max_body_size,
        ),
        max_redirects=_count(table, "max_redirects", default.max_redirects, minimum=0),
        concurrency=_count(table, "concurrency", default.concurrency),
        per_host=_count(table, "per_host", default.per_host),
        user_agent=table.text("user_agent", default.user_agent) or default.user_agent,
        processes=_count(table, "processes", default.processes, minimum=0),
    )
    table.done()
    return settings


def _matching(table: _Table) -> MatchPolicy:
    default = MatchPolicy()
    similarity = table.get("similarity", float, default.similarity)
    if not 0 < similarity <= 1:
        raise table.error(
            "similarity", f"expected a number above 0 and at most 1, got {similarity}"
        )
    policy = MatchPolicy(
        same_title_window=default.same_title_window,
        near_duplicate_window=table.convert(
            "window", parse_duration, "a duration such as '3d'", default.near_duplicate_window
        ),
        similarity=similarity,
    )
    table.done()
    return policy


def _limits(table: _Table) -> Limits:
    default = Limits()
    limits = Limits(
        title=_count(table, "title", default.title, minimum=10),
        summary=_count(table, "summary", default.summary, minimum=10),
        categories=_count(table, "categories", default.categories),
        authors=_count(table, "authors", default.authors),
    )
    table.done()
    return limits


def _count(table: _Table, key: str, default: int, *, minimum: int = 1) -> int:
    value: int = table.get(key, int, default)
    if value < minimum:
        raise table.error(key, f"expected an integer of at least {minimum}, got {value}")
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}


def parse_size(value: object) -> int:
    """ "20MiB" -> 20971520; a bare integer is bytes.  Raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
        if size > 0:
            return size
    raise ValueError(value)


def _database(value: str, base: Path) -> str:
    if "://" in value:
        return value
    return str(base / value)


def _categories(data: dict[str, Any], name: str) -> dict[str, str]:
    result = {}
    for label, title in data.items():
        if not isinstance(title, str) or not slugify(title):
            raise ConfigError(
                f"expected a category title with at least one letter or digit, got {title!r}",
                file=name,
                key=f"categories.{label}",
            )
        result[" ".join(label.split())] = " ".join(title.split())
    return result


def _source(raw: object, index: int, name: str, base: Path, timezone: str) -> SourceConfig:
    table = _Table(raw, f"sources[{index}]", name)
    source_name = table.text("name", required=True)
    if not _SOURCE_NAME.match(source_name):
        raise table.error(
            "name", f"expected letters, digits, '.', '_' or '-' (at most 100), got {source_name!r}"
        )
    table.key = f"sources.{source_name}"
    kind = table.text("type", required=True)
    if kind not in SOURCE_TYPES:
        raise table.error(
            "type", f"expected one of {', '.join(map(repr, SOURCE_TYPES))}, got {kind!r}"
        )
    path = url = ""
    if kind == "archive":
        path = table.text("path", required=True)
        if not _matches(path, base):
            raise table.error(
                "path",
                f"expected a file, a folder or a glob that exists, "
                f"but nothing matches {str(base / path)!r}",
            )
    else:
        url = table.convert("url", _feed_url, "an http(s) URL, a file:// URL or a path", "")
        if not url:
            raise table.error("url", "expected an http(s) URL, a file:// URL or a path, missing")
    interval = table.convert("interval", parse_duration, "a duration such as '30m' or '6h'", None)
    cron = table.convert("cron", _cron, "a five-field cron expression such as '0 */6 * * *'", None)
    if interval is not None and cron is not None:
        raise table.error("cron", "give either interval or cron, not both")
    identity = table.text("identity", "guid")
    if identity not in IDENTITY_POLICIES:
        choices = ", ".join(map(repr, IDENTITY_POLICIES))
        raise table.error("identity", f"expected one of {choices}, got {identity!r}")
    source = SourceConfig(
        identity=identity,
        filter=_filter(table),
        name=source_name,
        type=kind,
        path=path,
        url=url,
        category=" ".join(table.text("category").split()),
        timezone=table.convert("timezone", _timezone, "an IANA timezone", timezone),
        interval=interval,
        cron=cron,
    )
    table.done()
    return source


def _filter(table: _Table) -> Filter:
    """``include``/``exclude`` tables of field = regex (or a list of them), ``max_age``."""
    rules = {kind: _rules(table, kind) for kind in ("include", "exclude")}
    max_age = table.convert("max_age", parse_duration, "a duration such as '90d'", None)
    return Filter(include=rules["include"], exclude=rules["exclude"], max_age=max_age)


def _rules(table: _Table, kind: str) -> tuple[Rule, ...]:
    spec = _Table(table.get(kind, dict, {}), f"{table.key}.{kind}", table.file)
    rules: list[Rule] = []
    for name in FIELDS:
        value = spec.convert(name, _patterns, "a regular expression or a list of them", [])
        rules.extend(Rule(name, pattern) for pattern in value)
    spec.done()
    return tuple(rules)


def _patterns(value: Any) -> list[re.Pattern[str]]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(value)
    try:
        return [re.compile(v) for v in values]
    except re.error as e:
        raise ValueError(f"{value!r} ({e})") from None


def _category_filters(data: dict[str, Any], name: str) -> dict[str, Filter]:
    filters = {}
    for category, raw in data.items():
        table = _Table(raw, f"filters.{category}", name)
        filters[" ".join(category.split())] = _filter(table)
        table.done()
    return filters


def _matches(path: str, base: Path) -> bool:
    full = base / path
    return full.exists() or bool(glob.glob(str(full), recursive=True))


def _feed_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(value)
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.hostname or ""
        if not host or any(ch.isspace() for ch in value) or not _port_ok(parts):
            raise ValueError(value)
        return value
    if parts.scheme == "file" or (len(parts.scheme) <= 1):  # a path (or a Windows drive letter)
        return value
    raise ValueError(value)


def _port_ok(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return True


def _cron(value: Any) -> str:
    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(value, str):
        raise TypeError(value)
    CronTrigger.from_crontab(value)
    return value


def _check_unique(sources: tuple[SourceConfig, ...], name: str) -> None:
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ConfigError(
                f"duplicate source name {source.name!r}",
                file=name,
                key=f"sources.{source.name}.name",
            )
        seen.add(source.name)
