"""One bench phase in a process of its own: a phase name and a JSON job go in, one line of
JSON (timings, counts, peak RSS) comes out as the last line on stdout.

``python -m bench`` starts these; each phase runs in a fresh interpreter so its peak RSS
is its own, and ``wall`` is timed inside the process, after the imports (the parent also
times the whole process).  Phases:

- ``coopfeed``: ``coopfeed run --all`` through ``coopfeed.cli.main`` (the command's own
  path), with light wrappers that add up the time spent in each stage; optionally under
  pyinstrument, or repeated with a fraction of the feeds changed between passes.
- ``publish``: ``publish_all`` alone on the store a run left.
- ``budget``: a first run's work on the corpus, one part after the other in one process
  (no workers, no HTTP), with each part's CPU seconds.
- ``loop``: the plain baseline: httpx.AsyncClient with 50 requests in flight, then
  ``feedparser.parse`` on each body; no store.  Validators are kept in a JSON file so the
  next pass can send conditional GETs.
- ``reader``: lemon24/reader's ``update_feeds()`` on the same feeds.
- ``archive``: ``parse_archive`` on a text of N entries, several times.
- ``dedupe``: ``Store.ingest`` of a batch of new items against a store filled with bulk
  SQL inserts, at each requested size.
- ``check``: every stored item's title against what feedparser reads from that entry,
  and parse_feed's fast path against feedparser on every feed of the corpus.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def phase(function: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    PHASES[function.__name__.removeprefix("run_")] = function
    return function


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """The most memory this process and its descendants (coopfeed's worker processes,
    which ``ru_maxrss`` of this one never sees: they are the forkserver's children) held
    at once: their PSS added up (shared pages counted once).

    Reading PSS (``/proc/PID/smaps_rollup``) walks a process's page tables: about 6 ms
    of kernel time for a 400 MB process, charged to this one.  Read every 50 ms, as it
    once was, that cost 3-6 CPU-s and about 2 s of a cold run's wall time on two busy
    cores, which no other tool measured here pays.  So every ``interval`` (50 ms) only
    the resident sizes are read (``/proc/PID/statm``, a few µs); PSS is read when their
    sum has grown by ``growth`` (2%) since the last reading, and at least every
    ``pss_every`` seconds.  PSS never exceeds RSS, so a peak can be missed only where
    the sum rose less than 2% above a reading and fell back within a second.

    Also the CPU time they all used inside (``cpu_s``: user and system, from
    /proc/PID/stat, each process's last reading; a worker that ends between two samples
    loses at most one interval), which shows how much of two cores a phase kept busy.
    ``pss_reads`` counts the PSS readings."""

    def __init__(
        self, interval: float = 0.05, pss_every: float = 1.0, growth: float = 1.02
    ) -> None:
        self.interval = interval
        self.pss_every = pss_every
        self.growth = growth
        self.peak_mb = 0.0
        self.pss_reads = 0
        self._before = 0.0  # this process's CPU seconds on entering
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._before = _cpu_seconds(os.getpid()) or 0.0
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read(os.getpid())

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values()) - self._before

    def _sample(self) -> None:
        read_at, rss_then = -float("inf"), 0.0
        while True:
            tree = _tree(os.getpid())
            rss = sum(map(_rss_mb, tree))
            now = time.monotonic()
            if rss > rss_then * self.growth or now - read_at >= self.pss_every:
                self.peak_mb = max(self.peak_mb, sum(map(_pss_mb, tree)))
                self.pss_reads += 1
                read_at, rss_then = now, rss
            for pid in tree:
                self._read(pid)
            if self._stop.wait(self.interval):
                return

    def _read(self, pid: int) -> None:
        seconds = _cpu_seconds(pid)
        if seconds is not None:
            self._cpu[pid] = seconds


def _cpu_seconds(pid: int) -> float | None:
    """The user and system CPU time ``pid`` has used (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux: /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{one}/task"):
                with open(f"/proc/{one}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
    return found


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # gone meanwhile
        pass
    return 0.0


def current_rss_mb() -> float:
    return _rss_mb("self")


def _rss_mb(pid: int | str) -> float:
    """The resident size of ``pid`` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


# -- coopfeed --------------------------------------------------------------------------------


class _Stages:
    """Wraps pipeline functions to add up the seconds spent in each stage."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # the code moved on: that stage is simply not broken out
            return

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start
                self.calls[stage] += 1

        setattr(owner, name, timed)


def _instrument() -> tuple[_Stages, list[Any]]:
    """Stage timers on coopfeed's pipeline, and a list that collects each RunReport."""
    from coopfeed import cli, pipeline, prepare
    from coopfeed.store import Store

    stages = _Stages()
    stages.wrap(pipeline, "fetch_all", "fetch")
    stages.wrap(prepare, "parse_feed", "parse")
    stages.wrap(prepare, "prepare", "normalize")  # a feed's, in parse_and_prepare
    stages.wrap(pipeline, "prepare", "normalize")  # an archive's
    # With worker processes, parse and normalize run there: what this process spends
    # is the time it waits for them (a feed's; waits for rendered files are publish's).
    stages.wrap(pipeline._Parsing, "get", "parse wait")
    stages.wrap(Store, "ingest", "ingest")
    stages.wrap(Store, "save_source_states", "source state")
    stages.wrap(pipeline, "publish_all", "publish")
    reports: list[Any] = []
    run_once = pipeline.run_once  # what cli.main calls, imported from there

    def recording(*args: Any, **kwargs: Any) -> Any:
        report = run_once(*args, **kwargs)
        reports.append(report)
        return report

    cli.run_once = recording  # type: ignore[attr-defined]
    return stages, reports


def _summarise(report: Any) -> dict[str, Any]:
    outcomes = report.sources
    return {
        "sources": len(outcomes),
        "failed": len(report.failed),
        "errors": [f"{o.name}: {o.error}" for o in report.failed][:5],
        "not_modified": sum(1 for o in outcomes if o.not_modified),
        "new": sum(o.ingest.new for o in outcomes),
        "merged": sum(o.ingest.merged for o in outcomes),
        "updated": sum(o.ingest.updated for o in outcomes),
        "unchanged": sum(o.ingest.unchanged for o in outcomes),
        "skipped": sum(o.skipped for o in outcomes),
        "written": len(report.published.written),
        "files_unchanged": len(report.published.unchanged),
    }


@phase
def run_coopfeed(job: dict[str, Any]) -> dict[str, Any]:
    """``coopfeed run --all -c CONFIG``, ``repeat`` times (changing ``mutate`` of the feeds
    before every pass but the first), optionally profiled."""
    from coopfeed import cli

    stages, reports = _instrument()
    argv = ["run", "--all", "-c", job["config"]]
    passes = []
    profiler = _profiler(job)
    for number in range(job.get("repeat", 1)):
        if number and job.get("mutate"):
            from bench import corpus

            corpus.mutate(Path(job["corpus"]), job["mutate"])
        stages.seconds.clear()
        stages.calls.clear()
        start, own = time.perf_counter(), time.process_time()
        with profiler or contextlib.nullcontext(), TreeMemory() as tree:
            code = cli.main(argv)
        wall, own = time.perf_counter() - start, time.process_time() - own
        summary = _summarise(reports[-1]) if reports else {}
        passes.append(
            {
                "wall": wall,
                "exit": code,
                "rss_mb": current_rss_mb(),
                "tree_peak_mb": tree.peak_mb,
                "pss_reads": tree.pss_reads,
                "cpu_s": tree.cpu_s,  # this process and its workers
                "own_cpu_s": own,
                "stages": dict(stages.seconds),
                "calls": dict(stages.calls),
                **summary,
            }
        )
    if profiler is not None:
        _save_profile(profiler, job)
    tree_peak = max(one["tree_peak_mb"] for one in passes)
    return {**passes[-1], "passes": passes, "peak_rss_mb": peak_rss_mb(), "tree_peak_mb": tree_peak}


def _profiler(job: dict[str, Any]) -> Any:
    if not job.get("profile"):
        return None
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: no profile", file=sys.stderr)
        return None
    return Profiler(interval=0.002)


def _save_profile(profiler: Any, job: dict[str, Any]) -> None:
    target = Path(job["profile"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_suffix(".txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
    )


@phase
def run_publish(job: dict[str, Any]) -> dict[str, Any]:
    """``publish_all`` on the store and output folder a run left (nothing else)."""
    from coopfeed.config import load_config
    from coopfeed.pipeline import publish_all
    from coopfeed.store import Store

    config = load_config(Path(job["config"]))
    store = Store.open(config.database)
    try:
        start = time.perf_counter()
        with store.lock(wait=60):
            items = len(store.published_items())
            report = publish_all(config, store, datetime.now(UTC))
        wall = time.perf_counter() - start
    finally:
        store.close()
    return {
        "wall": wall,
        "items": items,
        "written": len(report.written),
        "files_unchanged": len(report.unchanged),
        "peak_rss_mb": peak_rss_mb(),
    }


@phase
def run_budget(job: dict[str, Any]) -> dict[str, Any]:
    """A first run's work on the corpus, in this one process (no worker processes, no
    HTTP), with the CPU seconds each part took: parsing and preparing each feed (the
    workers' part of a run), pickling what that gave and reading it back (what crosses
    from a worker to the run), storing it (a transaction a source, grouped, as a run
    stores), then filing the stored titles for the next runs' searches, and a first
    publish.  Their sum is what a first run costs with this code on any number of
    cores, fetching aside; a run spends more (fetching, and handing the items to the
    workers that render the files)."""
    import pickle

    from bench.corpus import Manifest
    from coopfeed.config import load_config
    from coopfeed.pipeline import collecting_less, publish_all
    from coopfeed.prepare import parse_and_prepare
    from coopfeed.store import SourceState, Store
    from coopfeed.workers import Workers

    folder = Path(job["corpus"])
    paths = Manifest.load(folder).paths
    config = load_config(Path(job["config"]))
    now = datetime.now(UTC)
    cpu: defaultdict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def part(name: str) -> Iterator[None]:
        began = time.process_time()
        yield
        cpu[name] += time.process_time() - began

    headers = {"content-type": "application/xml"}
    limits, authority, policy = config.limits, config.tag_authority, config.matching
    start = time.perf_counter()
    entries = 0
    store = Store.open(config.database)
    try:
        with collecting_less(), store.grouped_writes():
            for source, path in zip(config.sources, paths, strict=True):
                body = (folder / path.lstrip("/")).read_bytes()
                with part("parse and prepare"):
                    parsed = parse_and_prepare(
                        source, body, source.url, headers, now, limits, authority
                    )
                with part("hand over"):
                    _, prepared = pickle.loads(pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL))
                with part("store"):  # with the source's state, as a run stores
                    state = SourceState(source.name, last_fetch=now, last_success=now)
                    store.ingest(source.name, prepared.candidates, now, policy, state=state)
                entries += len(prepared.candidates)
        with collecting_less(), Workers(0) as here:
            with part("file titles"):
                store.file_titles(policy)
            store.forget_titles()
            with part("publish"):
                report = publish_all(config, store, now, workers=here)
        items = len(store.published_items())
    finally:
        store.close()
    return {
        "wall": time.perf_counter() - start,
        "cpu": dict(cpu),
        "cpu_s": sum(cpu.values()),
        "entries": entries,
        "items": items,
        "written": len(report.written),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- baselines ---------------------------------------------------------------------------------


@phase
def run_loop(job: dict[str, Any]) -> dict[str, Any]:
    """httpx with ``concurrency`` requests in flight, then feedparser on each body."""
    import feedparser
    import httpx

    urls: list[str] = json.loads(Path(job["urls_file"]).read_text(encoding="utf-8"))
    state_file = Path(job["state"])
    etags: dict[str, str] = (
        json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
    )

    async def fetch_all() -> list[tuple[str, int, bytes, dict[str, str]]]:
        limit = job.get("concurrency", 50)
        slots = asyncio.Semaphore(limit)
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            async def one(url: str) -> tuple[str, int, bytes, dict[str, str]]:
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                async with slots:
                    response = await client.get(url, headers=headers)
                return url, response.status_code, response.content, dict(response.headers)

            return await asyncio.gather(*(one(url) for url in urls))

    start = time.perf_counter()
    responses = asyncio.run(fetch_all())
    fetched = time.perf_counter()
    entries = parsed_feeds = bozo = 0
    for url, status, body, headers in responses:
        if status != 200:
            continue
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={
                "content-type": headers.get("content-type", "application/xml"),
                "content-location": url,
            },
        )
        parsed_feeds += 1
        entries += len(parsed.entries)
        bozo += bool(parsed.bozo)
        if headers.get("etag"):
            etags[url] = headers["etag"]
    end = time.perf_counter()
    state_file.write_text(json.dumps(etags), encoding="utf-8")
    statuses = Counter(status for _, status, _, _ in responses)
    return {
        "wall": end - start,
        "stages": {"fetch": fetched - start, "parse": end - fetched},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "parsed_feeds": parsed_feeds,
        "entries_parsed": entries,
        "bozo": bozo,
        "peak_rss_mb": peak_rss_mb(),
    }


@phase
def run_reader(job: dict[str, Any]) -> dict[str, Any]:
    """reader's update_feeds(): the first pass adds the feeds; later ones force the
    conditional GETs with ``scheduled=False`` (feeds are not due again yet)."""
    import logging

    logging.getLogger("reader").setLevel(logging.CRITICAL)
    from reader import make_reader

    reader = make_reader(job["database"])
    try:
        first = not reader.get_feed_counts().total
        if first:
            for url in json.loads(Path(job["urls_file"]).read_text(encoding="utf-8")):
                reader.add_feed(url, exist_ok=True)
        start = time.perf_counter()
        reader.update_feeds(scheduled=first, workers=job.get("workers", 1))
        wall = time.perf_counter() - start
        counts = reader.get_feed_counts()
        entries = reader.get_entry_counts().total
    finally:
        reader.close()
    return {
        "wall": wall,
        "feeds": counts.total,
        "broken": counts.broken,
        "entries_stored": entries,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- archive -------------------------------------------------------------------------------------


@phase
def run_archive(job: dict[str, Any]) -> dict[str, Any]:
    """parse_archive on the same text ``rounds`` times; entries/s of the median round."""
    from coopfeed.sources.archive import parse_archive

    text = Path(job["path"]).read_text(encoding="utf-8")
    times = []
    items: list[Any] = []
    warnings: list[str] = []
    for _ in range(job.get("rounds", 5)):
        start = time.perf_counter()
        items, warnings = parse_archive(text, source="bench", filename="bench.txt")
        times.append(time.perf_counter() - start)
    return {
        "wall": statistics.median(times),
        "best": min(times),
        "items": len(items),
        "warnings": len(warnings),
        "first_warnings": warnings[:3],
        "peak_rss_mb": peak_rss_mb(),
    }


# -- near-duplicate matching -------------------------------------------------------------------


def _bulk_fill(database: str, start: int, count: int, seed: str, span_days: float) -> None:
    """Append ``count`` items (ids from ``start + 1``) straight into the items table, as
    ``Store.ingest`` would have stored them, from 1,000 other sources; their dates spread
    evenly over the ``span_days`` before the corpus's base date.  The secondary indexes
    are dropped for the load and built again afterwards."""
    from bench.corpus import BASE, WORDS
    from coopfeed.identity import title_key

    end = int(BASE.timestamp())
    span = int(span_days * 86_400)
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='items'"
            " AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for chunk in range(start, start + count, 50_000):
            rng = random.Random(f"{seed}:stored:{chunk}")
            rows = []
            for number in range(chunk, min(chunk + 50_000, start + count)):
                words = rng.sample(WORDS, rng.randint(6, 10))
                title = " ".join([words[0].capitalize(), *words[1:]])
                link = f"https://stored{number % 1000}.example.org/{number}"
                rows.append(
                    (
                        number + 1,
                        f"tag:bench.example.org,2025:stored/{number:09d}",
                        title,
                        title_key(title),
                        link,
                        link,
                        f"a{number}",
                        f"stored-{number % 1000:03d}",
                        end - rng.randrange(span),
                    )
                )
            connection.executemany(
                "INSERT INTO items (id, guid, title, title_key, link, link_key, anchor,"
                " summary, categories, authors, source, published, updated, first_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, '', '[\"News\"]', '[]', ?, ?, ?9, ?9)",
                rows,
            )
        for _, sql in indexes:
            connection.execute(sql)
        connection.commit()
    finally:
        connection.close()


def _batch(database: str, seed: str, size: int, stored: int, span_days: float) -> list[Any]:
    """``size`` new feed items from one source dated within the last 30 days of the span;
    one in ten repeats a stored item's title with its case changed (a same-title merge)
    and one in ten with its last word dropped (near-duplicate scoring, which may or may
    not merge), dated within 6 hours of it.  Repeats are of the first ``stored`` items."""
    from bench.corpus import BASE, WORDS
    from coopfeed.types import RawItem

    rng = random.Random(f"{seed}:batch")
    connection = sqlite3.connect(database)
    raws = []
    try:
        for number in range(size):
            roll = rng.random()
            if roll < 0.2:
                title, when = connection.execute(
                    "SELECT title, published FROM items WHERE id = ?",
                    (rng.randrange(stored) + 1,),
                ).fetchone()
                published = datetime.fromtimestamp(when, UTC) + timedelta(hours=rng.uniform(-6, 6))
                title = title.upper() if roll < 0.1 else " ".join(title.split()[:-1])
            else:
                title = " ".join(rng.sample(WORDS, rng.randint(6, 10))).capitalize()
                published = BASE - timedelta(days=rng.uniform(0, min(30, span_days)))
            raws.append(
                RawItem(
                    source="bench-new",
                    title=title,
                    key=f"urn:bench:new:{number}",
                    link=f"https://new.example.org/{number}",
                    summary="<p>A new item.</p>",
                    summary_is_html=True,
                    published=published,
                    categories=("News",),
                )
            )
    finally:
        connection.close()
    return raws


@phase
def run_dedupe(job: dict[str, Any]) -> dict[str, Any]:
    """For each size: fill the store up to it and file its titles for matching (as the
    runs that stored them would have), ingest the batch (timed), take the batch out
    again (its rows, its keys, the fill-ins it made), so every size sees the same work."""
    from coopfeed.dedupe import MatchPolicy
    from coopfeed.identity import feed_candidate
    from coopfeed.normalize import normalize
    from coopfeed.store import Store

    database, seed = job["database"], job["seed"]
    span = job.get("span_days", 730)
    Store.open(database).close()  # creates the schema
    now = datetime.now(UTC)
    results = []
    filled = 0
    for size in job["sizes"]:
        start = time.perf_counter()
        _bulk_fill(database, filled, size - filled, seed, span)
        store = Store.open(database)
        try:  # as the runs that stored them would have left them: filed for matching
            store.file_titles(MatchPolicy())
        finally:
            store.close()
        build = time.perf_counter() - start
        filled = size
        raws = _batch(database, seed, job["batch"], min(job["sizes"]), span)
        candidates = []
        for raw in raws:
            item = normalize(raw, now=now, timezone="UTC", default_category="News")
            assert item is not None
            candidates.append(feed_candidate(item, "bench.example.org"))
        store = Store.open(database)
        try:
            start = time.perf_counter()
            report = store.ingest("bench-new", candidates, now, MatchPolicy())
            wall = time.perf_counter() - start
        finally:
            store.close()
        _take_out(database, size)
        results.append(
            {
                "stored": size,
                "build": build,
                "wall": wall,
                "batch": len(candidates),
                "new": report.new,
                "merged": report.merged,
            }
        )
    return {"sizes": results, "peak_rss_mb": peak_rss_mb()}


def _take_out(database: str, stored: int) -> None:
    connection = sqlite3.connect(database)
    try:
        connection.execute("DELETE FROM item_sources WHERE source = 'bench-new'")
        connection.execute("DELETE FROM title_parts WHERE item_id > ?", (stored,))
        connection.execute("DELETE FROM items WHERE id > ?", (stored,))
        connection.execute(
            "UPDATE items SET summary = '', categories = '[\"News\"]', authors = '[]'"
            " WHERE summary != '' OR categories != '[\"News\"]' OR authors != '[]'"
        )
        connection.commit()
    finally:
        connection.close()


# -- correctness -------------------------------------------------------------------------------


@phase
def run_check(job: dict[str, Any]) -> dict[str, Any]:
    """For every entry of the sampled feeds: the stored item its (source, guid) key points
    to must have the title feedparser (default settings) reads, after coopfeed's own
    plain-text normalization.  An entry merged into another source's item is checked
    by title key (a repeat with changed case or spacing) or near-duplicate similarity."""
    import feedparser

    from bench.corpus import Manifest, source_name
    from coopfeed.dedupe import near_duplicate
    from coopfeed.identity import title_key
    from coopfeed.normalize import DEFAULT_LIMITS, plain_text

    folder = Path(job["corpus"])
    manifest = Manifest.load(folder)
    rng = random.Random(f"{manifest.seed}:check")
    indexes = list(range(manifest.feeds))
    if job.get("sample", 1.0) < 1.0:
        indexes = sorted(rng.sample(indexes, max(1, round(len(indexes) * job["sample"]))))
    connection = sqlite3.connect(f"file:{job['database']}?mode=ro", uri=True)
    counts: Counter[str] = Counter()
    examples: list[str] = []
    try:
        stored_items = connection.execute("SELECT count(*) FROM items").fetchone()[0]
        for index in indexes:
            name = source_name(index)
            keys = dict(
                connection.execute(
                    "SELECT key, item_id FROM item_sources WHERE source = ?", (name,)
                ).fetchall()
            )
            body = (folder / manifest.paths[index].lstrip("/")).read_bytes()
            parsed = feedparser.parse(
                io.BytesIO(body), response_headers={"content-type": "application/xml"}
            )
            for entry in parsed.entries:
                counts["entries"] += 1
                detail = entry.get("title_detail") or {}
                is_html = detail.get("type") in ("text/html", "application/xhtml+xml")
                expected = plain_text(
                    entry.get("title", ""), decode_html=is_html, limit=DEFAULT_LIMITS.title
                )
                item_id = keys.get(f"id|{entry.get('id')}")
                if item_id is None:
                    counts["missing"] += 1
                    _example(examples, f"{name}: no stored item for guid {entry.get('id')!r}")
                    continue
                title, source = connection.execute(
                    "SELECT title, source FROM items WHERE id = ?", (item_id,)
                ).fetchone()
                if source == name:
                    if title == expected:
                        counts["equal"] += 1
                    else:
                        counts["mismatch"] += 1
                        _example(examples, f"{name}: stored {title!r}, feedparser {expected!r}")
                elif title_key(title) == title_key(expected):
                    counts["merged_same_title"] += 1
                elif near_duplicate(title_key(title), title_key(expected), 0.85):
                    counts["merged_near_duplicate"] += 1
                else:
                    counts["merged_wrongly"] += 1
                    _example(examples, f"{name}: merged {expected!r} into {title!r}")
    finally:
        connection.close()
    return {
        "feeds_checked": len(indexes),
        "stored_items": stored_items,
        "expected_stories": manifest.stories,
        **counts,
        "examples": examples,
        "parsers": _compare_parsers(folder, manifest),
        "peak_rss_mb": peak_rss_mb(),
    }


def _compare_parsers(folder: Path, manifest: Any) -> dict[str, Any]:
    """parse_feed's fast path against feedparser (``fast=False``) on every feed of the
    corpus: how many documents the fast path took, how many fell back, how many differ."""
    from bench.corpus import source_name
    from coopfeed.sources.feed import _clean, _read_fast, parse_feed

    headers = {"content-type": "application/xml"}
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for index, path in enumerate(manifest.paths):
        body = (folder / path.lstrip("/")).read_bytes()
        name, url = source_name(index), f"http://127.0.0.1{path}"
        fast = parse_feed(name, body, url=url, headers=headers, fast=True)
        slow = parse_feed(name, body, url=url, headers=headers, fast=False)
        counts["documents"] += 1
        taken = _read_fast(_clean(body, headers, [])) is not None
        counts["fast_path" if taken else "fell_back"] += 1
        if fast != slow:
            counts["differ"] += 1
            if len(examples) < 2:
                examples.append(f"{name}: {_difference(fast, slow)}")
    return {**counts, "examples": examples}


def _difference(fast: Any, slow: Any) -> str:
    """Where two SourceResults first differ, in one line."""
    for field in ("error", "warnings", "extra"):
        if getattr(fast, field) != getattr(slow, field):
            mine, theirs = getattr(fast, field), getattr(slow, field)
            return f"{field}: fast {mine!r}, feedparser {theirs!r}"[:300]
    for number, (one, other) in enumerate(zip(fast.items, slow.items, strict=False), 1):
        for field in one.__dataclass_fields__:
            if getattr(one, field) != getattr(other, field):
                mine, theirs = getattr(one, field), getattr(other, field)
                return f"entry {number} {field}: fast {mine!r}, feedparser {theirs!r}"[:300]
    return f"fast {len(fast.items)} entries, feedparser {len(slow.items)}"


def _example(examples: list[str], text: str) -> None:
    if len(examples) < 5:
        examples.append(text)


# -- the process -------------------------------------------------------------------------------


def _exit_with_parent() -> None:
    """End this process if the bench that started it goes away."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Whatever the phase prints goes to stderr: stdout carries only the result line."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("phase", choices=sorted(PHASES))
    parser.add_argument("job", help="the job as JSON, or @FILE holding it")
    args = parser.parse_args(argv)
    _exit_with_parent()
    text = args.job
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    with _quiet_stdout():
        result = PHASES[args.phase](json.loads(text))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
