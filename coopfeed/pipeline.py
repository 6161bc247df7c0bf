"""run_once(): the one function that puts the stages together.

Config + Store + now -> RunReport.  Read it top to bottom to follow an item from
``sources`` through ``normalize`` and ``identity`` into the store, and from the
store through ``publish`` into the output folder.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from coopfeed import __version__
from coopfeed.config import Config, SourceConfig
from coopfeed.filters import NO_FILTER, Filter
from coopfeed.prepare import Parsed, Prepared, parse_and_prepare, prepare
from coopfeed.publish import (
    PublishReport,
    Unsettled,
    last_record,
    ping_hub,
    publish_views,
    published_from,
    record_inputs,
)
from coopfeed.publish.changes import views_since
from coopfeed.publish.record import Mark, View, whole_views
from coopfeed.slug import category_slug
from coopfeed.sources import read_archive
from coopfeed.sources.http import (
    FetchRequest,
    FetchResponse,
    FetchSession,
    backoff_delay,
    fetch_all,
)
from coopfeed.store import IngestReport, Published, SourceState, Store
from coopfeed.types import Feed, Item, SourceResult
from coopfeed.workers import Result, WorkerDied, Workers

log = logging.getLogger(__name__)
ALL = "all"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """One source's part of a run."""

    name: str
    error: str | None = None
    not_modified: bool = False
    ingest: IngestReport = field(default_factory=IngestReport)
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one pass did."""

    sources: tuple[SourceOutcome, ...]
    published: PublishReport

    @property
    def failed(self) -> tuple[SourceOutcome, ...]:
        return tuple(outcome for outcome in self.sources if outcome.error)


def run_once(config: Config, store: Store, now: datetime, *, everything: bool = False) -> RunReport:
    """One pass: fetch the due sources (all with ``everything``), ingest, publish."""
    states = store.source_states()
    due = [
        source
        for source in config.sources
        if everything or is_due(source, states.get(source.name) or SourceState(source.name), now)
    ]
    # One set of worker processes parses what is fetched and renders what is published.
    with Workers(config.fetch.processes) as workers, collecting_less():
        outcomes = refresh(config, store, due, now, workers=workers)
        store.forget_titles()  # one pass: its publish needs the memory more
        store.file_titles(config.matching, workers)  # for the next runs' searches
        return RunReport(outcomes, publish_all(config, store, now, workers=workers))


@contextmanager
def collecting_less() -> Iterator[None]:
    """Python's cycle collector runs less often inside (its thresholds are restored at
    the end).  A run builds up long-lived objects (its title index, the items it
    publishes), and every full collection walks all of them: in a cold run of the
    bench, 8 full collections found 25 objects to free and cost about 1.4 s of the
    refresh and 0.5 s of the publish; the peak memory stayed the same."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def is_due(source: SourceConfig, state: SourceState, now: datetime) -> bool:
    """Local archives are read every pass (reading them is cheap and ingesting is
    idempotent); feeds when their next due time has come."""
    if source.type == "archive":
        return True
    return state.next_due is None or state.next_due <= now


def refresh(
    config: Config,
    store: Store,
    due: Sequence[SourceConfig],
    now: datetime,
    chunk: int | None = None,
    workers: Workers | None = None,
) -> tuple[SourceOutcome, ...]:
    """Fetch the given sources (feeds concurrently) and store what each gave, one
    transaction per source, in the order given (committed a group at a time, and
    durable when it returns: :meth:`Store.grouped_writes`).

    Sources go in chunks of :data:`CHUNK`, so that a run holds the bodies and items of
    two chunks at a time, not of every source: while this process stores one chunk,
    worker processes (:mod:`coopfeed.workers`; ``workers``, else ones of its own) parse
    the next."""
    if workers is None:
        with Workers(config.fetch.processes) as workers:
            return refresh(config, store, due, now, chunk=chunk, workers=workers)
    size = chunk or CHUNK
    outcomes: list[SourceOutcome] = []
    waiting: list[tuple[SourceConfig, Pending]] = []
    # One loop, connections kept from chunk to chunk; sources' transactions grouped.
    with FetchSession() as session, store.grouped_writes():
        for start in range(0, len(due), size):
            sources = due[start : start + size]
            started = start_sources(config, store, sources, now, workers, session)
            if waiting:
                outcomes.extend(_store_arrived(config, store, waiting, now))
            waiting = started
        if waiting:
            outcomes.extend(_store_arrived(config, store, waiting, now))
    return tuple(outcomes)


