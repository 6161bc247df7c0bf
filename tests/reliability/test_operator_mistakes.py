"""Operator mistakes: every kind of bad config.toml exits 2 before any work with a message
naming the file, the key (or line) and what was expected; an output folder that is a
file, read-only or full, a locked database and a corrupt database file each give a clear
error (exit 1, no traceback) and leave the published files as they were."""

from __future__ import annotations

import os
import re
import resource
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest
from helpers import (
    ENV,
    all_problems,
    archive_source,
    coopfeed,
    entries,
    integrity,
    published,
    snapshot,
    temp_files,
)

from coopfeed.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "archive" / "ilo-cooperatives.txt"
SITE = '[site]\ntitle = "T"\nbase_url = "http://127.0.0.1:8080/"\n'
ARCHIVE = '[[sources]]\nname = "a"\ntype = "archive"\npath = "archive"\n'
FEED = '[[sources]]\nname = "f"\ntype = "feed"\n'
DURATION = "a duration such as '30m' or '6h'"
URL = "an http(s) URL, a file:// URL or a path"
CRON = "a five-field cron expression such as '0 */6 * * *'"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "archive").mkdir()
    shutil.copy(SEED, tmp_path / "archive" / "listing.txt")
    return tmp_path


@dataclass(frozen=True)
class Bad:
    """A bad config.toml: its text and the message after "coopfeed: error: FILE" (a regex
    when it starts with "re:"; "{dir}" is the config's folder)."""

    id: str
    text: str
    message: str


