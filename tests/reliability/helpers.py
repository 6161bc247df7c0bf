"""Shared helpers of the reliability suite: project folders, `coopfeed` as a subprocess
(with its own peak memory), feed documents, and checks that read the published folder
and the SQLite store back.

Imported as ``helpers`` (pytest's rootdir import mode puts this folder on sys.path).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
from feedcheck import check_atom, check_json_feed, check_opml, check_rss
from httpserver import FeedServer

ROOT = Path(__file__).resolve().parents[2]
#: Subprocesses import this checkout's coopfeed, whatever is installed.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
TEMP_SUFFIX = ".coopfeed-tmp"
PEAKRSS = ROOT / "tests" / "peakrss.py"
RENDER_CACHE = ".coopfeed-render"  # coopfeed.publish.RENDER_CACHE
#: What XML 1.0 forbids, plus DEL, C1 and the non-characters: never in published text.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
SECRET = "TOP-SECRET-4c1f"


# -- running coopfeed ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """How one `coopfeed` subprocess ended."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float  # this process's peak resident set, MiB


def coopfeed(*args: str, cwd: Path | None = None, timeout: float = 120) -> Run:
    """Run ``python -m coopfeed ARGS`` to the end (killed after ``timeout`` s), through
    tests/peakrss.py, which measures its own peak RSS (see there why)."""
    peak = (cwd or Path.cwd()) / f".peak-{time.monotonic_ns()}"
    process, out, err, started = _start(args, cwd, peak)
    timer = threading.Timer(timeout, _kill, (process.pid,))
    timer.start()
    try:
        process.wait()
    finally:
        timer.cancel()
    seconds = time.monotonic() - started
    return Run(
        process.returncode,
        _read(out),
        _read(err),
        seconds,
        int(_read(peak) or 0) / 1024,  # KiB on Linux
    )


def start(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``python -m coopfeed ARGS``; returns the process and its stderr file."""
    process, _, err, _ = _start(args, cwd)
    return process, err


def _start(
    args: Sequence[str], cwd: Path | None, peak: Path | None = None
) -> tuple[subprocess.Popen[bytes], Path, Path, float]:
    folder = cwd or Path.cwd()
    stamp = f"{time.monotonic_ns()}"
    out, err = folder / f".out-{stamp}.log", folder / f".err-{stamp}.log"
    command = [sys.executable, "-m", "coopfeed", *args]
    if peak is not None:
        command = [sys.executable, str(PEAKRSS), str(peak), *command]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=ENV,
            start_new_session=True,  # a timeout kills the measuring wrapper and coopfeed
        )
    return process, out, err, started


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:  # the wrapper was killed before it wrote its figure
        return ""
    path.unlink()
    return text


# -- projects -----------------------------------------------------------------------------


def write_config(
    folder: Path, sources: str, *, site: str = "", tables: str = "", name: str = "config.toml"
) -> Path:
    """A config.toml in ``folder`` with these sources (and extra ``[site]`` lines and
    tables); base_url http://127.0.0.1:8080/, tag authority coopfeed.example.org."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        f"""[site]
title = "Cooperative news"
base_url = "http://127.0.0.1:8080/"
tag_authority = "coopfeed.example.org"
min_interval = "1s"
{site}

{tables}

[categories]
"Press release" = "News"
{sources}
""",
        encoding="utf-8",
    )
    return path


def feed_source(name: str, url: str, *, category: str = "Wire", extra: str = "") -> str:
    return (
        f'\n[[sources]]\nname = "{name}"\ntype = "feed"\nurl = "{url}"\n'
        f'category = "{category}"\n{extra}\n'
    )


def archive_source(name: str, path: str, *, extra: str = "") -> str:
    return f'\n[[sources]]\nname = "{name}"\ntype = "archive"\npath = "{path}"\n{extra}\n'


# -- documents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One RSS item; every value is inserted as given (escape it yourself)."""

    guid: str | None
    title: str
    link: str | None = None
    date: str | None = "Mon, 02 Aug 2021 08:00:00 +0000"
    description: str | None = None
    extra: str = ""

    def xml(self) -> str:
        parts = ["<item>"]
        if self.guid is not None:
            parts.append(f'<guid isPermaLink="false">{self.guid}</guid>')
        parts.append(f"<title>{self.title}</title>")
        if self.link is not None:
            parts.append(f"<link>{self.link}</link>")
        if self.date is not None:
            parts.append(f"<pubDate>{self.date}</pubDate>")
        if self.description is not None:
            parts.append(f"<description>{self.description}</description>")
        parts.append(self.extra)
        parts.append("</item>")
        return "".join(parts)


def rss(entries: Iterable[Entry], *, title: str = "Coop wire", prolog: str = "") -> bytes:
    """An RSS 2.0 document (UTF-8) holding ``entries``; ``prolog`` goes before the root."""
    body = "".join(entry.xml() for entry in entries)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://wire.example/</link><description>d</description>"
        f"{body}</channel></rss>"
    ).encode()


