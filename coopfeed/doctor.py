"""What looks wrong, in plain sentences: the configuration, the store's source states,
its items and the output folder's files in; findings out.  Reads only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from coopfeed.config import Config
from coopfeed.publish import MANIFEST
from coopfeed.store import SourceState
from coopfeed.types import Item

#: A source failing for longer than this is reported.
FAILING_FOR = timedelta(days=1)
#: A category whose newest item is older than this is reported.
QUIET_FOR = timedelta(days=90)
#: A date this far past the time it is checked is reported.
FUTURE_SLACK = timedelta(days=1)


def diagnose(
    config: Config,
    states: Mapping[str, SourceState],
    items: Sequence[Item],
    files: Iterable[str],
    published: Iterable[str],
    now: datetime,
) -> list[str]:
    """Every finding, one sentence each; empty when all looks well."""
    return [
        *_sources(config, states, now),
        *_categories(config, items, now),
        *_files(config, set(files), set(published)),
        *_future(items, now),
    ]


def _sources(config: Config, states: Mapping[str, SourceState], now: datetime) -> list[str]:
    found = []
    for source in config.sources:
        state = states.get(source.name)
        if state is None or state.last_fetch is None:
            found.append(f"Source {source.name!r} has never been fetched.")
            continue
        if not state.failures:
            continue
        since = state.last_success
        if since is None or now - since > FAILING_FOR:
            when = f"since {since:%Y-%m-%d}" if since else "every time it was tried"
            found.append(
                f"Source {source.name!r} ({source.location}) has failed {when} "
                f"({state.failures} times in a row); the last error was: {state.last_error}."
            )
    configured = {source.name for source in config.sources}
    for name in sorted(set(states) - configured):
        found.append(
            f"The store remembers source {name!r}, which the configuration no "
            "longer has; its items stay published."
        )
    return found


def _categories(config: Config, items: Sequence[Item], now: datetime) -> list[str]:
    newest: dict[str, datetime] = {}
    for item in items:
        for label in item.categories:
            category = config.canonical_category(label)
            newest[category] = max(newest.get(category, item.published), item.published)
    return [
        f"Category {category!r} has had no new item since {when:%Y-%m-%d}."
        for category, when in sorted(newest.items())
        if now - when > QUIET_FOR
    ]


def _files(config: Config, files: set[str], published: set[str]) -> list[str]:
    strays = sorted(name for name in files - published if not name.startswith("."))
    if not published:
        return [f"The output folder {config.output_dir} has not been published to yet."]
    return [
        f"{config.output_dir / name} is not published by coopfeed (a leftover?)." for name in strays
    ]


def _future(items: Sequence[Item], now: datetime) -> list[str]:
    return [
        f"Item {item.guid} ({item.title!r}) is dated {item.published:%Y-%m-%d %H:%M}Z, "
        "in the future."
        for item in items
        if item.published > now + FUTURE_SLACK
    ]


def published_files(output_dir: Path) -> tuple[list[str], list[str]]:
    """The files in the output folder, and those its last publish wrote."""
    if not output_dir.is_dir():
        return [], []
    files = [path.name for path in output_dir.iterdir() if path.is_file()]
    manifest = output_dir / MANIFEST
    published = manifest.read_text(encoding="utf-8").split() if manifest.exists() else []
    return files, published


__all__ = ["diagnose", "published_files"]
