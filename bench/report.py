"""Results in, the printed table (and the JSON) out.

Entries/s for the feed phases is always the corpus's entry count (F x E) over the
phase's wall seconds, so the figures of cold, warm and steady compare directly; a speed
ratio is coopfeed's entries/s over the baseline's (above 1: coopfeed is faster), a peak
RSS ratio coopfeed's over the baseline's (below 1: coopfeed uses less).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

FEED_PHASES = ("cold", "warm", "steady")
STAGES = ("fetch", "parse", "normalize", "parse wait", "ingest", "source state", "publish")


class _Result(Protocol):
    phase: str
    tool: str
    data: dict[str, Any]
    process_wall: float
    peak_rss_mb: float
    error: str | None
    warnings: int

    @property
    def wall(self) -> float | None: ...


class _Sizes(Protocol):
    @property
    def feeds(self) -> int: ...
    @property
    def entries(self) -> int: ...
    @property
    def archive(self) -> int: ...
    @property
    def dedupe(self) -> tuple[int, ...]: ...
    @property
    def batch(self) -> int: ...
    @property
    def check_sample(self) -> float: ...


def render(
    results: Sequence[_Result],
    sizes: _Sizes,
    elapsed: float,
    args: argparse.Namespace,
    load: tuple[float, float],
) -> str:
    """The whole report; ``load`` is the 1-minute load average before and after the run
    (above about 2 on this 2-core machine, something else was running too)."""
    total = sizes.feeds * sizes.entries
    found = {(r.phase, r.tool): r for r in results}
    lines = [
        f"coopfeed bench: {sizes.feeds:,} feeds x {sizes.entries} entries = {total:,} entries;"
        f" archive {sizes.archive:,}; seed {args.seed!r}; {elapsed:.0f} s in all",
        f"coopfeed {revision()}; Python {platform.python_version()}, {_cores()} cores;"
        f" load average {load[0]:.2f} before, {load[1]:.2f} after",
        "",
        f"{'phase':<14}{'tool':<10}{'wall s':>9}{'entries/s':>11}{'RSS MB':>8}"
        f"{'process s':>11}  notes",
    ]
    for result in results:
        if result.phase in ("memory", "budget", "archive", "dedupe", "check"):
            continue
        rate = total / result.wall if result.wall and result.phase != "publish-only" else None
        lines.append(
            f"{result.phase:<14}{result.tool:<10}{_num(result.wall, 2):>9}{_num(rate):>11}"
            f"{result.peak_rss_mb:>8.0f}{result.process_wall:>11.1f}  {_notes(result)}"
        )
    lines += ["", _ratios(found), "", _stages(found), ""]
    lines += _others(found, sizes)
    lines += ["", *_targets(found, sizes, args)]
    return "\n".join(lines)


def revision() -> str:
    """The commit measured, "-dirty" when the work tree had changes (``git describe``)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "(unknown revision)"
    return done.stdout.strip() or "(unknown revision)"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _notes(result: _Result) -> str:
    if result.error:
        return f"FAILED: {result.error}"
    d = result.data
    if result.tool == "coopfeed" and result.phase != "publish-only":
        parts = [
            f"{d.get('new', 0):,} new",
            f"{d.get('merged', 0):,} merged",
            f"{d.get('updated', 0):,} updated",
            f"{d.get('not_modified', 0):,} not modified",
            f"{d.get('failed', 0)} failed",
            f"{d.get('written', 0):,} files written",
        ]
        if d.get("tree_peak_mb"):
            parts.append(f"with its workers {d['tree_peak_mb']:.0f} MB (PSS)")
        if d.get("cpu_s"):
            parts.append(f"CPU {d['cpu_s']:.1f} s, {d.get('own_cpu_s', 0):.1f} s its own")
        if result.warnings:
            parts.append(f"{result.warnings:,} warnings")
        if d.get("errors"):
            parts.append(f"e.g. {d['errors'][0]}")
        return ", ".join(parts)
    if result.phase == "publish-only":
        return (
            f"{d.get('items', 0):,} items, {d.get('written', 0):,} files written,"
            f" {d.get('files_unchanged', 0):,} unchanged"
        )
    if result.tool == "loop":
        statuses = ", ".join(f"{n:,} x {s}" for s, n in d.get("statuses", {}).items())
        return f"{statuses}; {d.get('entries_parsed', 0):,} entries parsed"
    if result.tool == "reader":
        return f"{d.get('entries_stored', 0):,} entries stored, {d.get('broken', 0)} broken"
    return ""


