"""Two `coopfeed run` at once on one store, and `run` beside `serve`: no corruption, no
duplicate items; the second run waits for the lock, or with ``--wait 0`` (or a short
wait) exits 1 with a message naming the lock and changes nothing."""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
from helpers import (
    Workload,
    all_problems,
    archive_source,
    coopfeed,
    document_problems,
    feed_source,
    good_feed,
    integrity,
    published,
    snapshot,
    start,
    store_contents,
    stored_guids,
    temp_files,
    write_config,
)
from httpserver import FeedServer

SEED = Path(__file__).resolve().parents[2] / "archive" / "ilo-cooperatives.txt"


def test_two_runs_at_once_wait_for_each_other_and_store_one_copy(
    tmp_path: Path, http_server: FeedServer
) -> None:
    shared, clean = tmp_path / "shared", tmp_path / "clean"
    workload = Workload(http_server, slow_feed=0.5)
    workload.serve(0, [shared, clean])
    config = workload.config(shared)
    # The store exists already (see the next test for two runs on a new one).
    assert coopfeed("status", "-c", str(config), cwd=shared).code == 0
    first, first_log = start("run", "-c", str(config), "--all", cwd=shared)
    second, second_log = start("run", "-c", str(config), "--all", cwd=shared)
    assert first.wait(timeout=120) == 0, first_log.read_text()
    assert second.wait(timeout=120) == 0, second_log.read_text()
    for log in (first_log, second_log):
        assert "Traceback" not in log.read_text()
        log.unlink()
    reference = coopfeed("run", "-c", str(workload.config(clean)), "--all", cwd=clean)
    assert reference.code == 0, reference.stderr
    database = shared / "coopfeed.sqlite3"
    assert integrity(database) == "ok"
    assert store_contents(database) == store_contents(clean / "coopfeed.sqlite3")
    assert published(shared / "feeds") == published(clean / "feeds")
    assert temp_files(shared / "feeds") == []