#: How many sources a run fetches before it stores what they gave.
CHUNK = 100


def fetch_sources(
    config: Config, store: Store, due: Sequence[SourceConfig], now: datetime
) -> list[tuple[SourceConfig, Fetched]]:
    """Fetch and parse the given sources in this process; writes nothing, so it needs
    no lock."""
    return list(_arrived(start_sources(config, store, due, now, Workers(0))))


def start_sources(
    config: Config,
    store: Store,
    due: Sequence[SourceConfig],
    now: datetime,
    workers: Workers,
    session: FetchSession | None = None,
) -> list[tuple[SourceConfig, Pending]]:
    """Fetch the given sources (in ``session``, if given) and hand the bodies to be
    parsed to ``workers``; what each source gave is then ``pending.get()``.  Writes
    nothing."""
    known = store.source_states([source.name for source in due])
    states = {source.name: known.get(source.name) or SourceState(source.name) for source in due}
    feeds = [source for source in due if source.type == "feed"]
    requests = [
        FetchRequest(s.name, s.url, states[s.name].etag, states[s.name].last_modified)
        for s in feeds
    ]
    responses = {
        response.source: response
        for response in (
            fetch_all(requests, config.fetch, base_dir=config.base_dir, now=now, session=session)
            if feeds
            else []
        )
    }
    pending: list[Pending] = []
    jobs: list[tuple[Callable[..., Parsed], tuple[Any, ...]]] = []
    for source in due:
        if source.type == "archive":
            result = read_archive(source.name, source.path, config.base_dir)
            items = prepare(source, result.items, now, config.limits, config.tag_authority)
            pending.append(_Ready(Fetched(replace(result, items=()), "ok", prepared=items)))
            continue
        response = responses[source.name]
        fetched, digest = check_response(source, response, states[source.name])
        if digest is None or response.body is None:
            pending.append(_Ready(fetched))
            continue
        arguments = (source, response.body, response.url, response.headers, now)
        jobs.append((parse_and_prepare, (*arguments, config.limits, config.tag_authority)))
        pending.append(_Parsing(fetched, digest))
    parsing = [one for one in pending if isinstance(one, _Parsing)]
    for one, submitted in zip(parsing, workers.submit_all(jobs), strict=True):
        one.result = submitted
    return list(zip(due, pending, strict=True))


def _arrived(
    started: Sequence[tuple[SourceConfig, Pending]],
) -> Iterator[tuple[SourceConfig, Fetched]]:
    """Each source's result, in order, as it arrives."""
    for source, pending in started:
        yield source, pending.get()


def _store_arrived(
    config: Config, store: Store, started: Sequence[tuple[SourceConfig, Pending]], now: datetime
) -> tuple[SourceOutcome, ...]:
    """Store each source's result as it arrives (parsing may still go on for the next)."""
    sources = [source for source, _ in started]
    return store_fetched(config, store, _arrived(started), now, sources=sources)


def store_fetched(
    config: Config,
    store: Store,
    fetched: Iterable[tuple[SourceConfig, Fetched]],
    now: datetime,
    sources: Sequence[SourceConfig] | None = None,
) -> tuple[SourceOutcome, ...]:
    """Store what each source gave, one transaction per source with its new state
    (under the store's lock).

    A source that brought no items (not modified, failed) changes only its own state;
    those states are saved together, in one transaction at the end.  ``sources`` names
    the sources ``fetched`` will give, so that each is stored as soon as it arrives
    (without it, ``fetched`` is read to the end first)."""
    if sources is None:
        fetched = list(fetched)
        sources = [source for source, _ in fetched]
    states = store.source_states([source.name for source in sources])
    outcomes = []
    quiet: list[SourceState] = []
    for source, result in fetched:
        state = states.get(source.name) or SourceState(source.name)
        outcome, new_state = update_source(config, store, source, state, result, now)
        if not result.prepared.candidates:  # else saved with its items
            quiet.append(new_state)
        outcomes.append(outcome)
    if quiet:
        store.save_source_states(quiet)
    return tuple(outcomes)


