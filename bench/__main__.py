"""``python -m bench``: sizes and a seed go in, a table of timings, peak RSS and ratios
comes out (and, with ``--json``, the same figures as JSON).

Everything runs in one temporary folder, removed at the end, and in one process tree:
the loopback server and every phase are child processes of this one (see
``bench/worker.py``), each timed inside and measured from outside (``os.wait4`` gives a
child's own peak RSS).  Each child has a time limit and ends when this process goes away.
See bench/README.md for what each phase measures.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import corpus

ROOT = Path(__file__).resolve().parent.parent
#: How many passes the memory check makes, each with STEADY of the feeds changed.
MEMORY_PASSES = 3
STEADY = 0.05


@dataclass(frozen=True, slots=True)
class Sizes:
    feeds: int
    entries: int
    archive: int
    dedupe: tuple[int, ...]
    batch: int
    check_sample: float


QUICK = Sizes(feeds=100, entries=20, archive=2_000, dedupe=(50_000, 100_000), batch=100,
              check_sample=1.0)  # fmt: skip
DEFAULT = Sizes(feeds=1_000, entries=50, archive=10_000, dedupe=(1_000_000, 2_000_000),
                batch=1_000, check_sample=0.1)  # fmt: skip


@dataclass(slots=True)
class Result:
    """One phase of one tool: what the worker said, and what the parent saw."""

    phase: str
    tool: str
    data: dict[str, Any] = field(default_factory=dict)
    process_wall: float = 0.0
    peak_rss_mb: float = 0.0
    error: str | None = None
    warnings: int = 0

    @property
    def wall(self) -> float | None:
        value = self.data.get("wall")
        return float(value) if value is not None and not self.error else None


class Bench:
    """The temporary folder, the child processes, and the results so far."""

    def __init__(self, args: argparse.Namespace, sizes: Sizes) -> None:
        self.args = args
        self.sizes = sizes
        self.python = sys.executable
        self.results: list[Result] = []
        self._children: list[subprocess.Popen[bytes]] = []
        self._temp = tempfile.TemporaryDirectory(prefix="coopfeed-bench-")
        self.work = Path(self._temp.name)
        self.corpus = self.work / "corpus"
        self.servers: dict[str, int] = {}
        self.elapsed = 0.0

    # -- processes -----------------------------------------------------------------------

    def close(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        self._temp.cleanup()

    def start_server(self, name: str, *extra: str) -> int:
        """Start a loopback server on the corpus; returns its port."""
        log = (self.work / f"server-{name}.log").open("wb")
        child = subprocess.Popen(
            [self.python, "-m", "bench.server", str(self.corpus), *extra],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        self._children.append(child)
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise SystemExit(f"bench: the {name} server did not start (see its log)")
        self.servers[name] = int(line)
        return int(line)

    def worker(
        self, phase: str, tool: str, kind: str, job: dict[str, Any], timeout: float
    ) -> Result:
        """Run one phase (a ``bench.worker`` kind) in a child process; its result, or why
        there is none."""
        stem = self.work / f"{phase}-{tool}-{len(self.results)}"
        job_file = stem.with_suffix(".job.json")
        job_file.write_text(json.dumps(job), encoding="utf-8")
        out, err = stem.with_suffix(".out"), stem.with_suffix(".err")
        result = Result(phase, tool)
        start = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            child = subprocess.Popen(
                [self.python, "-m", "bench.worker", kind, f"@{job_file}"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
            self._children.append(child)
            timer = threading.Timer(timeout, child.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(child.pid, 0)
            finally:
                timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        self._children.remove(child)
        result.process_wall = time.perf_counter() - start
        result.peak_rss_mb = usage.ru_maxrss / 1024
        log = err.read_text(encoding="utf-8", errors="replace")
        result.warnings = sum(": warning:" in line for line in log.splitlines())
        lines = out.read_text(encoding="utf-8").strip().splitlines()
        if child.returncode == -signal.SIGKILL:
            result.error = f"timed out after {timeout:g} s"
        elif child.returncode != 0 or not lines:
            tail = " | ".join(log.strip().splitlines()[-3:])
            result.error = f"exit {child.returncode}: {tail[-300:]}"
        else:
            result.data = json.loads(lines[-1])
        self.results.append(result)
        print(f"  {phase:<16} {tool:<9} {describe(result)}", flush=True)
        return result

    # -- the run -------------------------------------------------------------------------

    def run(self) -> None:
        sizes, args = self.sizes, self.args
        started = time.perf_counter()
        self.corpus.mkdir()
        manifest = corpus.write_corpus(
            self.corpus, feeds=sizes.feeds, entries=sizes.entries, seed=args.seed
        )
        megabytes = corpus.corpus_size(self.corpus) / 1e6
        print(
            f"corpus: {sizes.feeds:,} feeds x {sizes.entries} entries ({megabytes:.1f} MB), "
            f"{manifest.repeats:,} repeated stories, {manifest.stories:,} distinct; seed "
            f"{args.seed!r}; folder {self.work}",
            flush=True,
        )
        port = self.start_server("main")
        urls = [f"http://127.0.0.1:{port}{path}" for path in manifest.paths]
        (self.work / "urls.json").write_text(json.dumps(urls), encoding="utf-8")
        config = self.write_config("config.toml", urls)
        limit = args.timeout
        profile = args.profile_dir

        def coopfeed_job(name: str, **extra: Any) -> dict[str, Any]:
            job: dict[str, Any] = {"config": str(config), "corpus": str(self.corpus)}
            if profile and name:
                job["profile"] = str(Path(profile).resolve() / name)
            return job | extra

        loop_job = {"urls_file": str(self.work / "urls.json"), "state": str(self.work / "loop")}
        reader_job = {"urls_file": loop_job["urls_file"], "database": str(self.work / "r.db")}
        baselines = [("loop", loop_job)] + ([] if args.skip_reader else [("reader", reader_job)])
        ours = self.worker("cold", "coopfeed", "coopfeed", coopfeed_job("cold"), limit)
        # Later coopfeed phases need the store the cold pass fills: without it they
        # would measure another cold pass (or time out the same way).
        stored = ours.error is None
        for name in ("cold", "warm"):
            if name == "warm" and stored:
                self.worker(name, "coopfeed", "coopfeed", coopfeed_job(name), limit)
            for tool, job in baselines:
                self.worker(name, tool, tool, job, limit)
        if stored:  # the work of the cold pass, one part at a time in one process
            (self.work / "budget").mkdir()
            budget = {"config": str(self.write_config("budget/config.toml", urls))}
            self.worker(
                "budget", "coopfeed", "budget", budget | {"corpus": str(self.corpus)}, limit
            )
        changed = corpus.mutate(self.corpus, STEADY)
        print(f"  changed {len(changed)} of {sizes.feeds} feeds", flush=True)
        if stored:
            self.worker("steady", "coopfeed", "coopfeed", coopfeed_job("steady"), limit)
        for tool, job in baselines:
            self.worker("steady", tool, tool, job, limit)
        if stored:
            self.worker("publish-only", "coopfeed", "publish", {"config": str(config)}, limit)
            bare = self.start_server("bare", "--no-validators")
            bare_urls = [f"http://127.0.0.1:{bare}{path}" for path in manifest.paths]
            bare_config = self.write_config("config-bare.toml", bare_urls)
            self.worker("warm-no-etag", "coopfeed", "coopfeed", {"config": str(bare_config)}, limit)
            memory = {"repeat": MEMORY_PASSES, "mutate": STEADY}
            self.worker("memory", "coopfeed", "coopfeed", coopfeed_job("", **memory), limit)
        else:
            print("  (no further coopfeed feed phases: the cold pass did not finish)")
        archive = self.work / "archive.txt"
        archive.write_text(corpus.archive_text(sizes.archive, seed=args.seed), encoding="utf-8")
        self.worker("archive", "coopfeed", "archive", {"path": str(archive), "rounds": 5}, limit)
        self.worker(
            "dedupe",
            "coopfeed",
            "dedupe",
            {
                "database": str(self.work / "dedupe.sqlite3"),
                "seed": args.seed,
                "sizes": list(sizes.dedupe),
                "batch": sizes.batch,
            },
            args.dedupe_timeout,
        )
        if stored:
            self.worker(
                "check",
                "coopfeed",
                "check",
                {
                    "corpus": str(self.corpus),
                    "database": str(self.work / "coopfeed.sqlite3"),
                    "sample": sizes.check_sample,
                },
                limit,
            )
        self.elapsed = time.perf_counter() - started

    def write_config(self, name: str, urls: list[str]) -> Path:
        """A coopfeed configuration for the corpus.  Every feed is on one loopback host, so
        ``per_host`` is raised to ``concurrency`` (as for feeds on many hosts)."""
        lines = [
            "[site]",
            'title = "Bench"',
            'base_url = "http://127.0.0.1:8080/"',
            'output_dir = "feeds"',
            'database = "coopfeed.sqlite3"',
            'tag_authority = "bench.example.org"',
            "[fetch]",
            "per_host = 10",
        ]
        for index, url in enumerate(urls):
            lines += ["[[sources]]", f'name = "{corpus.source_name(index)}"', 'type = "feed"']
            lines.append(f'url = "{url}"')
        path = self.work / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def describe(result: Result) -> str:
    if result.error:
        return f"FAILED: {result.error}"
    wall = result.data.get("wall")
    text = f"{wall:.2f} s" if wall is not None else ""
    return f"{text} (process {result.process_wall:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB)"


def main(argv: list[str] | None = None) -> int:
    from bench import report

    args = parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    sizes = Sizes(
        feeds=args.feeds or base.feeds,
        entries=args.entries or base.entries,
        archive=args.archive or base.archive,
        dedupe=tuple(args.dedupe) if args.dedupe else base.dedupe,
        batch=args.batch or base.batch,
        check_sample=args.check_sample if args.check_sample is not None else base.check_sample,
    )
    bench = Bench(args, sizes)
    load_before = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally: below still runs
    try:
        bench.run()
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        bench.close()
    load = (load_before, os.getloadavg()[0])
    print()
    print(report.render(bench.results, sizes, bench.elapsed, args, load))
    if args.json:
        args.json.write_text(report.as_json(bench.results, sizes, args, load), encoding="utf-8")
    failed = [r for r in bench.results if r.error]
    return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark coopfeed against a plain loop and reader."
    )
    parser.add_argument("--quick", action="store_true", help="a small size (under a minute)")
    parser.add_argument("-F", "--feeds", type=int, help="feeds (default 1,000; quick 100)")
    parser.add_argument("-E", "--entries", type=int, help="entries per feed (50; quick 20)")
    parser.add_argument("-N", "--archive", type=int, help="archive entries (10,000; quick 2,000)")
    parser.add_argument(
        "--dedupe",
        type=int,
        nargs="+",
        metavar="ITEMS",
        help="stored items for near-duplicate matching (1,000,000 2,000,000; quick 50,000 100,000)",
    )
    parser.add_argument("--batch", type=int, help="new items ingested against them (1,000)")
    parser.add_argument(
        "--check-sample",
        type=float,
        help="fraction of the feeds whose titles are checked (0.1; quick 1)",
    )
    parser.add_argument("--seed", default="coopfeed", help="seed for every generator")
    parser.add_argument("--skip-reader", action="store_true", help="no reader baseline")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="profile the coopfeed passes with pyinstrument; write NAME.txt/.html here",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds one phase may take (1800)"
    )
    parser.add_argument(
        "--dedupe-timeout",
        type=float,
        default=1800,
        help="seconds the near-duplicate phase may take, store building included (1800)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