def good_feed(prefix: str = "good", count: int = 2, *, day: int = 1) -> bytes:
    """A plain, valid feed of ``count`` dated items titled "<prefix> story <n>"."""
    return rss(
        Entry(
            f"https://good.example/{prefix}/{n}",
            f"{prefix} story {n}",
            f"https://good.example/{prefix}/{n}",
            f"{_weekday(2021, 8, day)}, {day:02d} Aug 2021 {n % 24:02d}:00:00 +0000",
            escape(f"<p>About {prefix} story {n}.</p>"),
        )
        for n in range(1, count + 1)
    )


def _weekday(year: int, month: int, day: int) -> str:
    return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[date(year, month, day).weekday()]


# -- reading the results back -------------------------------------------------------------


def published(folder: Path) -> dict[str, bytes]:
    """Every file in the output folder but temporary ones and the render cache (which
    records the state of its own store, so it differs between stores): name -> bytes."""
    if not folder.is_dir():
        return {}
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(TEMP_SUFFIX) and p.name != RENDER_CACHE
    }


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file with its bytes and mtime (to prove nothing was rewritten)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def document_problems(name: str, data: bytes) -> list[str]:
    """What is wrong with one published file, judged by its extension: torn, invalid,
    or holding characters XML 1.0 forbids (or C1/DEL), or unsafe HTML."""
    suffix = name.rsplit(".", 1)[-1]
    if suffix == "rss":
        problems = check_rss(data)
    elif suffix == "atom":
        problems = check_atom(data)
    elif suffix == "json":
        problems = check_json_feed(data)
    elif suffix == "opml":
        problems = check_opml(data)
    elif suffix == "html":
        problems = html_problems(data)
    else:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return [*problems, f"not UTF-8: {e}"]
    if suffix == "json" and not problems:
        text = json.dumps(json.loads(text), ensure_ascii=False)
    bad = FORBIDDEN.search(text)
    if bad:
        problems.append(f"holds the forbidden character {bad.group()!r} at {bad.start()}")
    return problems


def html_problems(data: bytes) -> list[str]:
    """A complete HTML page without scripts, event handlers or javascript:/data: links."""
    problems = []
    if not data.rstrip().endswith(b"</html>"):
        problems.append("the page is not complete (no </html> at the end)")
    page = lxml.html.fromstring(data)
    if page.xpath("//script|//iframe|//object|//embed"):
        problems.append("the page holds a script, iframe, object or embed element")
    for element in page.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute, value in element.attrib.items():
            if attribute.lower().startswith("on"):
                problems.append(f"<{element.tag}> has an event attribute {attribute}")
            if attribute in ("href", "src") and re.match(
                r"\s*(javascript|data|vbscript):", value, re.I
            ):
                problems.append(f"<{element.tag} {attribute}={value!r}>")
    return problems


def all_problems(folder: Path) -> dict[str, list[str]]:
    """Every published file that has problems, with them."""
    found = {name: document_problems(name, data) for name, data in published(folder).items()}
    return {name: problems for name, problems in found.items() if problems}


def entries(path: Path) -> list[Any]:
    return list(feedparser.parse(io.BytesIO(path.read_bytes())).entries)


