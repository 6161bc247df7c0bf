"""kill -9 of `coopfeed run` at random moments, during fetch, store writes and publishing.

One project is run over and over on a growing workload (an archive of hundreds of
entries and three loopback feeds, one of them slow, so a run takes a second or two),
and each run is killed: while the slow feed is being fetched, after the first source
was stored (the others, and the archive's big ingest, are being written), or after the
last source was stored (publishing).  After every kill, every published file must be a
complete, valid document (old or new), the database must pass ``integrity_check``, and
every item any published file ever showed must still be stored.  At the end one
uninterrupted run must sweep stale temporary files and converge to exactly what a clean
run on a fresh store publishes from the same input: the same bytes in every file, the
same stored items.

The seed of the random delays is printed when a check fails (``CRASH_SEED`` replays it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
from helpers import (
    Workload,
    coopfeed,
    document_problems,
    integrity,
    published,
    start,
    store_contents,
    stored_guids,
    temp_files,
)
from httpserver import FeedServer

KILLS = 21
PHASES = ("fetch", "store", "publish")
#: After every this many kills, one run is left to finish (so later kills interrupt
#: the replacement of files that hold newer items).
FINISH_EVERY = 3
#: Seconds after the trigger of each phase within which the kill lands.
WINDOW = {"fetch": 0.4, "store": 0.02, "publish": 0.03}


@dataclass
class Watch:
    """What the checks after each kill remember."""

    seed: int
    checked: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    shown: set[str] = field(default_factory=set)  # guids any published file ever held
    landed: Counter[str] = field(default_factory=Counter)

    def fail(self, message: str) -> str:
        return f"{message} (CRASH_SEED={self.seed})"


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """Poll until ``condition`` holds (True) or the process ends (False)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the run neither reached its phase nor ended within 60 s")


def run_and_kill(
    folder: Path, config: Path, server: FeedServer, phase: str, rng: random.Random
) -> str:
    """Start a run, kill -9 it in ``phase`` after a random delay; returns where it was."""
    slow_before = server.count("/slow")
    started = time.time_ns()
    process, log = start("run", "-c", str(config), "--all", "-v", cwd=folder)
    try:
        triggers = {
            "fetch": lambda: server.count("/slow") > slow_before,
            "store": lambda: "source 'feed0'" in log.read_text(),
            "publish": lambda: writing(folder / "feeds", started),
        }
        if wait_for(triggers[phase], process):
            time.sleep(rng.uniform(0, WINDOW[phase]))
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        text = log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)
    assert "Traceback" not in text, text
    if process.returncode != -signal.SIGKILL or " sources read, " in text:
        return "finished"
    if "source 'archive'" in text:
        return "publish"
    return "store" if "source '" in text else "fetch"


def writing(folder: Path, since: int) -> bool:
    """Has publishing begun to write (a file, temporary or not, newer than ``since``)?"""
    try:
        with os.scandir(folder) as found:
            return any(entry.stat().st_mtime_ns > since for entry in found)
    except FileNotFoundError:
        return False


def check_after_kill(folder: Path, watch: Watch) -> None:
    """Every file complete and valid, the database sound, nothing once shown lost."""
    feeds, database = folder / "feeds", folder / "coopfeed.sqlite3"
    if database.exists():
        assert integrity(database) == "ok", watch.fail("integrity_check failed")
    for name, data in published(feeds).items():
        info = (feeds / name).stat()
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if watch.checked.get(name) == stamp:
            continue
        problems = document_problems(name, data)
        assert problems == [], watch.fail(f"{name} is torn or invalid: {problems}")
        watch.checked[name] = stamp
        watch.shown |= guids_in(name, data)
    if database.exists():
        missing = watch.shown - stored_guids(database)
        assert not missing, watch.fail(f"published items no longer stored: {sorted(missing)[:5]}")


def guids_in(name: str, data: bytes) -> set[str]:
    if name.endswith(".json"):
        return {item["id"] for item in json.loads(data)["items"]}
    if name.endswith(".rss"):
        return {entry.id for entry in feedparser.parse(data).entries}
    return set()


def test_kill_9_at_random_moments_loses_nothing_and_converges(
    tmp_path: Path, http_server: FeedServer
) -> None:
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    watch = Watch(seed)
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    workload = Workload(http_server, slow_feed=0.5)
    config = workload.config(crashed)
    workload.serve(0, [crashed])
    first = coopfeed("run", "-c", str(config), "--all", cwd=crashed)
    assert first.code == 0, first.stderr
    check_after_kill(crashed, watch)
    round_ = attempt = 0
    while sum(watch.landed[p] for p in PHASES) < KILLS or min(watch.landed[p] for p in PHASES) < 4:
        assert attempt < 3 * KILLS, watch.fail(f"kills landed {dict(watch.landed)}")
        round_ += 1
        workload.serve(round_, [crashed])
        # Aim at the phase hit least so far (a kill aimed at one may land in the next).
        phase = min(PHASES, key=lambda p: (watch.landed[p], (PHASES.index(p) - attempt) % 3))
        watch.landed[run_and_kill(crashed, config, http_server, phase, rng)] += 1
        check_after_kill(crashed, watch)
        attempt += 1
        if attempt % FINISH_EVERY == 0:
            round_ += 1
            workload.serve(round_, [crashed])
            done = coopfeed("run", "-c", str(config), "--all", cwd=crashed)
            assert done.code == 0, done.stderr
            check_after_kill(crashed, watch)
    for phase in PHASES:
        assert watch.landed[phase] >= 4, watch.fail(f"kills landed {dict(watch.landed)}")

    workload.serve(round_ + 1, [crashed, clean])
    stale = crashed / "feeds" / ".all.rss.stale123.coopfeed-tmp"
    stale.write_bytes(b"<?xml version='1.0'?><rss><chan")  # what a kill mid-write leaves
    finished = coopfeed("run", "-c", str(config), "--all", cwd=crashed)
    assert finished.code == 0, finished.stderr
    check_after_kill(crashed, watch)
    assert temp_files(crashed / "feeds") == []
    reference = coopfeed("run", "-c", str(workload.config(clean)), "--all", cwd=clean)
    assert reference.code == 0, reference.stderr

    got, want = published(crashed / "feeds"), published(clean / "feeds")
    assert sorted(got) == sorted(want), watch.fail("other files than a clean run's")
    differ = [name for name in want if got[name] != want[name]]
    assert differ == [], watch.fail(f"files differ from a clean run's: {differ[:10]}")
    assert store_contents(crashed / "coopfeed.sqlite3") == store_contents(
        clean / "coopfeed.sqlite3"
    ), watch.fail("the store differs from a clean run's")
    assert watch.shown <= stored_guids(clean / "coopfeed.sqlite3")
