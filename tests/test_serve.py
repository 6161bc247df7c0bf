"""End to end: `coopfeed serve` as a subprocess on a loopback port, driven with httpx.

Each test starts `python -m coopfeed serve` on a project in tmp_path whose sources are
archive files read every second, and waits with bounded polling loops (never fixed sleeps).
Paths that a client library would normalize (``/../x``) are sent with http.client.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from feedcheck import check_atom, check_rss
from httpserver import FeedServer

from coopfeed.publish import MANIFEST, RENDER_CACHE

ROOT = Path(__file__).resolve().parents[1]
WAIT = 15.0  # seconds any eventual condition may take
STOP = 10.0  # seconds SIGTERM/SIGINT may take
#: The subprocesses import this checkout's coopfeed, whatever is installed.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def listing(*entries: tuple[str, str, str]) -> str:
    """(category, title, date) -> the text of an archive listing."""
    parts = ["News, stories and statements on cooperatives", ""]
    for n, (category, title, date) in enumerate(entries, 1):
        parts += [f"  {n}. {category}", "", f"    {title}", "", f"    {date}", ""]
        parts += [f"    A summary of {title.lower()}.", ""]
    return "\n".join(parts)


ALPHA = [
    ("News", "Cooperatives meet in Geneva", "29 July 2021"),
    ("News", "A new law for housing cooperatives", "28 July 2021"),
    ("Spotlight Interviews with Co-operators", "An interview with a baker", "27 July 2021"),
]
BETA = [("News", "Worker cooperatives grow in Spain", "15 July 2021")]


def config_text(port: int, sources: str, extra: str = "") -> str:
    return f"""
[site]
title = "Cooperative news"
base_url = "http://127.0.0.1:{port}/"
tag_authority = "coopfeed.example.org"
min_interval = "1s"
max_interval = "1h"
{extra}

[categories]
"Press release" = "News"
{sources}
"""


def archive_source(name: str, interval: str = "1s") -> str:
    return f"""
[[sources]]
name = "{name}"
type = "archive"
path = "archive/{name}.txt"
interval = "{interval}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(
    condition: Callable[[], Any], what: str, timeout: float = WAIT, log: Path | None = None
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s
    (showing ``log`` if given)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            shown = f"\n{log.read_text(errors='replace')}" if log and log.exists() else ""
            pytest.fail(f"not within {timeout:g} s: {what}{shown}")
        time.sleep(0.1)