def publish_all(
    config: Config, store: Store, now: datetime, *, workers: Workers | None = None
) -> PublishReport:
    """Publish every feed from the store; files whose bytes do not change are left alone,
    and only the items that changed since the last publish are read (see
    :func:`publish_store`).

    Archive pages that became full are recorded, so they never change again; with a
    WebSub hub configured, the hub is told of every changed feed (bounded in time).
    Files are rendered by ``workers`` (else by ones of its own, when there are many).
    """
    if workers is None:
        with Workers(config.fetch.processes) as workers:
            return publish_all(config, store, now, workers=workers)
    inputs = publish_inputs(config, store)
    if inputs is not None:
        names = published_from(config.output_dir, inputs)
        if names is not None:  # nothing it would be made from changed: all as it is
            return PublishReport(written=(), unchanged=names, new_pages={}, changed_feeds=())
    report = publish_store(config, store, now, workers, inputs)
    if report.new_pages:
        store.save_archive_pages(report.new_pages)
        # The files show the pages as now recorded (the store's lock is held throughout).
        record_inputs(config.output_dir, publish_inputs(config, store))
    if config.site.hub and report.changed_feeds:
        for error in ping_hub(
            config.site.hub, report.changed_feeds, user_agent=config.fetch.user_agent
        ):
            log.warning("WebSub hub %s: %s", config.site.hub, error)
    return report


def publish_store(
    config: Config, store: Store, now: datetime, workers: Workers | None, inputs: str | None
) -> PublishReport:
    """Publish every feed from the store into the output folder, reading only what
    changed since the last publish into it when its record settles that (see
    :mod:`coopfeed.publish.changes`), and keep the record for the next one.  Archive
    pages that became full are reported, not recorded; ``inputs`` as :func:`publish`."""
    mark: Mark | None = None  # where the store was read, once it is

    def publish_these(views: Sequence[View], stored: Published) -> PublishReport:
        return publish_views(
            views,
            config.site,
            config.output_dir,
            inputs=inputs,
            workers=workers,
            stored=stored,
            mark=mark,
        )

    if not _ages(config):  # else what is shown changes with the time, not the store
        mark = read_mark(config, store)  # before the items: see Store.change_marker
        changes = _changes(config, store, now, mark)
        if changes is not None:
            try:
                return publish_these(*changes)
            except Unsettled as e:
                log.info("publishing every feed: %s", e)
    stored = published(config, store)
    feeds, under = feeds_and_names(config, stored.items, now)
    return publish_these(whole_views(feeds, config.site, store.archive_pages(), under), stored)


def _changes(
    config: Config, store: Store, now: datetime, mark: Mark
) -> tuple[list[View], Published] | None:
    """The views of the feeds after what changed since the last publish into the output
    folder, and the items they loaded (see :mod:`coopfeed.publish.changes`); None when
    only a whole publish can tell them."""
    record = last_record(config.output_dir)
    if record is None:
        return None
    was = record.mark
    if (was.store, was.config) != (mark.store, mark.config) or was.sequence > mark.sequence:
        return None
    if store.change_token(was.sequence) != was.token:  # a store put back from a copy
        return None
    changed = store.changed_guids(was.sequence)
    loaded: list[Published] = []

    def load(guids: Collection[str]) -> list[Item]:
        loaded.append(published(config, store, guids))
        return loaded[-1].items

    views = views_since(
        record,
        changed,
        store.archive_pages(),
        load,
        lambda items: feeds_and_names(config, items, now),
        config.site,
    )
    if views is None:
        log.info("publishing every feed: what changed is more than the last publish settles")
        return None
    return views, loaded[-1]


def read_mark(config: Config, store: Store) -> Mark:
    """Where a publish reads ``store`` from: read before its items, so that what
    changes meanwhile is read again by the next publish."""
    store_id, sequence = store.change_marker()
    return Mark(store_id, sequence, store.change_token(sequence), config_digest(config))


def config_digest(config: Config) -> str:
    """A digest of the configuration and coopfeed's version: what a publish's files are
    made from beside the stored items."""
    return hashlib.blake2b(f"{__version__}\n{config!r}".encode(), digest_size=16).hexdigest()


def _ages(config: Config) -> bool:
    """Whether a ``max_age`` filter hides items as they age."""
    return any(one.max_age is not None for one in _filters(config))


