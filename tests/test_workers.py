"""Parsing and rendering in worker processes (coopfeed.workers): the same store and files
as in one process, and a worker that dies costs only the job that killed it."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NOW, config_text

from coopfeed.config import load_config
from coopfeed.identity import feed_candidate
from coopfeed.normalize import Normalized
from coopfeed.pipeline import publish_all, refresh
from coopfeed.publish import publish
from coopfeed.store import Store
from coopfeed.types import Feed, Item, Site
from coopfeed.workers import MIN_BATCH, NICENESS, WorkerDied, Workers

DATA = Path(__file__).parent / "data" / "feeds"
#: Every parse fixture that is a feed or tries hard not to be one, and the plain ones.
FEEDS = sorted(DATA.glob("parse/*.xml")) + sorted(DATA.glob("*.xml"))


def _run(folder: Path, processes: int) -> tuple[list[object], dict[str, bytes]]:
    """Refresh every feed in FEEDS (in chunks of 10) and publish into ``folder``; what
    each source gave, the stored items and the published files."""
    sources = "".join(
        f'[[sources]]\nname = "s{n}"\ntype = "feed"\nurl = "{path}"\n'
        for n, path in enumerate(FEEDS)
    )
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(config_text(sources=sources, tables=f"[fetch]\nprocesses = {processes}\n"))
    config = load_config(path)
    assert config.fetch.processes == processes
    store = Store.open(config.database)
    try:
        outcomes = refresh(config, store, config.sources, NOW, chunk=10)
        publish_all(config, store, NOW)
        found: list[object] = [(o.name, o.error, o.ingest, o.skipped) for o in outcomes]
        found += store.list_items()
    finally:
        store.close()
    output = config.output_dir
    files = {p.name: p.read_bytes() for p in output.iterdir() if p.name != ".coopfeed-render"}
    return found, files


def test_workers_store_and_publish_what_one_process_does(tmp_path: Path) -> None:
    assert len(FEEDS) >= 2 * MIN_BATCH  # so the workers take the batches
    serial = _run(tmp_path / "serial", 0)
    parallel = _run(tmp_path / "parallel", 2)
    assert parallel[0] == serial[0]
    assert parallel[1] == serial[1]
    assert any(error for _, error, *_ in serial[0][: len(FEEDS)])  # type: ignore[misc]
    assert sum(1 for _, error, *_ in serial[0][: len(FEEDS)] if not error) > 10  # type: ignore[misc]
    assert len(serial[0]) > 2 * len(FEEDS) and len(serial[1]) > 5


def test_a_small_batch_runs_in_this_process() -> None:
    with Workers(2) as workers:
        results = workers.submit_all([(os.getpid, ())] * (MIN_BATCH - 1))
        assert not workers.started
        assert {result.get() for result in results} == {os.getpid()}


def test_small_batches_add_up_to_start_the_workers() -> None:
    with Workers(2) as workers:
        first = workers.submit_all([(os.getpid, ())] * (MIN_BATCH - 2))
        second = workers.submit_all([(os.getpid, ())])
        assert not workers.started
        assert {result.get() for result in first + second} == {os.getpid()}
        third = workers.submit_all([(os.getpid, ())])  # MIN_BATCH jobs in all
        assert workers.started and third[0].get() != os.getpid()
    with Workers(0) as here:
        results = here.submit_all([(os.getpid, ())] * MIN_BATCH * 2)
        assert not here.started and {result.get() for result in results} == {os.getpid()}


def test_a_big_batch_runs_in_worker_processes() -> None:
    with Workers(2) as workers:
        results = workers.submit_all([(os.getpid, ())] * MIN_BATCH)
        assert workers.started
        pids = {result.get() for result in results}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        # Once started, the workers take a small batch too.
        assert workers.submit_all([(os.getpid, ())])[0].get() != os.getpid()


@pytest.mark.skipif(os.name != "posix", reason="niceness is POSIX")
def test_workers_yield_the_cpu_to_the_run() -> None:
    """The run stores what workers parse: they ask for less of the CPU than it does."""
    mine = os.nice(0)
    with Workers(2) as workers:
        theirs = {result.get() for result in workers.submit_all([(os.nice, (0,))] * MIN_BATCH)}
    assert theirs == {min(mine + NICENESS, 19)}


def test_a_job_that_kills_its_worker_fails_alone() -> None:
    """os._exit kills the worker (as the kernel's OOM killer would): that job fails
    with WorkerDied; the others, lost with the worker, are run again and succeed."""
    jobs: list[tuple[Callable[..., object], tuple[object, ...]]] = [
        (pow, (2, n)) for n in range(MIN_BATCH)
    ]
    jobs.insert(3, (os._exit, (9,)))
    with Workers(2) as workers:
        results = workers.submit_all(jobs)
        values = []
        for result in results:
            try:
                values.append(result.get())
            except WorkerDied as e:
                values.append(str(e))
        later = workers.submit_all([(pow, (3, n)) for n in range(MIN_BATCH)])
        assert [result.get() for result in later] == [3**n for n in range(MIN_BATCH)]
    assert values[3] == "its worker process died twice (out of memory?)"
    assert values[:3] + values[4:] == [2**n for n in range(MIN_BATCH)]


def test_a_job_that_raises_raises_where_it_is_waited_for() -> None:
    with Workers(2) as workers:
        results = workers.submit_all([(int, ("12",))] * MIN_BATCH + [(int, ("twelve",))])
        assert [result.get() for result in results[:-1]] == [12] * MIN_BATCH
        with pytest.raises(ValueError, match="twelve"):
            results[-1].get()


def test_processes_must_not_be_negative(project: Callable[..., Path]) -> None:
    from coopfeed.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"fetch.*processes.*at least 0"):
        load_config(project(tables="[fetch]\nprocesses = -1\n"))


def _feeds(count: int) -> list[Feed]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = tuple(
        Item(
            guid=f"tag:example.org,2026:{n}",
            title=f"Story {n}",
            published=start + timedelta(hours=count - n),
            updated=start + timedelta(hours=count - n),
            link=f"https://example.org/{n}",
            summary=f"<p>Summary {n} é</p>",
            categories=("News",),
        )
        for n in range(count)
    )
    return [Feed("news", "News", items), Feed("all", "Everything", items)]


def test_a_publish_renders_in_workers_the_bytes_it_renders_alone(tmp_path: Path) -> None:
    """Archive pages and current documents rendered by worker processes are written in
    the same order, with the same bytes, as when this process renders them."""
    site = Site(
        title="Cooperative news",
        description="",
        base_url="http://127.0.0.1:8080/",
        author="",
        items_per_feed=5,
    )
    feeds = _feeds(60)  # 12 pages a feed: enough jobs for the workers to start
    alone = publish(feeds, site, tmp_path / "alone")
    with Workers(2) as workers:
        parallel = publish(feeds, site, tmp_path / "parallel", workers=workers)
        assert workers.started
    assert parallel.written == alone.written and len(alone.written) > 2 * MIN_BATCH
    assert parallel.new_pages == alone.new_pages
    for name in alone.written:
        assert (tmp_path / "parallel" / name).read_bytes() == (
            tmp_path / "alone" / name
        ).read_bytes(), name


SCRIPT = """
import sys
from datetime import UTC, datetime
from pathlib import Path

from coopfeed.config import load_config
from coopfeed.pipeline import run_once
from coopfeed.store import Store

# No `if __name__ == "__main__":`: every worker process runs this again, and dies.
config = load_config(Path(sys.argv[1]))
store = Store.open(config.database)
report = run_once(config, store, datetime.now(UTC), everything=True)
print(len(report.sources), len(report.failed), sum(o.ingest.new for o in report.sources))
"""


def test_a_script_without_a_main_guard_runs_everything_in_its_own_process(
    tmp_path: Path,
) -> None:
    """Its workers die as they start: the run says why and parses (and renders) in its
    own process, instead of failing every feed."""
    import subprocess
    import sys

    feeds = [tmp_path / f"feed{n}.xml" for n in range(MIN_BATCH + 2)]
    for n, feed in enumerate(feeds):
        text = (DATA / "rss2.xml").read_text(encoding="utf-8")
        feed.write_text(text.replace("<title>", f"<title>{n} ", 1), encoding="utf-8")
    sources = "".join(
        f'[[sources]]\nname = "s{n}"\ntype = "feed"\nurl = "{feed}"\n'
        for n, feed in enumerate(feeds)
    )
    config = tmp_path / "config.toml"
    config.write_text(config_text(sources=sources, tables="[fetch]\nprocesses = 2\n"))
    script = tmp_path / "script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sources_seen, failed, new = map(int, done.stdout.split())
    assert (sources_seen, failed) == (len(feeds), 0) and new > 0
    assert "worker processes die as they start" in done.stderr
    assert "not parsed" not in done.stdout + done.stderr
    assert (tmp_path / "feeds" / "all.rss").exists()


KILLED = """
import multiprocessing.forkserver
import os
import pickle
import sys
import time

from coopfeed.workers import MIN_BATCH, Workers

if __name__ == "__main__":
    workers = Workers(2)
    results = workers.submit_all([(os.getpid, ())] * MIN_BATCH)
    pids = {result.get() for result in results}
    forkserver = multiprocessing.forkserver._forkserver._forkserver_pid
    print(forkserver, *pids, flush=True)
    time.sleep(600)  # until killed
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and /proc are POSIX")
def test_workers_end_when_the_run_that_started_them_is_killed(tmp_path: Path) -> None:
    """A run killed with SIGKILL cannot stop its workers: they notice it is gone and
    end, and so does the forkserver they came from (before, both stayed for good)."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "killed.py"
    script.write_text(KILLED, encoding="utf-8")
    command = [sys.executable, str(script)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path) as run:
        try:
            assert run.stdout is not None
            pids = [int(pid) for pid in run.stdout.readline().split()]
            assert len(pids) >= 2 and all(_alive(pid) for pid in pids)
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == []


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_what_workers_hand_back_and_forth_arrives_as_it_left(protocol: int) -> None:
    """Items (to the render workers) and normalized entries and candidates (from the
    parse workers) pickle as their fields, through their constructors, every field
    kept."""
    when = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
    full = Item(
        guid="tag:a.org,2026:1",
        title="Solar co-op opens",
        published=when,
        updated=when + timedelta(hours=1),
        link="https://a.org/1",
        summary="<p>Members vote</p>",
        categories=("Energy", "News"),
        authors=("Ana",),
        source="ica",
        anchor="2026-11-29-solar",
    )
    bare = Item(guid="g", title="t", published=when, updated=when)
    entry = Normalized(
        "ica", "feed.xml entry 1", "k1", "Solar co-op opens", "https://a.org/1", "<p>x</p>",
        when, when, ("Energy",), ("Ana",), when.date(),
    )  # fmt: skip
    candidate = replace(feed_candidate(entry, "a.org"), aliases=("k0",))
    for one in (full, bare, entry, candidate):
        cls = type(one)
        assert one.__reduce_ex__(protocol)[0] is cls  # by its constructor
        back = pickle.loads(pickle.dumps(one, protocol=protocol))
        assert back == one and type(back) is cls
        names = [field.name for field in fields(one)]
        assert [getattr(back, name) for name in names] == [getattr(one, name) for name in names]