BAD_CONFIGS = [
    Bad("toml-syntax", SITE + "[sources\n", r"re::4: not valid TOML: .+ \(at line 4, column \d+\)"),
    Bad(
        "toml-string", SITE + 'x = "open\n', r"re::4: not valid TOML: .+ \(at line 4, column \d+\)"
    ),
    Bad(
        "toml-duplicate-key",
        SITE + 'title = "again"\n',
        r"re::4: not valid TOML: .+ \(at line 4, column \d+\)",
    ),
    Bad(
        "toml-duplicate-table",
        SITE + "[site]\n",
        r"re::4: not valid TOML: .+ \(at line 4, column \d+\)",
    ),
    Bad(
        "unknown-top-level-key",
        "colour = 1\n" + SITE,
        r"re:: \[colour\]: unknown key \(known keys: .*site.*\)",
    ),
    Bad(
        "unknown-site-key",
        SITE + "colour = 1\n",
        r"re:: \[site.colour\]: unknown key \(known keys: .*title.*\)",
    ),
    Bad(
        "unknown-source-key",
        SITE + ARCHIVE + "colour = 1\n",
        r"re:: \[sources.a.colour\]: unknown key \(known keys: .*path.*\)",
    ),
    Bad(
        "unknown-fetch-key",
        SITE + "[fetch]\nspeed = 1\n",
        r"re:: \[fetch.speed\]: unknown key \(known keys: .*timeout.*\)",
    ),
    Bad(
        "unknown-limits-key",
        SITE + "[limits]\nwidth = 1\n",
        r"re:: \[limits.width\]: unknown key \(known keys: .*title.*\)",
    ),
    Bad(
        "wrong-type-integer",
        SITE + 'items_per_feed = "many"\n',
        ": [site.items_per_feed]: expected an integer, got a string 'many'",
    ),
    Bad(
        "wrong-type-float",
        SITE + "items_per_feed = 1.5\n",
        ": [site.items_per_feed]: expected an integer, got a number 1.5",
    ),
    Bad(
        "wrong-type-string",
        SITE + "description = 3\n",
        ": [site.description]: expected a string, got an integer 3",
    ),
    Bad("wrong-type-table", "site = 3\n", ": [site]: expected a table, got an integer 3"),
    Bad(
        "wrong-type-sources",
        'sources = "x"\n' + SITE,
        ": [sources]: expected an array, got a string 'x'",
    ),
    Bad(
        "wrong-type-source",
        "sources = [1]\n" + SITE,
        ": [sources[0]]: expected a table, got an integer",
    ),
    Bad(
        "wrong-type-category",
        SITE + ARCHIVE + 'category = ["a"]\n',
        ": [sources.a.category]: expected a string, got an array ['a']",
    ),
    Bad(
        "wrong-type-alias",
        SITE + '[categories]\n"X" = 5\n',
        ": [categories.X]: expected a category title with at least one letter or digit, got 5",
    ),
    Bad(
        "not-positive",
        SITE + "items_per_feed = 0\n",
        ": [site.items_per_feed]: expected a positive integer, got 0",
    ),
    Bad(
        "limit-too-small",
        SITE + "[limits]\ntitle = 5\n",
        ": [limits.title]: expected an integer of at least 10, got 5",
    ),
    Bad(
        "bad-size",
        SITE + '[fetch]\nmax_body_size = "lots"\n',
        ": [fetch.max_body_size]: expected a size such as '20MiB' or '512KiB', got 'lots'",
    ),
    Bad(
        "bad-similarity",
        SITE + "[dedupe]\nsimilarity = 2\n",
        ": [dedupe.similarity]: expected a number above 0 and at most 1, got 2.0",
    ),
    Bad(
        "duplicate-source-name",
        SITE + ARCHIVE + ARCHIVE,
        ": [sources.a.name]: duplicate source name 'a'",
    ),
    Bad(
        "missing-name",
        SITE + '[[sources]]\ntype = "archive"\npath = "archive"\n',
        ": [sources[0].name]: expected a non-empty string, missing",
    ),
    Bad(
        "bad-name",
        SITE + ARCHIVE.replace('"a"', '"../a"'),
        ": [sources[0].name]: expected letters, digits, '.', '_' or '-' (at most 100), got '../a'",
    ),
    Bad(
        "missing-type",
        SITE + '[[sources]]\nname = "a"\npath = "archive"\n',
        ": [sources.a.type]: expected a non-empty string, missing",
    ),
    Bad(
        "bad-type",
        SITE + ARCHIVE.replace('"archive"\npath', '"rss"\npath'),
        ": [sources.a.type]: expected one of 'archive', 'feed', got 'rss'",
    ),
    Bad(
        "missing-path-key",
        SITE + '[[sources]]\nname = "a"\ntype = "archive"\n',
        ": [sources.a.path]: expected a non-empty string, missing",
    ),
    Bad(
        "missing-path",
        SITE + ARCHIVE.replace('path = "archive"', 'path = "nowhere"'),
        ": [sources.a.path]: expected a file, a folder or a glob that exists, "
        "but nothing matches '{dir}/nowhere'",
    ),
    Bad(
        "missing-glob",
        SITE + ARCHIVE.replace('path = "archive"', 'path = "archive/*.md"'),
        ": [sources.a.path]: expected a file, a folder or a glob that exists, "
        "but nothing matches '{dir}/archive/*.md'",
    ),
    Bad("missing-url", SITE + FEED, f": [sources.f.url]: expected {URL}, missing"),
    Bad(
        "url-ftp",
        SITE + FEED + 'url = "ftp://x.example/f"\n',
        f": [sources.f.url]: expected {URL}, got 'ftp://x.example/f'",
    ),
    Bad(
        "url-without-host",
        SITE + FEED + 'url = "http://"\n',
        f": [sources.f.url]: expected {URL}, got 'http://'",
    ),
    Bad(
        "url-javascript",
        SITE + FEED + 'url = "javascript:alert(1)"\n',
        f": [sources.f.url]: expected {URL}, got 'javascript:alert(1)'",
    ),
    Bad(
        "url-broken-ipv6",
        SITE + FEED + 'url = "http://[::1/f"\n',
        f": [sources.f.url]: expected {URL}, got 'http://[::1/f'",
    ),
    Bad("url-not-a-string", SITE + FEED + "url = 5\n", f": [sources.f.url]: expected {URL}, got 5"),
    Bad(
        "base-url-relative",
        SITE.replace("http://127.0.0.1:8080/", "feeds/"),
        ": [site.base_url]: expected an http(s) URL, got 'feeds/'",
    ),
    Bad(
        "hub-not-a-url",
        SITE + 'hub = "nope"\n',
        ": [site.hub]: expected an http(s) URL, got 'nope'",
    ),
    Bad(
        "interval-word",
        SITE + ARCHIVE + 'interval = "soon"\n',
        f": [sources.a.interval]: expected {DURATION}, got 'soon'",
    ),
    Bad(
        "interval-zero",
        SITE + ARCHIVE + 'interval = "0s"\n',
        f": [sources.a.interval]: expected {DURATION}, got '0s'",
    ),
    Bad(
        "interval-negative",
        SITE + ARCHIVE + "interval = -5\n",
        f": [sources.a.interval]: expected {DURATION}, got -5",
    ),
    Bad(
        "interval-boolean",
        SITE + ARCHIVE + "interval = true\n",
        f": [sources.a.interval]: expected {DURATION}, got True",
    ),
    Bad(
        "interval-unit",
        SITE + ARCHIVE + 'interval = "5 years"\n',
        f": [sources.a.interval]: expected {DURATION}, got '5 years'",
    ),
    Bad(
        "min-above-max",
        SITE + 'min_interval = "2h"\nmax_interval = "1h"\n',
        ": [site.min_interval]: must not be greater than max_interval",
    ),
    Bad(
        "max-interval-word",
        SITE + 'max_interval = "forever"\n',
        ": [site.max_interval]: expected a duration such as '90s', '5m', '6h' or '1d', "
        "got 'forever'",
    ),
    Bad(
        "cron-out-of-range",
        SITE + ARCHIVE + 'cron = "61 * * * *"\n',
        f": [sources.a.cron]: expected {CRON}, got '61 * * * *'",
    ),
    Bad(
        "cron-too-short",
        SITE + ARCHIVE + 'cron = "* * *"\n',
        f": [sources.a.cron]: expected {CRON}, got '* * *'",
    ),
    Bad(
        "cron-not-a-string",
        SITE + ARCHIVE + "cron = 5\n",
        f": [sources.a.cron]: expected {CRON}, got 5",
    ),
    Bad(
        "cron-and-interval",
        SITE + ARCHIVE + 'cron = "0 * * * *"\ninterval = "1h"\n',
        ": [sources.a.cron]: give either interval or cron, not both",
    ),
    Bad(
        "timezone",
        SITE + 'timezone = "Mars/Olympus"\n',
        ": [site.timezone]: expected an IANA timezone such as 'Europe/Geneva', got 'Mars/Olympus'",
    ),
    Bad(
        "source-timezone",
        SITE + ARCHIVE + 'timezone = "Nowhere"\n',
        ": [sources.a.timezone]: expected an IANA timezone, got 'Nowhere'",
    ),
    Bad(
        "tag-authority",
        SITE + 'tag_authority = "not a domain!"\n',
        ": [site.tag_authority]: expected a domain name such as 'example.org' "
        "or an email address, got 'not a domain!'",
    ),
    Bad(
        "empty-output-dir",
        SITE + 'output_dir = ""\n',
        ": [site.output_dir]: expected a non-empty string",
    ),
    Bad(
        "empty-database", SITE + 'database = ""\n', ": [site.database]: expected a non-empty string"
    ),
]