def _category_filter(config: Config, category: str) -> Filter:
    return config.category_filters.get(category, NO_FILTER)


def _filters(config: Config) -> list[Filter]:
    return [source.filter for source in config.sources] + list(config.category_filters.values())


def published(config: Config, store: Store, guids: Collection[str] | None = None) -> Published:
    """The items to publish (those of ``guids`` only, when given), their summaries left
    in the store for the files that are rendered to load (unless a filter reads them)."""
    summaries = any(one.looks_at("summary") for one in _filters(config))
    return store.published(summaries=summaries, guids=guids)


def publish_inputs(config: Config, store: Store) -> str | None:
    """A digest of everything a publish is made from: the store's content revision, the
    configuration and coopfeed's version.  None when the output also depends on the
    time (a ``max_age`` filter hides items as they age)."""
    if _ages(config):
        return None
    key = f"{__version__}\n{store.revision()}\n{config!r}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Fetched:
    """A source's result (its warnings and error; its items are in ``prepared``) with
    what the fetch said about the next one."""

    result: SourceResult
    status: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    retry_after: float | None = None
    max_age: float | None = None
    prepared: Prepared = field(default_factory=Prepared)


def check_response(
    source: SourceConfig, response: FetchResponse, state: SourceState
) -> tuple[Fetched, str | None]:
    """What a fetch gave, and the body's digest when it is to be parsed (None when
    there is nothing to parse: an error, not modified, or a body whose hash says it is
    the one parsed last time)."""
    status = f"HTTP {response.status}" if response.status else "ok"
    base = Fetched(
        SourceResult(source.name),
        status,
        etag=response.etag,
        last_modified=response.last_modified,
        body_hash=state.body_hash,
        retry_after=response.retry_after,
        max_age=response.max_age,
    )
    if response.error:
        return replace(base, result=SourceResult(source.name, error=response.error)), None
    if response.not_modified or response.body is None:
        return replace(base, result=SourceResult(source.name, not_modified=True)), None
    digest = hashlib.sha256(response.body).hexdigest()
    if digest == state.body_hash:
        result = SourceResult(source.name, not_modified=True)
        return replace(base, result=result, status=f"{status}, body unchanged"), None
    return base, digest


class _Ready:
    """A source's result known at once."""

    def __init__(self, fetched: Fetched) -> None:
        self.fetched = fetched

    def get(self) -> Fetched:
        return self.fetched


class _Parsing:
    """A source whose body is being parsed (``result`` is set once it is submitted)."""

    def __init__(self, fetched: Fetched, digest: str) -> None:
        self.fetched = fetched
        self.digest = digest
        self.result: Result[Parsed] | None = None

    def get(self) -> Fetched:
        assert self.result is not None, "never submitted"
        name = self.fetched.result.source
        try:
            result, prepared = self.result.get()
        except WorkerDied as e:
            result, prepared = SourceResult(name, error=f"not parsed: {e}"), Prepared()
        # A body that failed to parse keeps the old hash, so a repaired feed is parsed again.
        body_hash = self.fetched.body_hash if result.error else self.digest
        return replace(self.fetched, result=result, prepared=prepared, body_hash=body_hash)


Pending = _Ready | _Parsing


def update_source(
    config: Config,
    store: Store,
    source: SourceConfig,
    state: SourceState,
    fetched: Fetched,
    now: datetime,
) -> tuple[SourceOutcome, SourceState]:
    """Apply what one source gave in one transaction, which saves the source's new
    state too when it brought items; returns how it went and that state (the caller
    saves it when it brought none)."""
    result = fetched.result
    for warning in result.warnings:
        log.warning("%s", warning)
    candidates = fetched.prepared.candidates
    for message in fetched.prepared.skipped:
        log.warning("%s", message)
    failures = state.failures + 1 if result.error else 0
    new_state = replace(
        state,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_hash=fetched.body_hash,
        last_fetch=now,
        last_success=state.last_success if result.error else now,
        last_status=fetched.status,
        last_error=result.error,
        failures=failures,
        next_due=now + timedelta(seconds=next_delay(config, source, fetched, failures, now)),
        items_seen=state.items_seen if result.not_modified else len(candidates),
    )
    report = IngestReport()
    if candidates:
        report = store.ingest(source.name, candidates, now, config.matching, state=new_state)
    if result.error:
        log.error("source %r (%s): %s", source.name, source.location, result.error)
    else:
        log.info(
            "source %r: %s, %d new, %d merged, %d updated, %d unchanged",
            source.name,
            fetched.status,
            report.new,
            report.merged,
            report.updated,
            report.unchanged,
        )
    outcome = SourceOutcome(
        source.name,
        result.error,
        result.not_modified,
        report,
        len(fetched.prepared.skipped) + len(result.warnings),
    )
    return outcome, new_state


