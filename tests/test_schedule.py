"""The scheduler in-process: triggers, first runs, the lock, reloads, and stopping.

A real BackgroundScheduler runs over a real SQLite store and archive in tmp_path; waits are
bounded polling loops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coopfeed import schedule
from coopfeed.config import Config, load_config
from coopfeed.pipeline import DEFAULT_INTERVAL
from coopfeed.schedule import Scheduler, first_run, source_trigger
from coopfeed.store import SourceState, Store

Project = Callable[..., Path]
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
FAST = 'min_interval = "1s"'


def source(name: str = "ilo", interval: str | None = "1s", cron: str | None = None) -> str:
    timing = f'interval = "{interval}"' if interval else ""
    if cron:
        timing = f'cron = "{cron}"'
    return f"""
[[sources]]
name = "{name}"
type = "archive"
path = "archive"
timezone = "Europe/Zurich"
{timing}
"""


def eventually(condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)
    return value


@pytest.fixture
def running(project: Project) -> Iterator[Callable[..., tuple[Scheduler, Config, Store]]]:
    """Start a Scheduler on a project; stops it and closes the store afterwards."""
    started: list[tuple[Scheduler, Store]] = []

    def start(sources: str | None = None, **options: Any) -> tuple[Scheduler, Config, Store]:
        config = load_config(project(extra_site=FAST, sources=sources or source()))
        store = Store.open(config.database)
        scheduler = Scheduler(config, store, **options)
        started.append((scheduler, store))
        scheduler.start()
        return scheduler, config, store

    yield start
    for scheduler, store in started:
        assert scheduler.stop(timeout=5)
        store.close()


# -- when ------------------------------------------------------------------------------


def test_intervals_are_clamped_and_jittered(project: Project) -> None:
    config = load_config(project(extra_site=FAST, sources=source(interval="0.2s")))
    trigger, period = source_trigger(config, config.sources[0], NOW)
    assert period == 1.0
    assert trigger.interval == timedelta(seconds=1)
    assert trigger.jitter == pytest.approx(0.1)
    slow = replace(config, max_interval=3600.0)
    _, period = source_trigger(slow, replace(config.sources[0], interval=10 * 86400.0), NOW)
    assert period == 3600.0
    _, period = source_trigger(slow, replace(config.sources[0], interval=None), NOW)
    assert period == min(DEFAULT_INTERVAL, 3600.0)


def test_cron_keeps_its_expression_in_the_source_timezone(project: Project) -> None:
    config = load_config(project(sources=source(cron="30 6 * * *")))
    trigger, period = source_trigger(config, config.sources[0], NOW)
    assert period == 86400.0
    assert trigger.jitter == schedule.MAX_JITTER
    trigger.jitter = None
    fire = trigger.get_next_fire_time(None, NOW)
    assert (fire.hour, fire.minute, str(fire.tzinfo)) == (6, 30, "Europe/Zurich")


def test_first_run_honours_a_stored_next_due_within_one_period() -> None:
    state = SourceState("x")
    assert NOW <= first_run(state, NOW, 600) <= NOW + timedelta(seconds=60)
    due = NOW + timedelta(minutes=5)
    assert first_run(replace(state, next_due=due), NOW, 600) == due
    far = NOW + timedelta(days=3)
    assert first_run(replace(state, next_due=far), NOW, 600) == NOW + timedelta(seconds=600)
    past = NOW - timedelta(days=3)
    assert first_run(replace(state, next_due=past), NOW, 600) >= NOW


# -- jobs ------------------------------------------------------------------------------


def test_a_job_refreshes_publishes_and_moves_to_next_due(
    running: Callable[..., tuple[Scheduler, Config, Store]],
) -> None:
    scheduler, config, store = running()
    eventually(lambda: (config.output_dir / "all.rss").exists(), "published")
    state = eventually(
        lambda: store.source_state("ilo").next_due and store.source_state("ilo"), "due"
    )
    assert state.failures == 0 and state.last_error is None
    # After a refresh the job runs at the next_due the pipeline stored.
    eventually(
        lambda: scheduler.next_runs()["ilo"] == store.source_state("ilo").next_due,
        "the job follows next_due",
    )


def test_publish_requests_made_together_share_one_publish(
    running: Callable[..., tuple[Scheduler, Config, Store]], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = schedule.publish_all

    def counting(config: Config, store: Store, now: datetime) -> Any:
        calls.append(time.monotonic())
        return real(config, store, now)

    monkeypatch.setattr(schedule, "publish_all", counting)
    scheduler, config, _ = running(source(interval="1h"), publish_delay=0.3)
    eventually(lambda: calls, "the first publish")
    time.sleep(0.5)  # nothing else is due for an hour
    before = len(calls)
    for _ in range(5):
        scheduler.request_publish()
    eventually(lambda: len(calls) > before, "the requested publish")
    time.sleep(0.5)
    assert len(calls) == before + 1


def test_jobs_wait_for_the_lock_and_stopping_does_not_wait_for_it(project: Project) -> None:
    config = load_config(project(extra_site=FAST, sources=source()))
    store = Store.open(config.database)
    scheduler = Scheduler(config, store)
    try:
        with store.lock():  # as `coopfeed run` would
            scheduler.start()
            eventually(lambda: scheduler.in_flight(), "a job waits for the lock")
            assert not (config.output_dir / "all.rss").exists()
            began = time.monotonic()
            assert scheduler.stop(timeout=5)
            assert time.monotonic() - began < 2
        assert store.source_state("ilo").last_fetch is None  # it never ran
    finally:
        store.close()


def test_a_lock_held_too_long_fails_the_job_not_the_scheduler(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(project(extra_site=FAST, sources=source()))
    store = Store.open(config.database)
    scheduler = Scheduler(config, store, lock_wait=0.3, publish_retry=0.5)
    holder_done = threading.Event()

    def hold() -> None:
        with store.lock():
            holder_done.wait(1.5)

    holder = threading.Thread(target=hold)
    holder.start()
    ours = logging.getLogger("coopfeed")  # the CLI may have stopped it propagating
    ours.addHandler(caplog.handler)
    try:
        time.sleep(0.1)
        scheduler.start()
        holder.join()
        eventually(lambda: store.source_state("ilo").last_fetch, "the job runs after the lock")
        eventually(lambda: (config.output_dir / "all.rss").exists(), "and publishes")
        assert "gave up after 0.3 s" in caplog.text
    finally:
        ours.removeHandler(caplog.handler)
        holder_done.set()
        holder.join()
        assert scheduler.stop(timeout=5)
        store.close()


# -- reloading -------------------------------------------------------------------------


def test_reload_adds_and_removes_jobs(
    running: Callable[..., tuple[Scheduler, Config, Store]],
) -> None:
    scheduler, config, _ = running(source("one", interval="1h"))
    assert set(scheduler.next_runs()) == {"one"}
    config.file.write_text(
        config.file.read_text().replace('name = "one"', 'name = "two"'), encoding="utf-8"
    )
    assert scheduler.reload_from_file()
    assert set(scheduler.next_runs()) == {"two"}
    assert [s.name for s in scheduler.config.sources] == ["two"]


def test_reload_keeps_the_configuration_when_the_new_one_is_bad(
    running: Callable[..., tuple[Scheduler, Config, Store]],
) -> None:
    scheduler, config, _ = running(source("one", interval="1h"))
    text = config.file.read_text()
    config.file.write_text(text + "\nsurprise = 1\n", encoding="utf-8")
    assert not scheduler.reload_from_file()
    assert scheduler.config is config
    config.file.write_text(text.replace("[site]", '[site]\ndatabase = "other.sqlite3"'))
    assert not scheduler.reload_from_file()
    assert scheduler.config is config
    assert set(scheduler.next_runs()) == {"one"}