def expect(message: str, config: Path) -> str | re.Pattern[str]:
    start = f"coopfeed: error: {config}"
    if message.startswith("re:"):
        return re.compile(re.escape(start) + message[3:] + "\n")
    return f"{start}{message.format(dir=config.parent)}\n"


def matches(text: str, expected: str | re.Pattern[str]) -> bool:
    if isinstance(expected, str):
        return text == expected
    return expected.fullmatch(text) is not None


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[bad.id for bad in BAD_CONFIGS])
@pytest.mark.parametrize("command", ["run", "check", "status"])
def test_a_bad_config_exits_2_naming_file_key_and_expectation(
    folder: Path, capsys: pytest.CaptureFixture[str], command: str, bad: Bad
) -> None:
    config = folder / "config.toml"
    config.write_text(bad.text, encoding="utf-8")
    assert main([command, "-c", str(config)]) == 2
    captured = capsys.readouterr()
    assert matches(captured.err, expect(bad.message, config)), captured.err
    assert captured.out == ""
    assert sorted(p.name for p in folder.iterdir()) == ["archive", "config.toml"]  # no work


def test_a_bad_config_is_reported_by_the_console_script_without_traceback(folder: Path) -> None:
    config = folder / "config.toml"
    config.write_text(SITE + ARCHIVE + 'interval = "soon"\n', encoding="utf-8")
    done = coopfeed("run", "-c", str(config), cwd=folder)
    assert (done.code, done.stderr) == (
        2,
        f"coopfeed: error: {config}: [sources.a.interval]: expected {DURATION}, got 'soon'\n",
    )