def test_a_run_that_meets_another_creating_the_database_waits_for_it(tmp_path: Path) -> None:
    reference, shared = tmp_path / "reference", tmp_path / "shared"
    for folder in (reference, shared):
        (folder / "archive").mkdir(parents=True)
        shutil.copy(SEED, folder / "archive" / "listing.txt")
        write_config(folder, archive_source("seed", "archive"))
    assert coopfeed("status", "-c", str(reference / "config.toml"), cwd=reference).code == 0
    with sqlite3.connect(reference / "coopfeed.sqlite3") as db:
        schema = [row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE sql NOT NULL")]
        meta = db.execute("SELECT * FROM meta").fetchall()
    db.close()
    # Another run, half-way through creating the new database: its transaction is open.
    other = sqlite3.connect(shared / "coopfeed.sqlite3", isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("BEGIN IMMEDIATE")
        for statement in schema:
            other.execute(statement)
        other.executemany(f"INSERT INTO meta VALUES ({', '.join('?' * len(meta[0]))})", meta)
        run, log = start("run", "-c", str(shared / "config.toml"), cwd=shared)
        time.sleep(2)
        other.execute("COMMIT")
    finally:
        other.close()
    code = run.wait(timeout=60)
    text = log.read_text()
    log.unlink()
    assert "Traceback" not in text
    assert code == 0, text


def holding_run(tmp_path: Path, server: FeedServer, hold: float) -> tuple[Path, Path]:
    """A published project whose next run holds the lock ``hold`` seconds (a slow feed)."""
    server.set_document("/good.xml", good_feed())
    fast = server.url("/good.xml")
    config = write_config(tmp_path, feed_source("good", fast, category="Good"))
    done = coopfeed("run", "-c", str(config), cwd=tmp_path)
    assert done.code == 0, done.stderr
    slow = server.url(f"/slow?delay={hold}&path=/good.xml")
    config.write_text(config.read_text().replace(fast, slow), encoding="utf-8")
    return config, tmp_path / "coopfeed.sqlite3"


def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_run_with_wait_0_names_the_lock_and_touches_nothing(
    tmp_path: Path, http_server: FeedServer
) -> None:
    config, database = holding_run(tmp_path, http_server, hold=3)
    before = snapshot(tmp_path / "feeds")
    holder, holder_log = start("run", "-c", str(config), "--all", cwd=tmp_path)
    wait_until(lambda: http_server.count("/slow") == 1)  # the holder is fetching, locked
    second = coopfeed("run", "-c", str(config), "--all", "--wait", "0", cwd=tmp_path)
    assert second.code == 1
    assert (
        second.stderr
        == f"coopfeed: error: another coopfeed process holds the lock {database}.lock\n"
    )
    assert second.seconds < 3
    assert snapshot(tmp_path / "feeds") == before
    waited = coopfeed("run", "-c", str(config), "--all", "--wait", "1", cwd=tmp_path)
    assert waited.code == 1
    assert waited.stderr == (
        f"coopfeed: error: another coopfeed process holds the lock {database}.lock (waited 1 s)\n"
    )
    assert 1 <= waited.seconds < 3.5
    assert holder.wait(timeout=30) == 0, holder_log.read_text()
    holder_log.unlink()
    assert http_server.count("/slow") == 1  # the refused runs fetched nothing
    assert integrity(database) == "ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Reader(threading.Thread):
    """Fetches published documents over HTTP in a loop, keeping every problem seen."""

    def __init__(self, port: int, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        self.names = names
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.reads = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for name in self.names:
                try:
                    response = self.client.get(f"/{name}")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    self.reads += 1
                    for problem in document_problems(name, response.content):
                        self.problems.append(f"{name}: {problem}")
            time.sleep(0.02)
        self.client.close()


def test_run_beside_serve_corrupts_nothing_and_duplicates_nothing(
    tmp_path: Path, http_server: FeedServer
) -> None:
    folder, clean = tmp_path / "served", tmp_path / "clean"
    workload = Workload(http_server, archive_entries=200, feed_items=40)
    workload.serve(0, [folder])
    site = "items_per_feed = 25"
    config = workload.config(folder, site=site)
    text = config.read_text().replace('type = "feed"\n', 'type = "feed"\ninterval = "1s"\n')
    config.write_text(text.replace('type = "archive"\n', 'type = "archive"\ninterval = "1s"\n'))
    port = free_port()
    service, service_log = start("serve", "-c", str(config), "--port", str(port), cwd=folder)
    reader = Reader(port, ["all.rss", "all.atom", "all.json", "news.rss", "all.html"])
    try:
        wait_until(
            lambda: (folder / "feeds" / "all.json").is_file() or service.poll() is not None,
            timeout=60,
        )
        assert service.poll() is None, service_log.read_text()
        reader.start()
        for round_ in (1, 2, 3):
            workload.serve(round_, [folder])
            done = coopfeed("run", "-c", str(config), "--all", cwd=folder)
            assert done.code == 0, done.stderr
            assert "Traceback" not in done.stderr
        time.sleep(1.5)  # serve's own jobs meet the same inputs too
        assert service.poll() is None, service_log.read_text()
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=15) == 0, service_log.read_text()
    finally:
        reader.stop.set()
        if service.poll() is None:
            service.kill()
            service.wait()
    reader.join(timeout=15)
    log = service_log.read_text()
    assert "Traceback" not in log, log
    assert reader.reads > 10 and reader.problems == [], reader.problems[:5]
    last = coopfeed("run", "-c", str(config), "--all", cwd=folder)
    assert last.code == 0, last.stderr
    workload.serve(3, [clean])
    reference = coopfeed("run", "-c", str(workload.config(clean, site=site)), "--all", cwd=clean)
    assert reference.code == 0, reference.stderr
    database = folder / "coopfeed.sqlite3"
    assert integrity(database) == "ok"
    assert stored_guids(database) == stored_guids(clean / "coopfeed.sqlite3")
    mine, theirs = store_contents(database), store_contents(clean / "coopfeed.sqlite3")
    assert mine["items"] == theirs["items"] and mine["item_sources"] == theirs["item_sources"]
    assert all_problems(folder / "feeds") == {}
    assert temp_files(folder / "feeds") == []