def _ratios(found: dict[tuple[str, str], _Result]) -> str:
    lines = [f"{'coopfeed / baseline':<24}{'speed':>8}{'peak RSS':>10}"]
    for phase in FEED_PHASES:
        ours = found.get((phase, "coopfeed"))
        for tool in ("loop", "reader"):
            theirs = found.get((phase, tool))
            if ours is None or theirs is None:
                continue
            speed = theirs.wall / ours.wall if ours.wall and theirs.wall else None
            rss = ours.peak_rss_mb / theirs.peak_rss_mb if theirs.peak_rss_mb else None
            lines.append(
                f"{phase + ' vs ' + tool:<24}{_num(speed, 2) + 'x':>8}{_num(rss, 2) + 'x':>10}"
            )
    return "\n".join(lines)


def _stages(found: dict[tuple[str, str], _Result]) -> str:
    header = f"{'coopfeed stages (s)':<20}" + "".join(f"{s:>13}" for s in (*STAGES, "other"))
    lines = [header]
    for phase in (*FEED_PHASES, "warm-no-etag"):
        result = found.get((phase, "coopfeed"))
        if result is None or result.wall is None:
            continue
        stages = result.data.get("stages", {})
        other = result.wall - sum(stages.values())
        cells = "".join(f"{stages.get(s, 0):>13.2f}" for s in STAGES)
        lines.append(f"{phase:<20}{cells}{other:>13.2f}")
    lines.append(
        "  fetch = fetch_all (HTTP), parse = parse_feed, normalize = prepare (normalize +"
        " identity),\n  parse wait = waiting for the worker processes that parse and normalize"
        " a big batch,\n  ingest = Store.ingest (dedupe + SQL, and the state of a source that"
        " brought items),\n  source state = Store.save_source_states (the states of the others),"
        " publish = publish_all (read the\n  store, render, write); other = the rest of cli.main"
        " (config, Store.open, the lock, filing titles)"
    )
    return "\n".join(lines)


def _others(found: dict[tuple[str, str], _Result], sizes: _Sizes) -> list[str]:
    """A line or a few for each of coopfeed's phases that are not rows of the table."""
    lines: list[str] = []
    for phase, label, describe in _OTHERS:
        result = found.get((phase, "coopfeed"))
        if result is not None:
            lines += (
                [f"{label}: FAILED: {result.error}"] if result.error else describe(result, sizes)
            )
    return lines


def _memory(result: _Result, sizes: _Sizes) -> list[str]:
    passes = result.data.get("passes", [])
    rss = ", ".join(f"{p['rss_mb']:.0f}" for p in passes)
    walls = ", ".join(f"{p['wall']:.2f}" for p in passes)
    return [
        f"memory: {len(passes)} runs in one process, 5% of feeds changed before each"
        f" but the first: RSS after each {rss} MB (peak {result.peak_rss_mb:.0f});"
        f" wall {walls} s"
    ]


def _budget(result: _Result, sizes: _Sizes) -> list[str]:
    d = result.data
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in d["cpu"].items())
    return [
        f"work of a first run, in one process (no workers, no HTTP): {parts} CPU-s ="
        f" {d['cpu_s']:.1f} CPU-s, {d['wall']:.1f} s; {d['entries']:,} entries,"
        f" {d['items']:,} items, {d['written']:,} files"
    ]


