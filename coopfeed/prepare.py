"""A feed's body or a source's raw items in, entries made ready to store out: the part of
a run that worker processes do (:mod:`coopfeed.workers`).

It imports what parsing and normalizing need and nothing of the store or the HTTP
client, so that a worker process holds no more than that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from coopfeed.config import SourceConfig
from coopfeed.identity import Candidate, archive_candidate, feed_candidate
from coopfeed.normalize import Limits, normalize
from coopfeed.sources.feed import parse_feed
from coopfeed.types import RawItem, SourceResult


@dataclass(frozen=True, slots=True)
class Prepared:
    """A source's entries made ready to store, and a message for each entry skipped."""

    candidates: tuple[Candidate, ...] = ()
    skipped: tuple[str, ...] = ()


#: A source's result and its entries made ready, from :func:`parse_and_prepare`.
Parsed = tuple[SourceResult, Prepared]


def parse_and_prepare(
    source: SourceConfig,
    body: bytes,
    url: str,
    headers: Mapping[str, str],
    now: datetime,
    limits: Limits,
    tag_authority: str,
) -> Parsed:
    """A feed's body -> its result (without the items) and its entries made ready to
    store: the part of a run that worker processes do."""
    result = parse_feed(source.name, body, url=url, headers=headers)
    return replace(result, items=()), prepare(source, result.items, now, limits, tag_authority)


def prepare(
    source: SourceConfig,
    items: Sequence[RawItem],
    now: datetime,
    limits: Limits,
    tag_authority: str,
) -> Prepared:
    """RawItems -> Candidates; an unreadable entry is skipped (and said why)."""
    candidates, skipped = [], []
    for raw in items:
        item = normalize(
            raw,
            now=now,
            timezone=source.timezone,
            default_category=source.category or "News",
            limits=limits,
        )
        if item is None:
            skipped.append(f"{raw.where or source.name}: skipped entry: no readable title")
            continue
        if source.type == "archive":
            candidates.append(archive_candidate(item, tag_authority))
        else:
            candidates.append(feed_candidate(item, tag_authority, source.identity))
    return Prepared(tuple(candidates), tuple(skipped))
