"""When ``coopfeed serve`` refreshes and publishes: a Config and a Store in, APScheduler
jobs out that call :func:`coopfeed.pipeline.fetch_sources`, ``store_fetched`` and ``publish_all``.

The jobs decide only *when*; what happens is the pipeline's business:

- one job per source, at its ``interval`` (clamped to ``min_interval``..``max_interval``)
  or ``cron`` expression, with jitter, ``coalesce``, ``max_instances=1`` and a misfire
  grace time of one period (at least a minute), so a late or missed run happens once;
- after each refresh the job moves to the source's ``next_due`` from the store (where the
  pipeline put what the server asked for, or the backoff after failures);
- a refresh that changed something requests a publish; requests that come while one is
  pending share it, so sources that finish together are published once;
- every job holds the store's lock (the one ``coopfeed run`` takes) only while it
  stores the items it fetched (fetching needs no lock, nor does recording a fetch
  that brought no items) or publishes,
  and waits for it in short slices so stopping never waits on it.

Several nodes may share one database (DESIGN 8); each runs its own scheduler (jobs are
never shared) and they divide the work through the database
(:mod:`coopfeed.store.coordination`), in one code path that a single node runs too:

- a source's job first takes the source's lease (held for the fetch deadline plus
  :data:`LEASE_MARGIN`), then looks again at the source's ``next_due``: when another node
  refreshed it meanwhile, it only moves to that time.  So each due source is fetched by
  one node per interval, and a node that dies holds its sources only until the leases
  expire;
- the node that publishes (under the store's lock, one node at a time) records a new
  output version; every other node notices it within :data:`FOLLOW_INTERVAL` and
  renders its own copy of the files from the store, with the same ``now``
  (:func:`render`), so every node serves the same bytes.  Archive pages are recorded and
  the WebSub hub is pinged by the publishing node only.

:meth:`Scheduler.reload_from_file` rebuilds the jobs from the configuration file (on
SIGHUP); a bad file is logged and the running configuration kept.  :meth:`Scheduler.stop`
starts no new work and waits a bounded time for work in flight.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from coopfeed.config import Config, SourceConfig, load_config
from coopfeed.exceptions import ConfigError, CoopfeedError, LockError
from coopfeed.pipeline import (
    DEFAULT_INTERVAL,
    SourceOutcome,
    fetch_sources,
    publish_all,
    publish_store,
    store_fetched,
)
from coopfeed.publish import PublishReport
from coopfeed.store import SourceState, Store
from coopfeed.store.coordination import (
    claim,
    new_output_version,
    node_name,
    output_version,
    release,
)

log = logging.getLogger(__name__)

SOURCE_JOB = "source:"
PUBLISH_JOB = "publish"
FOLLOW_JOB = "follow"
#: Seconds between two looks at whether another node published.
FOLLOW_INTERVAL = 1.0
#: A source's lease lasts the fetch deadline plus this many seconds (parsing, storing).
LEASE_MARGIN = 10.0
#: Seconds between a publish request and the publish: sources finishing together share it.
PUBLISH_DELAY = 1.0
#: Seconds before a failed publish is tried again.
PUBLISH_RETRY = 60.0
#: How long a job waits for the store's lock (held by ``coopfeed run``) before giving up.
LOCK_WAIT = 300.0
#: The slice of that wait between two looks at whether the service is stopping.
LOCK_POLL = 0.25
#: Jitter is a tenth of the period, at most this many seconds.
MAX_JITTER = 60.0
#: A run that starts late (busy workers, a suspended machine) still runs within one
#: period, and never less than this many seconds.
MIN_MISFIRE_GRACE = 60
WORKERS = 4
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


class _Stopping(Exception):
    """The service is stopping: the job gives up before touching the store."""


class Scheduler:
    """Runs the refresh and publish jobs of one configuration over one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        publish_delay: float = PUBLISH_DELAY,
        publish_retry: float = PUBLISH_RETRY,
        lock_wait: float = LOCK_WAIT,
        workers: int = WORKERS,
    ) -> None:
        self._config = config
        self._store = store
        self.publish_delay = publish_delay
        self.publish_retry = publish_retry
        self.lock_wait = lock_wait
        self._stopping = threading.Event()
        self._reloading = threading.Lock()
        self._publish_guard = threading.Lock()
        #: when the pending publish runs; None when none is pending
        self._publish_at: datetime | None = None
        self._idle = threading.Condition()
        self._in_flight: dict[str, int] = {}
        #: this process among the nodes sharing the database (it holds leases by it)
        self.node = node_name()
        #: the output version this node's files were last rendered for
        self._output_seen: str | None = None
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    @property
    def config(self) -> Config:
        """The configuration in force (replaced by a successful reload)."""
        return self._config

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        """Schedule every source, request a first publish, and start the jobs."""
        self._schedule_all(self._config, None)
        self._scheduler.add_job(
            self._follow,
            IntervalTrigger(seconds=FOLLOW_INTERVAL, timezone=UTC),
            id=FOLLOW_JOB,
            name="follow other nodes' publishes",
            misfire_grace_time=None,
        )
        self._scheduler.start()
        self.request_publish()

    def request_stop(self) -> None:
        """Start no new work from now on (safe to call from a signal handler)."""
        self._stopping.set()

    def stop(self, timeout: float) -> bool:
        """Stop the jobs and wait up to ``timeout`` s for work in flight.

        True when nothing is left running; False when some work is still in flight
        (:meth:`in_flight` names it) and the caller must abandon it.
        """
        self._stopping.set()
        try:
            self._scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def in_flight(self) -> list[str]:
        """The work running now: source names, and ``publish``."""
        with self._idle:
            return sorted(self._in_flight)

    def next_runs(self) -> dict[str, datetime | None]:
        """Source name -> when its job runs next (None when it is not scheduled)."""
        runs: dict[str, datetime | None] = {}
        for job in self._scheduler.get_jobs():
            if job.id.startswith(SOURCE_JOB):
                runs[job.id.removeprefix(SOURCE_JOB)] = job.next_run_time
        return runs

    # -- configuration ---------------------------------------------------------

    def reload_from_file(self) -> bool:
        """Read the configuration file again and rebuild the jobs from it.

        A configuration that does not load, or that changes what only a restart can
        change, is logged as an error and the running one is kept (returns False).
        """
        with self._reloading:
            old = self._config
            try:
                config = load_config(old.file)
                for key, before, after in [
                    ("site.database", old.database, config.database),
                    ("site.output_dir", old.output_dir, config.output_dir),
                ]:
                    if before != after:
                        raise ConfigError(
                            "cannot change while coopfeed serve runs: restart it",
                            file=str(old.file),
                            key=key,
                        )
            except ConfigError as e:
                log.error("%s; keeping the configuration in force", e)
                return False
            self.reload(config)
            log.info("configuration reloaded from %s: %d sources", config.file, len(config.sources))
            return True

    def reload(self, config: Config) -> None:
        """Put ``config`` in force: add, replace and remove source jobs, then publish."""
        old = self._config
        self._config = config
        self._schedule_all(config, old)
        for name in {s.name for s in old.sources} - {s.name for s in config.sources}:
            self._remove_job(SOURCE_JOB + name)
        self.request_publish()

    def _schedule_all(self, config: Config, old: Config | None) -> None:
        """Add a job per source of ``config``; keep those whose timing did not change."""
        states = self._store.source_states()
        now = datetime.now(UTC)
        for source in config.sources:
            if old is not None and _timing(old, source.name) == _timing(config, source.name):
                continue
            state = states.get(source.name) or SourceState(source.name)
            self._add_source_job(config, source, state, now)

    def _add_source_job(
        self, config: Config, source: SourceConfig, state: SourceState, now: datetime
    ) -> None:
        trigger, period = source_trigger(config, source, now)
        self._scheduler.add_job(
            self._refresh,
            trigger,
            args=(source.name,),
            id=SOURCE_JOB + source.name,
            name=f"refresh {source.name}",
            replace_existing=True,
            next_run_time=first_run(state, now, period),
            misfire_grace_time=max(MIN_MISFIRE_GRACE, int(period)),
        )

    # -- jobs ------------------------------------------------------------------

    def request_publish(self, delay: float | None = None) -> None:
        """Publish in ``delay`` s (default ``publish_delay``); a request made while a
        publish is pending shares it, or moves it earlier."""
        when = datetime.now(UTC) + timedelta(seconds=self.publish_delay if delay is None else delay)
        with self._publish_guard:
            if self._stopping.is_set():
                return
            if self._publish_at is not None and self._publish_at <= when:
                return
            self._publish_at = when
            self._scheduler.add_job(
                self._publish,
                DateTrigger(when, timezone=UTC),
                id=PUBLISH_JOB,
                name="publish",
                replace_existing=True,
                misfire_grace_time=None,
                # One may wait for the lock while the one before it still publishes.
                max_instances=2,
            )

    def _refresh(self, name: str) -> None:
        """The job of one source: take its lease, refresh it if it is still due (storing
        under the lock), give the lease back, then follow its next_due.  Without the
        lease (another node is refreshing it) the job waits for its next run."""
        with self._working(name) as started:
            if not started:
                return
            config = self._config
            try:
                source = config.source(name)
            except KeyError:  # removed by a reload since the job fired
                return
            lease = config.fetch.deadline + LEASE_MARGIN
            try:
                if not claim(self._store, SOURCE_JOB + name, self.node, lease):
                    log.debug("source %r: another node is refreshing it", name)
                    return
                try:
                    outcomes = self._refresh_claimed(config, source, lease)
                finally:
                    release(self._store, SOURCE_JOB + name, self.node)
                state = self._store.source_state(name)
            except _Stopping:
                return
            except CoopfeedError as e:
                log.error("source %r: %s", name, e)
                return
            if state.next_due is not None:
                self._move_job(SOURCE_JOB + name, max(state.next_due, datetime.now(UTC)))
            if any(outcome.ingest.changed for outcome in outcomes):
                self.request_publish()

    def _refresh_claimed(
        self, config: Config, source: SourceConfig, lease: float
    ) -> tuple[SourceOutcome, ...]:
        """Fetch and store a source whose lease this node holds, unless another node
        refreshed it since this job was scheduled (its next_due is ahead)."""
        now = datetime.now(UTC)
        due = self._store.source_state(source.name).next_due
        if due is not None and due > now:
            log.debug("source %r: refreshed by another node, due at %s", source.name, due)
            return ()
        fetched = fetch_sources(config, self._store, [source], now)  # needs no lock
        # The fetch may have taken most of the lease: extend it to cover storing.
        claim(self._store, SOURCE_JOB + source.name, self.node, lease)
        with ExitStack() as held:
            # Items are matched against every stored item: one writer at a time.  A
            # result without items (not modified, failed) only updates the source's own
            # state, which the lease already keeps to this node.
            if any(result.prepared.candidates for _, result in fetched):
                self._take_lock(held)
            return store_fetched(config, self._store, fetched, now)

    def _publish(self) -> None:
        """The publish job: every changed file from the store, under the lock."""
        with self._working(PUBLISH_JOB) as started:
            if not started:
                return
            config = self._config
            try:
                with ExitStack() as held:
                    self._take_lock(held)
                    with self._publish_guard:  # changes from here on need another publish
                        self._publish_at = None
                    now = datetime.now(UTC)
                    report = publish_all(config, self._store, now)
                    self._output_seen = new_output_version(self._store, now).tag
            except _Stopping:
                return
            except CoopfeedError as e:
                log.error("publishing failed: %s (trying again in %g s)", e, self.publish_retry)
                with self._publish_guard:
                    self._publish_at = None
                self.request_publish(self.publish_retry)
                return
            except Exception:  # a bug: APScheduler logs it; later requests must still work
                with self._publish_guard:
                    self._publish_at = None
                raise
            log.info(
                "published: %d files written, %d unchanged",
                len(report.written),
                len(report.unchanged),
            )

    def _follow(self) -> None:
        """The follow job: when another node published (the output version moved), render
        this node's files from the store as that node did.  Skipped while this node has a
        publish of its own pending (it renders everything, and pings the hub for what
        changed), and when the store's lock is busy (the next look tries again).

        The lock gives the render one state of the store, and keeps it from writing into
        the output folder while a publish (or ``coopfeed run``) of this node does.
        """
        with self._working(FOLLOW_JOB) as started:
            if not started or not self._behind():
                return
            try:
                with ExitStack() as held:
                    held.enter_context(self._store.lock(wait=LOCK_POLL))
                    version = output_version(self._store)
                    if version is None or not self._behind(version.tag):
                        return
                    report = render(self._config, self._store, version.now)
                    self._output_seen = version.tag
            except LockError:
                return
            except CoopfeedError as e:
                log.error("rendering what another node published failed: %s", e)
                return
            if report.written or report.removed:
                log.info(
                    "rendered what another node published: %d files written, %d unchanged",
                    len(report.written),
                    len(report.unchanged),
                )

    def _behind(self, tag: str | None = None) -> bool:
        """True when the output version (``tag``, else read now) is not what this node's
        files show, and no publish of this node's own is pending."""
        with self._publish_guard:
            if self._publish_at is not None:
                return False
        if tag is None:
            try:
                version = output_version(self._store)
            except CoopfeedError as e:
                log.error("cannot read the output version: %s", e)
                return False
            tag = version.tag if version else None
        return tag is not None and tag != self._output_seen

    def _take_lock(self, held: ExitStack) -> None:
        """Enter the store's lock into ``held``, waiting up to ``lock_wait`` s in slices.

        Raises _Stopping as soon as the service stops, LockError when the wait is over.
        """
        deadline = time.monotonic() + self.lock_wait
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            try:
                held.enter_context(self._store.lock(wait=max(0.0, min(LOCK_POLL, remaining))))
                return
            except LockError as e:
                if remaining <= LOCK_POLL:
                    raise LockError(f"{e}; gave up after {self.lock_wait:g} s") from None
        raise _Stopping

    def _move_job(self, job_id: str, when: datetime) -> None:
        try:
            self._scheduler.modify_job(job_id, next_run_time=when)
        except JobLookupError:  # removed by a reload meanwhile
            pass

    def _remove_job(self, job_id: str) -> None:
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    @contextmanager
    def _working(self, name: str) -> Iterator[bool]:
        """Count a job as in flight while it runs; False (and not counted) when stopping."""
        with self._idle:
            started = not self._stopping.is_set()
            if started:
                self._in_flight[name] = self._in_flight.get(name, 0) + 1
        try:
            yield started
        finally:
            if started:
                self._work_done(name)

    def _work_done(self, name: str) -> None:
        with self._idle:
            self._in_flight[name] -= 1
            if not self._in_flight[name]:
                del self._in_flight[name]
            self._idle.notify_all()