def _archive(result: _Result, sizes: _Sizes) -> list[str]:
    d = result.data
    return [
        f"archive: parse_archive on {sizes.archive:,} entries: median {d['wall']:.4f} s"
        f" = {d['items'] / d['wall']:,.0f} entries/s (best {d['items'] / d['best']:,.0f});"
        f" {d['items']:,} items, {d['warnings']} warnings"
    ]


def _dedupe(result: _Result, sizes: _Sizes) -> list[str]:
    runs = result.data.get("sizes", [])
    parts = [
        f"{r['stored']:,} stored: {r['wall']:.2f} s ({r['new']} new, {r['merged']}"
        f" merged; store built in {r['build']:.0f} s)"
        for r in runs
    ]
    ratio = runs[-1]["wall"] / runs[0]["wall"] if len(runs) > 1 else None
    return [
        f"near-duplicates: ingest {sizes.batch:,} new items (one source) against "
        + "; ".join(parts)
        + (f"; ratio {ratio:.2f}" if ratio else "")
        + f"; peak RSS {result.peak_rss_mb:.0f} MB"
    ]


def _check(result: _Result, sizes: _Sizes) -> list[str]:
    d = result.data
    lines = [
        f"correctness: {d.get('entries', 0):,} entries of {d['feeds_checked']:,} feeds"
        f" against feedparser: {d.get('equal', 0):,} equal titles,"
        f" {d.get('mismatch', 0)} MISMATCHES, {d.get('missing', 0)} missing,"
        f" merged: {d.get('merged_same_title', 0):,} same title +"
        f" {d.get('merged_near_duplicate', 0):,} near duplicate,"
        f" {d.get('merged_wrongly', 0)} wrongly; store holds {d['stored_items']:,} items"
        f" for {d['expected_stories']:,} distinct stories"
    ]
    lines += [f"  {example}" for example in d.get("examples", [])]
    parsers = d.get("parsers") or {}
    if parsers:
        lines.append(
            f"fast parser: {parsers.get('documents', 0):,} documents,"
            f" {parsers.get('fast_path', 0):,} taken by the fast path,"
            f" {parsers.get('fell_back', 0):,} fell back to feedparser,"
            f" {parsers.get('differ', 0)} DIFFER from feedparser"
        )
        lines += [f"  {example}" for example in parsers.get("examples", [])]
    return lines


#: The phases :func:`_others` describes, in order: phase, label, how.
_OTHERS: tuple[tuple[str, str, Callable[[_Result, _Sizes], list[str]]], ...] = (
    ("memory", "memory", _memory),
    ("budget", "work of a first run", _budget),
    ("archive", "archive", _archive),
    ("dedupe", "near-duplicates", _dedupe),
    ("check", "correctness", _check),
)