def json_items(path: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(path.read_bytes())["items"]
    return items


def guids_published(folder: Path) -> set[str]:
    """Every item id in the JSON Feeds and the RSS documents (archive pages too)."""
    found: set[str] = set()
    for name, data in published(folder).items():
        if name.endswith(".json"):
            found.update(item["id"] for item in json.loads(data)["items"])
        elif name.endswith(".rss"):
            found.update(e.id for e in feedparser.parse(io.BytesIO(data)).entries if "id" in e)
    return found


@contextmanager
def connect(database: Path) -> Iterator[sqlite3.Connection]:
    """A connection that waits for writers (it recovers a WAL left by a killed run, as
    coopfeed would), closed afterwards."""
    if not database.is_file():
        raise FileNotFoundError(database)
    connection = sqlite3.connect(database, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def stored(database: Path, *columns: str) -> list[tuple[Any, ...]]:
    """Rows of the items table (``columns``, default guid and title), by guid."""
    names = ", ".join(columns or ("guid", "title"))
    with connect(database) as db:
        return db.execute(f"SELECT {names} FROM items ORDER BY guid").fetchall()


def stored_guids(database: Path) -> set[str]:
    return {row[0] for row in stored(database, "guid")}


def source_state(database: Path, name: str) -> dict[str, Any]:
    with connect(database) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
    return dict(row) if row else {}


def store_contents(database: Path) -> dict[str, Any]:
    """What the store holds, but for database ids, first-seen times and change numbers
    (which differ between stores by design)."""
    with connect(database) as db:
        db.row_factory = None
        cursor = db.execute("SELECT * FROM items ORDER BY guid")
        names = [column[0] for column in cursor.description]
        keep = [i for i, name in enumerate(names) if name not in ("id", "first_seen", "changed")]
        items = [tuple(row[i] for i in keep) for row in cursor]
        sources = db.execute(
            "SELECT s.source, s.key, i.guid FROM item_sources s JOIN items i ON i.id = s.item_id"
            " ORDER BY s.source, s.key"
        ).fetchall()
        pages = db.execute("SELECT * FROM archive_pages ORDER BY 1, 2").fetchall()
    return {"items": items, "item_sources": sources, "archive_pages": pages}


def integrity(database: Path) -> str:
    with connect(database) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def everything(folder: Path, *paths: Path) -> bytes:
    """The bytes of every published file and of ``paths`` (to look for leaks)."""
    data = b"".join(published(folder).values())
    for path in paths:
        if path.exists():
            data += path.read_bytes()
    return data


def no_traceback(run: Run | str) -> None:
    text = run if isinstance(run, str) else run.stderr
    assert "Traceback" not in text, text


def by_name(rows: Iterable[Mapping[str, Any]], key: str = "name") -> dict[str, Mapping[str, Any]]:
    return {row[key]: row for row in rows}


# -- a workload big enough that a run takes a second or two -------------------------------

CATEGORIES = (
    "News",
    "Press release",
    "Spotlight Interviews with Co-operators",
    "International Day of Cooperatives",
    "Housing",
)


def word(*seed: object) -> str:
    """A made-up word, the same for the same seed: titles share no trigrams by chance."""
    return hashlib.sha256(repr(seed).encode()).hexdigest()[:10]


@dataclass
class Workload:
    """An archive and ``feeds`` loopback feeds that grow by round, every item dated and
    newer than every item of earlier rounds (so archive pages fill in one order only).

    Round 0 holds ``archive_entries`` and ``feed_items`` per feed; each later round adds
    ``archive_step`` and ``feed_step`` more, dated on a day of their own.
    """

    server: FeedServer
    feeds: int = 3
    archive_entries: int = 600
    feed_items: int = 100
    archive_step: int = 15
    feed_step: int = 5
    slow_feed: float = 0.0  # seconds the last feed takes to answer (0: none)

    def archive_text(self, round_: int) -> str:
        lines = ["News, stories and statements on cooperatives", ""]
        entries = [
            (date(2010, 1, 1) + timedelta(days=i), i) for i in range(self.archive_entries)
        ] + [
            (date(2020, 1, 1) + timedelta(days=r), 10_000 * r + i)
            for r in range(1, round_ + 1)
            for i in range(self.archive_step)
        ]
        for number, (day, n) in enumerate(entries, 1):
            category = CATEGORIES[n % len(CATEGORIES)]
            lines += [f"  {number}. {category}", "", f"    Story {word('a', n)} {word('b', n)}"]
            lines += ["", f"    {day.day} {day:%B} {day.year}", ""]
            lines += [f"    What happened in {word('c', n)}, told in a sentence or two.", ""]
        return "\n".join(lines)

    def feed_document(self, feed: int, round_: int) -> bytes:
        moments = [
            (datetime(2012, 1, 1, tzinfo=UTC) + timedelta(hours=7 * i + feed), i)
            for i in range(self.feed_items)
        ] + [
            (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=r, hours=1 + i), 10_000 * r + i)
            for r in range(1, round_ + 1)
            for i in range(self.feed_step)
        ]
        return rss(
            Entry(
                f"https://feed{feed}.example/{n}",
                f"Wire {word('t', feed, n)} {word('u', feed, n)}",
                f"https://feed{feed}.example/{n}",
                format_datetime(moment, usegmt=True),
                escape(f"<p>Body of {word('v', feed, n)}.</p>"),
            )
            for moment, n in moments
        )

    def feed_path(self, feed: int) -> str:
        if feed == self.feeds - 1 and self.slow_feed:
            return f"/slow?delay={self.slow_feed}&path=/feed{feed}.xml"
        return f"/feed{feed}.xml"

    def serve(self, round_: int, folders: Iterable[Path]) -> None:
        """Serve round ``round_``'s feeds and write its archive into each folder."""
        for feed in range(self.feeds):
            self.server.set_document(f"/feed{feed}.xml", self.feed_document(feed, round_))
        text = self.archive_text(round_)
        for folder in folders:
            (folder / "archive").mkdir(parents=True, exist_ok=True)
            temp = folder / "archive" / ".listing.tmp"
            temp.write_text(text, encoding="utf-8")
            temp.replace(folder / "archive" / "listing.txt")

    def config(self, folder: Path, *, site: str = "items_per_feed = 25") -> Path:
        """The feeds first, the archive (the biggest ingest) last."""
        sources = "".join(
            feed_source(f"feed{k}", self.server.url(self.feed_path(k)), category=CATEGORIES[k])
            for k in range(self.feeds)
        )
        return write_config(folder, sources + archive_source("archive", "archive"), site=site)