def latin1_config(folder: Path) -> Path:
    path = folder / "latin1.toml"
    path.write_bytes(b'[site]\ntitle = "Caf\xe9"\n')
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f / "nothing.toml", ": no such file (use -c PATH or set COOPFEED_CONFIG)"),
        (
            latin1_config,
            ": cannot read: 'utf-8' codec can't decode byte 0xe9 in position 19: "
            "invalid continuation byte",
        ),
        (lambda f: f / "archive", r"re:: cannot read: \[Errno 21\] Is a directory: .*"),
    ],
    ids=["missing-file", "not-utf8", "a-folder"],
)  # fmt: skip
def test_an_unreadable_config_exits_2(
    folder: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    config = make(folder)  # type: ignore[operator]
    assert main(["run", "-c", str(config)]) == 2
    assert matches(capsys.readouterr().err, expect(message, config))


# -- values TOML accepts that no schedule or URL can use: exit 2 before any work ------------


@pytest.mark.parametrize(
    "site, source, key",
    [
        ("", "interval = nan\n", "sources.f.interval"),
        ("", "interval = inf\n", "sources.f.interval"),
        ("max_interval = inf\n", "", "site.max_interval"),
        ('max_interval = "99999999999d"\n', "", "site.max_interval"),
        ("", 'interval = "99999999999d"\n', "sources.f.interval"),
    ],
    ids=["interval-nan", "interval-inf", "max-interval-inf", "max-beyond-datetime", "beyond"],
)
def test_non_finite_or_absurd_durations_are_config_errors(
    folder: Path, site: str, source: str, key: str
) -> None:
    local = folder / "local.xml"
    local.write_bytes((ROOT / "tests" / "data" / "feeds" / "rss2.xml").read_bytes())
    config = folder / "config.toml"
    config.write_text(SITE + site + FEED + 'url = "local.xml"\n' + source, encoding="utf-8")
    done = coopfeed("run", "-c", str(config), cwd=folder)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.code == 2 and f"[{key}]: expected " in done.stderr, done.stderr


@pytest.mark.parametrize(
    "url", ["http://x .example/feed", "http://x.example:99999/feed"], ids=["space", "port"]
)
def test_an_unusable_feed_url_is_a_config_error(
    folder: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    config = folder / "config.toml"
    config.write_text(SITE + FEED + f'url = "{url}"\n', encoding="utf-8")
    assert main(["check", "-c", str(config)]) == 2
    assert f"[sources.f.url]: expected {URL}, got '{url}'" in capsys.readouterr().err


# -- the output folder -----------------------------------------------------------------------


def project(folder: Path, *, output: str = "feeds") -> Path:
    config = folder / "config.toml"
    sources = archive_source("seed", "archive")
    config.write_text(SITE + f'output_dir = "{output}"\n' + sources, encoding="utf-8")
    return config


def more_entries(folder: Path, count: int, size: int = 2000) -> None:
    """A second listing with ``count`` entries and long summaries."""
    lines = []
    for n in range(1, count + 1):
        lines += [f"  {n}. News", "", f"    Growing story {n} of many", "", "    3 March 2022", ""]
        lines += ["    " + f"Summary {n} " * (size // 10), ""]
    (folder / "archive" / "more.txt").write_text("\n".join(lines), encoding="utf-8")


def test_an_output_folder_that_is_a_file_is_a_clear_error(folder: Path) -> None:
    config = project(folder)
    (folder / "feeds").write_bytes(b"the operator's own file\n")
    done = coopfeed("run", "-c", str(config), cwd=folder)
    assert (done.code, done.stderr) == (
        1,
        f"coopfeed: error: cannot prepare folder {folder / 'feeds'}: File exists\n",
    )
    assert (folder / "feeds").read_bytes() == b"the operator's own file\n"
    assert integrity(folder / "coopfeed.sqlite3") == "ok"  # stored, publishes once fixed
    (folder / "feeds").unlink()
    assert coopfeed("run", "-c", str(config), cwd=folder).code == 0
    assert len(entries(folder / "feeds" / "all.rss")) == 10


def test_an_output_folder_below_a_file_is_a_clear_error(folder: Path) -> None:
    config = project(folder, output="plain/feeds")
    (folder / "plain").write_bytes(b"x")
    done = coopfeed("run", "-c", str(config), cwd=folder)
    assert (done.code, done.stderr) == (
        1,
        f"coopfeed: error: cannot prepare folder {folder / 'plain' / 'feeds'}: Not a directory\n",
    )


class SmallDisk:
    """The output folder on a tmpfs of ``size`` bytes (root), remountable read-only; or,
    without mount rights, a folder made read-only with chmod and a file-size limit."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        path.mkdir()
        self.mounted = _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
        if not self.mounted and os.geteuid() == 0:
            pytest.skip("running as root without the right to mount a tmpfs")

    def read_only(self) -> None:
        if self.mounted:
            assert _mount(["-o", "remount,ro", str(self.path)])
        else:
            self.path.chmod(0o555)

    def writable(self, size: int) -> None:
        if self.mounted:
            assert _mount(["-o", f"remount,rw,size={size}", str(self.path)])
        else:
            self.path.chmod(0o755)
            self.size = size

    def limit(self) -> object:
        """A preexec_fn: without a tmpfs, files may not grow past ``size``."""
        size = self.size

        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        return None if self.mounted else apply

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
        else:
            self.path.chmod(0o755)


def _mount(args: list[str]) -> bool:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def small_disk(path: Path, size: int) -> Iterator[SmallDisk]:
    disk = SmallDisk(path, size)
    try:
        yield disk
    finally:
        disk.close()


def run_limited(config: Path, folder: Path, disk: SmallDisk) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.sys.executable, "-m", "coopfeed", "run", "-c", str(config)],  # type: ignore[attr-defined]
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=disk.limit(),  # type: ignore[arg-type]
        check=False,
    )


def test_a_full_output_folder_is_a_clear_error_and_tears_nothing(folder: Path) -> None:
    config = project(folder)
    with small_disk(folder / "feeds", 256 * 1024) as disk:
        assert run_limited(config, folder, disk).returncode == 0
        before = published(folder / "feeds")
        more_entries(folder, 300)
        done = run_limited(config, folder, disk)
        assert done.returncode == 1, done.stderr
        assert re.fullmatch(
            rf"coopfeed: error: cannot write {re.escape(str(folder / 'feeds'))}/[\w.-]+: "
            r"(No space left on device|File too large)\n",
            done.stderr,
        ), done.stderr
        after = published(folder / "feeds")
        assert all_problems(folder / "feeds") == {}  # old or new, never torn
        assert set(before) <= set(after)
        assert temp_files(folder / "feeds") == []
        assert integrity(folder / "coopfeed.sqlite3") == "ok"
        disk.writable(64 * 1024 * 1024)
        done = run_limited(config, folder, disk)
        assert done.returncode == 0, done.stderr
        assert len(entries(folder / "feeds" / "news.atom")) == 50
        assert all_problems(folder / "feeds") == {}


def test_a_read_only_output_folder_is_a_clear_error_and_changes_nothing(folder: Path) -> None:
    config = project(folder)
    with small_disk(folder / "feeds", 8 * 1024 * 1024) as disk:
        assert run_limited(config, folder, disk).returncode == 0
        before = snapshot(folder / "feeds")
        more_entries(folder, 5, size=100)
        disk.read_only()
        done = run_limited(config, folder, disk)
        assert done.returncode == 1, done.stderr
        assert re.fullmatch(
            rf"coopfeed: error: cannot (write|prepare folder) {re.escape(str(folder / 'feeds'))}"
            r"\S*: (Read-only file system|Permission denied)\n",
            done.stderr,
        ), done.stderr
        assert snapshot(folder / "feeds") == before
        disk.writable(8 * 1024 * 1024)
        assert run_limited(config, folder, disk).returncode == 0
        assert len(entries(folder / "feeds" / "all.rss")) == 15


# -- the database ----------------------------------------------------------------------------


@pytest.fixture
def published_project(folder: Path) -> tuple[Path, dict[str, tuple[bytes, int]]]:
    config = project(folder)
    assert coopfeed("run", "-c", str(config), cwd=folder).code == 0
    more_entries(folder, 3, size=100)  # the next run would change every feed
    return config, snapshot(folder / "feeds")


def test_a_locked_database_is_a_clear_error_with_wait_0(
    folder: Path, published_project: tuple[Path, dict[str, tuple[bytes, int]]]
) -> None:
    config, before = published_project
    database = folder / "coopfeed.sqlite3"
    lock = filelock.FileLock(f"{database}.lock")
    with lock.acquire(timeout=5):
        done = coopfeed("run", "-c", str(config), "--wait", "0", cwd=folder)
    assert (done.code, done.stderr) == (
        1,
        f"coopfeed: error: another coopfeed process holds the lock {database}.lock\n",
    )
    assert snapshot(folder / "feeds") == before


def test_a_database_busy_in_another_program_is_waited_for(
    folder: Path, published_project: tuple[Path, dict[str, tuple[bytes, int]]]
) -> None:
    config, _ = published_project
    database = folder / "coopfeed.sqlite3"
    holder = sqlite3.connect(database, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # an operator's sqlite3 shell, say
    release = threading.Timer(1.5, holder.rollback)
    release.start()
    try:
        done = coopfeed("run", "-c", str(config), cwd=folder)
    finally:
        release.join()
        holder.close()
    assert done.code == 0, done.stderr
    assert done.seconds >= 1.5
    assert len(entries(folder / "feeds" / "all.rss")) == 13


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 500)


def zero_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes(100) + data[100:])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zero_pages(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:4096] + bytes(len(data) - 8192) + data[-4096:])


def folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (garbage, "file is not a database"),
        (zero_header, "file is not a database"),
        (truncate, "database disk image is malformed"),
        (zero_pages, "database disk image is malformed"),
        (folder_instead, "unable to open database file"),
    ],
    ids=["garbage", "zeroed-header", "truncated", "zeroed-pages", "a-folder"],
)
def test_a_corrupt_database_is_a_clear_error_and_publishes_nothing(
    folder: Path,
    published_project: tuple[Path, dict[str, tuple[bytes, int]]],
    damage: object,
    reason: str,
) -> None:
    config, before = published_project
    database = folder / "coopfeed.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for extra in ("-wal", "-shm"):
        Path(f"{database}{extra}").unlink(missing_ok=True)
    damage(database)  # type: ignore[operator]
    for command in (["run"], ["run", "--all"], ["status"]):
        done = coopfeed(*command, "-c", str(config), cwd=folder)
        assert (done.code, done.stderr) == (1, f"coopfeed: error: database {database}: {reason}\n")
    assert snapshot(folder / "feeds") == before
    started = time.monotonic()
    assert all_problems(folder / "feeds") == {}
    assert time.monotonic() - started < 10