def render(config: Config, store: Store, now: datetime) -> PublishReport:
    """This node's copy of the files that another node published with ``now``: what
    :func:`~coopfeed.pipeline.publish_all` writes, without recording archive pages or
    pinging the hub (the publishing node did both)."""
    return publish_store(config, store, now, None, None)


def source_trigger(config: Config, source: SourceConfig, now: datetime) -> tuple[Any, float]:
    """The APScheduler trigger of a source, and its period in seconds.

    ``cron`` is read in the source's timezone and kept as written; ``interval`` (default
    :data:`~coopfeed.pipeline.DEFAULT_INTERVAL`) is clamped to min_interval..max_interval.
    """
    if source.cron:
        fields = dict(zip(_CRON_FIELDS, source.cron.split(), strict=True))
        zone = ZoneInfo(source.timezone)
        plain = CronTrigger(**fields, timezone=zone)
        period = cron_period(plain, now) or config.max_interval
        return CronTrigger(**fields, timezone=zone, jitter=jitter(period)), period
    period = clamp(source.interval or DEFAULT_INTERVAL, config.min_interval, config.max_interval)
    return IntervalTrigger(seconds=period, timezone=UTC, jitter=jitter(period)), period


def cron_period(trigger: Any, now: datetime) -> float | None:
    """Seconds between the next two fire times of a cron trigger (None if it never fires)."""
    first = trigger.get_next_fire_time(None, now)
    if first is None:
        return None
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
    return None if second is None else float((second - first).total_seconds())


def first_run(state: SourceState, now: datetime, period: float) -> datetime:
    """When a newly scheduled source runs first: at its stored next_due when that is
    still ahead (but within one period, in case the interval was shortened), else now
    plus a jitter, so a restart does not fetch everything in the same second."""
    soon = now + timedelta(seconds=random.uniform(0, jitter(period)))
    if state.next_due is None or state.next_due <= now:
        return soon
    return min(state.next_due, now + timedelta(seconds=period))


def jitter(period: float) -> float:
    return min(period / 10, MAX_JITTER)


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _timing(config: Config, name: str) -> tuple[object, ...] | None:
    """What a source's job depends on; None for a source the configuration lacks."""
    try:
        source = config.source(name)
    except KeyError:
        return None
    return (source.interval, source.cron, source.timezone, config.min_interval, config.max_interval)