class Service:
    """One `coopfeed serve` subprocess over a project folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.config = folder / "config.toml"
        self.feeds = folder / "feeds"
        self.log = folder / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        (folder / "archive").mkdir(exist_ok=True)

    def write_archive(self, name: str, *entries: tuple[str, str, str]) -> None:
        path = self.folder / "archive" / f"{name}.txt"
        temp = path.with_suffix(".tmp")  # replace whole, so no half-written listing is read
        temp.write_text(listing(*entries), encoding="utf-8")
        temp.replace(path)

    def write_config(self, sources: str, extra: str = "") -> None:
        self.config.write_text(config_text(self.port, sources, extra), encoding="utf-8")

    def start(self, *args: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coopfeed", "serve", "-c", str(self.config), "-v"]
                + ["--port", str(self.port), *args],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=ENV,
            )
        eventually(lambda: self.alive() and self.get("/healthz").status_code == 200, "healthz")

    def settle(self) -> None:
        """Wait until the archives as first written are published (then nothing changes)."""
        eventually(lambda: len(self.titles("all")) == len(ALPHA) + len(BETA), "first publish")

    def alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"serve exited with {self.process.returncode}:\n{self.log_text()}")
        return True

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers=headers)

    def raw_get(self, path: str) -> tuple[int, bytes]:
        """GET with the path sent exactly as given (httpx would remove ``..``)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def health(self) -> dict[str, Any]:
        response = self.get("/healthz")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body: dict[str, Any] = response.json()
        return body

    def source_health(self, name: str) -> dict[str, Any]:
        [found] = [s for s in self.health()["sources"] if s["name"] == name]
        return found

    def titles(self, slug: str) -> list[str]:
        response = self.get(f"/{slug}.rss")
        if response.status_code != 200:
            return []
        return [entry.title for entry in feedparser.parse(io.BytesIO(response.content)).entries]

    def signal(self, number: int) -> tuple[int, float]:
        """Send ``number``; (exit code, seconds it took), failing after STOP seconds."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(number)
        try:
            code = self.process.wait(timeout=STOP)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {STOP:g} s:\n{self.log_text()}")
        return code, time.monotonic() - began

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        self.client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = Service(tmp_path)
    service.write_archive("alpha", *ALPHA)
    service.write_archive("beta", *BETA)
    service.write_config(archive_source("alpha") + archive_source("beta"))
    try:
        yield service
    finally:
        service.close()


def check_published_files(feeds: Path) -> None:
    files = sorted(feeds.iterdir())
    assert any(path.suffix == ".rss" for path in files)
    for path in files:
        if path.suffix == ".rss":
            assert check_rss(path.read_bytes()) == [], path.name
        elif path.suffix == ".atom":
            assert check_atom(path.read_bytes()) == [], path.name
    temporary = [
        p.name for p in files if p.name.startswith(".") and p.name not in (MANIFEST, RENDER_CACHE)
    ]
    assert not temporary, "temporary files left"


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


# -- HTTP ------------------------------------------------------------------------------

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
}


def test_every_file_gets_its_content_type_validators_and_304(service: Service) -> None:
    service.start()
    service.settle()
    # What the publisher does not write (yet) is put there, so every type is checked.
    for name in ("index.html", "feeds.opml", "all.json"):
        if not (service.feeds / name).exists():
            (service.feeds / name).write_text("{}" if name.endswith("json") else "<x/>")
    for path in sorted(service.feeds.iterdir()):
        if path.suffix not in CONTENT_TYPES or not path.is_file():
            continue
        expected = CONTENT_TYPES[path.suffix]
        plain = service.get(f"/{path.name}", **{"Accept-Encoding": "identity"})
        assert plain.status_code == 200, path.name
        assert plain.headers["content-type"] == expected, path.name
        assert plain.content == path.read_bytes()
        assert "content-encoding" not in plain.headers
        assert plain.headers["vary"] == "Accept-Encoding"
        etag, modified = plain.headers["etag"], plain.headers["last-modified"]
        assert etag.startswith('W/"') and etag.endswith('"')
        assert parsedate_to_datetime(modified).timestamp() == int(path.stat().st_mtime)

        again = service.get(f"/{path.name}", **{"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b""), path.name
        assert again.headers["etag"] == etag
        assert again.headers["vary"] == "Accept-Encoding"
        strong = etag.removeprefix("W/")  # weak comparison: either form matches
        assert (
            service.get(f"/{path.name}", **{"If-None-Match": f'"x", {strong}'}).status_code == 304
        )
        assert service.get(f"/{path.name}", **{"If-None-Match": '"other"'}).status_code == 200
        assert service.get(f"/{path.name}", **{"If-Modified-Since": modified}).status_code == 304
        earlier = format_datetime(parsedate_to_datetime(modified).replace(year=2000), usegmt=True)
        assert service.get(f"/{path.name}", **{"If-Modified-Since": earlier}).status_code == 200

        head = service.client.head(f"/{path.name}", headers={"Accept-Encoding": "identity"})
        assert (head.status_code, head.content) == (200, b"")
        for header in ("content-type", "etag", "last-modified", "content-length"):
            assert head.headers[header] == plain.headers[header], (path.name, header)


def test_gzip_when_the_client_accepts_it(service: Service) -> None:
    service.start()
    service.settle()
    body = (service.feeds / "all.rss").read_bytes()
    assert len(body) > 1000
    zipped = service.get("/all.rss", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(body)
    assert zipped.content == body  # httpx inflates it
    assert zipped.headers["content-type"] == CONTENT_TYPES[".rss"]
    plain = service.get("/all.rss", **{"Accept-Encoding": "identity"})
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert "content-encoding" not in plain.headers
    gzip_304 = service.get(
        "/all.rss", **{"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}
    )
    assert gzip_304.status_code == 304


def test_root_serves_index_and_healthz_reports_every_source(service: Service) -> None:
    service.start()
    service.settle()
    if not (service.feeds / "index.html").exists():
        (service.feeds / "index.html").write_text("<!doctype html><title>feeds</title>")
    root = service.get("/")
    assert root.status_code == 200
    assert root.headers["content-type"] == CONTENT_TYPES[".html"]
    assert root.content == (service.feeds / "index.html").read_bytes()

    def fetched() -> dict[str, Any] | None:
        health = service.health()
        return health if all(s["last_fetch"] for s in health["sources"]) else None

    health = eventually(fetched, "every source fetched")
    assert health["status"] == "ok"
    assert [s["name"] for s in health["sources"]] == ["alpha", "beta"]
    for source in health["sources"]:
        assert set(source) >= {
            "name",
            "last_fetch",
            "status",
            "failures",
            "last_error",
            "next_due",
            "next_run",
        }
        assert source["failures"] == 0
        assert source["last_error"] is None
        assert source["next_due"] and source["next_due"].endswith("Z")
    assert service.client.post("/all.rss").status_code == 405


def test_nothing_outside_the_output_folder_is_served(service: Service) -> None:
    (service.folder / "secret.txt").write_text("the secret\n")
    service.start()
    service.settle()
    (service.feeds / "escape.rss").symlink_to(service.folder / "config.toml")
    (service.feeds / "secret-link").symlink_to(service.folder)
    (service.feeds / ".all.rss.abc123.coopfeed-tmp").write_text("half a feed")
    (service.feeds / ".hidden.html").write_text("hidden")
    for path in [
        "/../config.toml",
        "/%2e%2e/config.toml",
        "/%2E%2E/config.toml",
        "/..%2fconfig.toml",
        "/%2e%2e%2fconfig.toml",
        "/..%5cconfig.toml",
        "/news/../../config.toml",
        "/./../secret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        f"/{service.folder}/config.toml",
        "/escape.rss",
        "/secret-link/secret.txt",
        "/secret-link/config.toml",
        "/.all.rss.abc123.coopfeed-tmp",
        "/.hidden.html",
        "/%2ehidden.html",
        "/all.rss%00.html",
        "/" + "a" * 5000,
    ]:
        status, body = service.raw_get(path)
        assert status == 404, path
        assert b"secret" not in body and b"tag_authority" not in body, path
    assert service.raw_get("/all.rss")[0] == 200


# -- scheduling, the lock, stopping ----------------------------------------------------


def test_new_entries_appear_on_schedule_and_run_shares_the_store(service: Service) -> None:
    service.start()
    eventually(lambda: len(service.titles("all")) == 4, "the first entries are published")
    alpha_fetch = service.source_health("alpha")["last_fetch"]
    eventually(
        lambda: service.source_health("alpha")["last_fetch"] != alpha_fetch,
        "alpha is read again a second later",
        timeout=5,
    )

    added = ("News", "A dairy cooperative opens in Kerala", "30 July 2021")
    service.write_archive("alpha", added, *ALPHA)
    news = eventually(
        lambda: "A dairy cooperative opens in Kerala" in (t := service.titles("news")) and t,
        "the new entry is served in its category feed",
    )
    assert news[0] == "A dairy cooperative opens in Kerala"

    # `coopfeed run` on the same store while serve runs: it waits for the lock and
    # finishes; nothing is stored twice.
    service.write_archive("beta", *BETA, ("News", "Credit unions in Kenya", "1 July 2021"))
    run = subprocess.run(
        [sys.executable, "-m", "coopfeed", "run", "-c", str(service.config), "--wait", "30"],
        cwd=service.folder,
        capture_output=True,
        timeout=60,
        env=ENV,
    )
    assert run.returncode == 0, run.stderr.decode()
    eventually(lambda: len(service.titles("all")) == 6, "every entry is served")
    titles = service.titles("all")
    assert len(set(titles)) == len(titles) == 6
    with sqlite3.connect(service.folder / "coopfeed.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 6

    code, took = service.signal(signal.SIGTERM)
    assert code == 0, service.log_text()
    assert took < STOP
    assert integrity(service.folder / "coopfeed.sqlite3") == "ok"
    check_published_files(service.feeds)
    assert "Traceback" not in service.log_text()


def test_a_failing_source_backs_off_and_the_others_go_on(service: Service) -> None:
    (service.folder / "archive" / "beta.txt").write_bytes(b"\x00\xff\xfe binary \x00" * 50)
    service.start()

    def backed_off() -> bool:
        beta = service.source_health("beta")
        if beta["failures"] < 3:
            return False
        last = parsedate_iso(beta["last_fetch"])
        return parsedate_iso(beta["next_due"]) - last >= 4  # 1 s, 2 s, 4 s...

    eventually(backed_off, "beta fails again and again, each time waiting longer")
    beta = service.source_health("beta")
    assert beta["last_error"]
    assert service.source_health("alpha")["failures"] == 0
    assert "Cooperatives meet in Geneva" in service.titles("news")
    code, _ = service.signal(signal.SIGTERM)
    assert code == 0


def parsedate_iso(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_sighup_reloads_the_configuration_and_a_bad_one_is_refused(service: Service) -> None:
    service.start()
    eventually(lambda: service.titles("all"), "the first entries are published")
    service.write_archive("gamma", ("Cooperative Events", "A fair in Lyon", "2 August 2021"))
    sources = archive_source("alpha") + archive_source("beta") + archive_source("gamma")
    service.write_config(sources)
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    eventually(lambda: service.titles("cooperative-events") == ["A fair in Lyon"], "gamma served")
    assert [s["name"] for s in service.health()["sources"]] == ["alpha", "beta", "gamma"]

    service.config.write_text(service.config.read_text() + "\nsurprise = 1\n")
    service.process.send_signal(signal.SIGHUP)
    eventually(lambda: "surprise" in service.log_text(), "the bad configuration is reported")
    assert "keeping the configuration in force" in service.log_text()
    gamma = service.source_health("gamma")["last_fetch"]
    eventually(lambda: service.source_health("gamma")["last_fetch"] != gamma, "gamma still runs")

    code, took = service.signal(signal.SIGINT)
    assert code == 0, service.log_text()
    assert took < STOP
    assert integrity(service.folder / "coopfeed.sqlite3") == "ok"


def test_a_port_in_use_is_an_error(service: Service) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", service.port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "coopfeed", "serve", "-c", str(service.config)]
            + ["--port", str(service.port)],
            capture_output=True,
            timeout=30,
            env=ENV,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1 port {service.port}" in done.stderr.decode()


def test_json_logs_are_one_object_per_line(service: Service) -> None:
    service.start("--log-format", "json")
    eventually(lambda: service.titles("all"), "the first entries are published")
    code, _ = service.signal(signal.SIGTERM)
    assert code == 0
    lines = service.log_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert set(record) >= {"time", "level", "logger", "message"}, line
        assert record["time"].endswith("Z")


# -- remote feeds on a loopback server -------------------------------------------------


def rss(*items: tuple[str, str, int]) -> str:
    """(guid, title, day of July 2021) -> an RSS 2.0 document."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://coops.example/{guid}</link>"
        f"<pubDate>{day:02d} Jul 2021 09:00:00 GMT</pubDate></item>"
        for guid, title, day in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Coops</title><link>https://coops.example/</link><description>d</description>"
        f"{entries}</channel></rss>"
    )