#: How often a feed without ``interval`` or ``cron`` is fetched.
DEFAULT_INTERVAL = 3600.0


def next_delay(
    config: Config, source: SourceConfig, fetched: Fetched, failures: int, now: datetime
) -> float:
    """Seconds until the source is due again: its interval (or cron), at least what
    the server asked for (max-age, ttl, Retry-After), backed off after failures,
    clamped to ``min_interval`` and ``max_interval``."""
    interval = source.interval or DEFAULT_INTERVAL
    if source.cron:
        trigger = CronTrigger.from_crontab(source.cron, timezone=ZoneInfo(source.timezone))
        fire = trigger.get_next_fire_time(None, now)
        interval = (fire - now).total_seconds() if fire else config.max_interval
    if failures:
        delay = backoff_delay(failures, interval, config.max_interval)
        delay = max(delay, fetched.retry_after or 0)
    else:
        ttl = float(fetched.result.extra.get("ttl", 0) or 0)
        delay = max(interval, fetched.max_age or 0, ttl)
    return min(max(delay, config.min_interval), config.max_interval)


def build_feeds(config: Config, items: Sequence[Item], now: datetime) -> list[Feed]:
    """Stored items (newest first) -> one Feed per category slug, plus ``all``.

    Source labels map to categories through ``[categories]`` here, at publish time,
    so a renamed alias moves stored items.  Source and category filters hide items
    (an item hidden from every category leaves ``all`` too).  An item without a link
    of its own links to its anchor on its first shown category's HTML page.
    """
    return feeds_and_names(config, items, now)[0]


def feeds_and_names(
    config: Config, items: Sequence[Item], now: datetime
) -> tuple[list[Feed], dict[str, set[str]]]:
    """:func:`build_feeds`, and the categories shown under each category slug (the
    feed's title is the least of them)."""
    by_slug: dict[str, list[Item]] = defaultdict(list)
    shown_in: set[str] = set()  # every category an item is shown in
    shown_anywhere = []
    # Filters that show every item (most do) are not asked.
    sources = config.sources_by_name.items()
    hiding = {name: source.filter for name, source in sources if not source.filter.shows_all}
    # Most items share their categories: each tuple is mapped and slugged once.
    mapped: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, str], list[str] | None]] = {}
    for stored in items:
        if stored.categories not in mapped:
            names = tuple(dict.fromkeys(map(config.canonical_category, stored.categories)))
            names = names or ("Uncategorized",)
            filtered = any(not _category_filter(config, name).shows_all for name in names)
            slugs = {name: category_slug(name) for name in names}
            mapped[stored.categories] = names, slugs, None if filtered else list(names)
        categories, slugs, shown = mapped[stored.categories]
        item = stored if categories == stored.categories else replace(stored, categories=categories)
        hides = hiding.get(item.source)
        if hides is not None and not hides.shows(item, categories, now):
            continue
        if shown is None:
            shown = [
                category
                for category in categories
                if _category_filter(config, category).shows(item, categories, now)
            ]
        if not shown:
            continue
        if item.link is None:
            item = replace(item, link=f"{config.site.base_url}{slugs[shown[0]]}.html#{item.anchor}")
        shown_anywhere.append(item)
        shown_in.update(shown)
        for category in shown:
            group = by_slug[slugs[category]]
            if not group or group[-1] is not item:
                group.append(item)
    under: dict[str, set[str]] = defaultdict(set)  # slug -> the categories shown under it
    for category in shown_in:
        under[category_slug(category)].add(category)
    feeds = [Feed(slug, min(under[slug]), tuple(group)) for slug, group in sorted(by_slug.items())]
    if shown_anywhere:
        feeds.append(Feed(ALL, config.site.title, tuple(shown_anywhere)))
    return feeds, under
