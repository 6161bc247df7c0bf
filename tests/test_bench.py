"""The benchmark itself (bench/): a tiny run of every phase, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_tiny_bench_runs_every_phase_and_its_budget_does_the_cold_run_s_work(
    tmp_path: Path,
) -> None:
    """``python -m bench`` at a tiny size (10 feeds of 5 entries, reader left out):
    every phase finishes, and the budget phase, which does a first run's work in one
    process, stores and writes what the cold run stored and wrote."""
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-F", "10", "-E", "5", "-N", "100"]
        + ["--dedupe", "500", "1000", "--batch", "10", "--skip-reader", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = {(r["phase"], r["tool"]): r for r in json.loads(figures.read_text())["results"]}
    phases = {phase for phase, _ in results}
    assert phases >= {"cold", "warm", "budget", "steady", "publish-only", "memory", "check"}
    assert all(r["error"] is None for r in results.values())
    cold, budget = results["cold", "coopfeed"]["data"], results["budget", "coopfeed"]["data"]
    assert set(budget["cpu"]) == {
        "parse and prepare",
        "hand over",
        "store",
        "file titles",
        "publish",
    }
    assert budget["entries"] == 50 and budget["items"] == cold["new"] > 0
    assert budget["written"] == cold["written"] > 0
    assert "work of a first run, in one process" in done.stdout
    assert "targets (set for 1,000 x 50):" in done.stdout