def feed_source(name: str, url: str) -> str:
    return f"""
[[sources]]
name = "{name}"
type = "feed"
url = "{url}"
category = "Remote News"
interval = "1s"
"""


def mtimes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.iterdir())}


def test_a_remote_feed_is_polled_conditionally_and_its_changes_are_served(
    service: Service,
) -> None:
    with FeedServer() as server:
        server.set_document("/coop.xml", rss(("a", "Bakers unite", 28), ("b", "Farmers unite", 27)))
        service.write_config(feed_source("coops", server.url("/coop.xml")))
        service.start()
        eventually(
            lambda: service.titles("remote-news") == ["Bakers unite", "Farmers unite"],
            "the remote entries are served",
        )
        eventually(lambda: server.count("/coop.xml") >= 3, "the feed is polled again")
        before = mtimes(service.feeds)
        polled = server.count("/coop.xml")
        eventually(lambda: server.count("/coop.xml") >= polled + 2, "two more polls")
        document = server.document("/coop.xml")
        assert document is not None
        later = server.requests_to("/coop.xml")[1:]
        assert later and all(r.if_none_match == document.etag for r in later)
        assert mtimes(service.feeds) == before  # unchanged: nothing republished
        assert service.source_health("coops")["failures"] == 0

        server.set_document(
            "/coop.xml",
            rss(("c", "Weavers unite", 29), ("a", "Bakers unite", 28), ("b", "Farmers unite", 27)),
        )
        eventually(
            lambda: service.titles("remote-news")[:1] == ["Weavers unite"],
            "the new remote entry is served first",
            log=service.log,
        )
        assert len(service.titles("remote-news")) == 3
        code, _ = service.signal(signal.SIGTERM)
    assert code == 0, service.log_text()
    assert integrity(service.folder / "coopfeed.sqlite3") == "ok"
    check_published_files(service.feeds)


def test_sigterm_during_a_slow_fetch_exits_promptly_and_cleanly(service: Service) -> None:
    with FeedServer() as server:
        service.start()
        service.settle()
        # A fetch holds the store's lock: add the slow source once the archives are out.
        service.write_config(
            archive_source("alpha") + feed_source("drip", server.url("/drip?interval=1"))
        )
        assert service.process is not None
        service.process.send_signal(signal.SIGHUP)
        eventually(lambda: server.count("/drip") >= 1, "the slow fetch has begun")
        code, took = service.signal(signal.SIGTERM)
    assert code == 0, service.log_text()
    assert took < STOP
    assert "stopping without waiting longer for: drip" in service.log_text()
    assert integrity(service.folder / "coopfeed.sqlite3") == "ok"
    check_published_files(service.feeds)