def _targets(
    found: dict[tuple[str, str], _Result], sizes: _Sizes, args: argparse.Namespace
) -> list[str]:
    """The issue's targets, met or not (they are set for the default size)."""
    checks: list[tuple[str, bool | None, str]] = []

    def wall(phase: str, tool: str = "coopfeed") -> float | None:
        result = found.get((phase, tool))
        return result.wall if result is not None else None

    cold, reader_cold = wall("cold"), wall("cold", "reader")
    if cold and reader_cold:
        speed = reader_cold / cold
        value = f"{speed:.2f}x ({cold:.2f} s; 3x is {reader_cold / 3:.2f} s)"
        work = found.get(("budget", "coopfeed"))
        if work is not None and not work.error:
            # However the parts overlap, the cores cannot do the work in less time.
            cores = _cores()
            least = work.data["cpu_s"] / cores
            value += f"; its work alone ({work.data['cpu_s']:.1f} CPU-s) needs at least"
            value += f" {least:.2f} s on {cores} cores"
        checks.append(("cold >= 3x reader's entries/s", speed >= 3, value))
    warm = found.get(("warm", "coopfeed"))
    if warm is not None and warm.wall is not None:
        written = warm.data.get("written", 0)
        ok = warm.wall <= 1.0 and written == 0
        checks.append(("warm <= 1 s, no file written", ok, f"{warm.wall:.2f} s, {written} written"))
    bare = found.get(("warm-no-etag", "coopfeed"))
    if bare is not None and bare.wall is not None:
        calls = bare.data.get("calls", {})
        parsed = max(calls.get("parse", 0), calls.get("parse wait", 0))
        written = bare.data.get("written", 0)
        checks.append(
            (
                "unchanged body without ETag not parsed",
                parsed == 0 and written == 0,
                f"{parsed} parsed, {written} written, {bare.wall:.2f} s",
            )
        )
    steady, warm_wall = wall("steady"), wall("warm")
    if cold and steady and warm_wall is not None:
        budget = warm_wall + 2 * 0.05 * cold
        checks.append(
            (
                "steady ~ proportional to what changed",
                steady <= budget,
                f"{steady:.2f} s (warm + 2 x 5% of cold = {budget:.2f} s)",
            )
        )
    # The runs' peaks: not the near-duplicate stores', nor the one-process work's.
    skipped = ("dedupe", "budget")
    ours = [r for r in found.values() if r.tool == "coopfeed" and r.phase not in skipped]
    if ours:
        # The run's own peak RSS, or with its worker processes (PSS) when that is more.
        top = max(max(r.peak_rss_mb, r.data.get("tree_peak_mb") or 0) for r in ours)
        checks.append(("peak RSS <= 300 MB, workers included", top <= 300, f"{top:.0f} MB"))
    memory = found.get(("memory", "coopfeed"))
    if memory is not None and not memory.error and len(memory.data.get("passes", [])) > 2:
        rss = [p["rss_mb"] for p in memory.data["passes"]]
        growth = rss[-1] - rss[1]  # the first pass fills caches: compare from the second
        ok = growth <= max(10, 0.05 * rss[1])
        checks.append(("memory does not grow with runs", ok, f"{growth:+.0f} MB"))
    dedupe = found.get(("dedupe", "coopfeed"))
    if dedupe is not None and not dedupe.error:
        runs = dedupe.data["sizes"]
        first = runs[0]
        checks.append(
            (
                f"near-duplicates over {first['stored']:,} <= 10 s",
                first["wall"] <= 10,
                f"{first['wall']:.2f} s",
            )
        )
        if len(runs) > 1:
            ratio = runs[-1]["wall"] / first["wall"]
            checks.append(("doubling stored items <= doubles the time", ratio <= 2, f"{ratio:.2f}"))
    archive = found.get(("archive", "coopfeed"))
    if archive is not None and not archive.error:
        rate = archive.data["items"] / archive.data["wall"]
        checks.append(("archive >= 100,000 entries/s", rate >= 100_000, f"{rate:,.0f}/s"))
    check = found.get(("check", "coopfeed"))
    if check is not None and not check.error:
        bad = sum(check.data.get(k, 0) for k in ("mismatch", "missing", "merged_wrongly"))
        checks.append(("every checked title equals feedparser's", bad == 0, f"{bad} bad"))
        parsers = check.data.get("parsers") or {}
        if parsers:
            differ, documents = parsers.get("differ", 0), parsers.get("documents", 0)
            checks.append(
                (
                    "fast parser equals feedparser on every document",
                    differ == 0 and documents > 0,
                    f"{differ} of {documents:,} differ",
                )
            )
    size_note = "" if (sizes.feeds, sizes.entries) == (1_000, 50) else " (set for 1,000 x 50)"
    lines = [f"targets{size_note}:"]
    for name, ok, value in checks:
        mark = "met    " if ok else "NOT MET"
        lines.append(f"  {mark} {name}: {value}")
    return lines


def as_json(
    results: Sequence[Any], sizes: Any, args: argparse.Namespace, load: tuple[float, float]
) -> str:
    return json.dumps(
        {
            "sizes": asdict(sizes),
            "seed": args.seed,
            "load_average": load,
            "revision": revision(),
            "python": platform.python_version(),
            "results": [asdict(r) for r in results],
        },
        indent=2,
    )
