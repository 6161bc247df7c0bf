"""End to end with remote feeds on a real loopback server: conditional GETs, hostile
sources beside good ones, one story from many sources, guids that never change."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from feedcheck import check_atom, check_rss
from httpserver import FeedServer

from coopfeed.cli import main

PEAKRSS = Path(__file__).resolve().parent / "peakrss.py"

Project = Callable[..., Path]


def rss(*items: tuple[str, str, str, str], title: str = "Coop wire") -> bytes:
    """items: (guid, title, link, pubDate)."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{name}</title><link>{link}</link>"
        f"<pubDate>{date}</pubDate><description>&lt;p&gt;About {name}.&lt;/p&gt;</description>"
        "</item>"
        for guid, name, link, date in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>https://wire.example/</link><description>d</description>{body}"
        "</channel></rss>"
    ).encode()


ONE = (
    "https://wire.example/1",
    "Solar co-op opens",
    "https://wire.example/1",
    "Mon, 02 Aug 2021 08:00:00 +0000",
)
TWO = ("wire-2", "Dairy co-op merges", "https://wire.example/2", "Tue, 03 Aug 2021 08:00:00 +0000")


def feed_sources(*pairs: tuple[str, str], category: str = "Wire") -> str:
    return "".join(
        f'\n[[sources]]\nname = "{name}"\ntype = "feed"\nurl = "{url}"\ncategory = "{category}"\n'
        for name, url in pairs
    )


def entries(path: Path) -> list[feedparser.FeedParserDict]:
    return feedparser.parse(io.BytesIO(path.read_bytes())).entries


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_second_run_is_conditional_and_rewrites_nothing(
    project: Project, http_server: FeedServer
) -> None:
    http_server.set_document("/wire.xml", rss(ONE, TWO))
    config = project(sources=feed_sources(("wire", http_server.url("/wire.xml"))))
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    assert [e.title for e in entries(feeds / "wire.rss")] == [
        "Dairy co-op merges",
        "Solar co-op opens",
    ]
    before = snapshot(feeds)
    assert main(["run", "-c", str(config), "--all"]) == 0
    second = http_server.requests_to("/wire.xml")[-1]
    assert second.if_none_match and second.if_modified_since
    assert snapshot(feeds) == before
    assert "coopfeed/" in second.user_agent


def test_a_not_due_feed_is_not_fetched(project: Project, http_server: FeedServer) -> None:
    http_server.set_document("/wire.xml", rss(ONE))
    config = project(sources=feed_sources(("wire", http_server.url("/wire.xml"))))
    assert main(["run", "-c", str(config)]) == 0
    assert main(["run", "-c", str(config)]) == 0
    assert http_server.count("/wire.xml") == 1


def test_an_unchanged_body_without_validators_is_not_parsed_again(
    project: Project, http_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.set_document("/plain.xml", rss(ONE), etag=False, last_modified=False)
    config = project(sources=feed_sources(("plain", http_server.url("/plain.xml"))))
    assert main(["run", "-c", str(config)]) == 0
    assert main(["run", "-c", str(config), "--all", "-v"]) == 0
    assert main(["status", "-c", str(config)]) == 0
    states = (
        sqlite3.connect(config.parent / "coopfeed.sqlite3")
        .execute("SELECT last_status FROM sources WHERE name='plain'")
        .fetchall()
    )
    assert states == [("HTTP 200, body unchanged",)]


def test_new_entries_are_added_and_none_disappear_when_a_source_drops_one(
    project: Project, http_server: FeedServer
) -> None:
    http_server.set_document("/wire.xml", rss(ONE, TWO))
    config = project(sources=feed_sources(("wire", http_server.url("/wire.xml"))))
    assert main(["run", "-c", str(config)]) == 0
    first = {e.id: e.link for e in entries(config.parent / "feeds/wire.atom")}
    three = (
        "wire-3",
        "Housing co-op built",
        "https://wire.example/3",
        "Wed, 04 Aug 2021 08:00:00 +0000",
    )
    http_server.set_document("/wire.xml", rss(three, TWO))  # ONE dropped
    assert main(["run", "-c", str(config), "--all"]) == 0
    after = {e.id: e.link for e in entries(config.parent / "feeds/wire.atom")}
    assert len(after) == 3 and {k: after[k] for k in first} == first


def test_guids_survive_a_feed_moving_url(project: Project, http_server: FeedServer) -> None:
    http_server.set_document("/old/wire.xml", rss(ONE, TWO))
    http_server.set_document("/new/place.xml", rss(ONE, TWO))
    config = project(sources=feed_sources(("wire", http_server.url("/old/wire.xml"))))
    assert main(["run", "-c", str(config)]) == 0
    before = {e.id for e in entries(config.parent / "feeds/all.rss")}
    assert any(guid.startswith("tag:coopfeed.example.org,2026:wire/") for guid in before)
    text = config.read_text().replace(
        http_server.url("/old/wire.xml"), http_server.url("/new/place.xml", host="localhost")
    )
    config.write_text(text)
    assert main(["run", "-c", str(config), "--all"]) == 0
    assert {e.id for e in entries(config.parent / "feeds/all.rss")} == before
    assert len(before) == 2


def test_a_story_in_the_archive_and_a_feed_is_one_item(
    project: Project, http_server: FeedServer
) -> None:
    same = (
        "https://wire.example/jordan",
        "JORDAN launches  national strategy for the cooperative movement,   with ILO support",
        "https://wire.example/jordan",
        "2021-07-03T07:30:00Z",
    )
    doc = rss(same).replace(
        b"<pubDate>2021-07-03T07:30:00Z</pubDate>",
        b"<pubDate>Sat, 03 Jul 2021 07:30:00 GMT</pubDate>",
    )
    http_server.set_document("/wire.xml", doc)
    config = project(
        sources="""
[[sources]]
name = "ilo-cooperatives"
type = "archive"
path = "archive"
timezone = "Europe/Zurich"
"""
        + feed_sources(("wire", http_server.url("/wire.xml")), category="Press release")
    )
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    matches = [e for e in entries(feeds / "all.rss") if "Jordan" in e.title or "JORDAN" in e.title]
    assert len(matches) == 1
    [item] = matches
    assert item.id.startswith("tag:coopfeed.example.org,2021-07-03:news/jordan-launches")
    assert item.link == "https://wire.example/jordan"
    news = [e for e in entries(feeds / "news.rss") if e.id == item.id]
    assert len(news) == 1 and news[0].link == "https://wire.example/jordan"


def test_hostile_sources_fail_alone_and_leak_nothing(
    project: Project, http_server: FeedServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><link>https://x.example/</link>'
        "<description>d</description><item><title>leak:&xxe;</title>"
        "<guid>https://x.example/1</guid></item></channel></rss>"
    ).encode()
    http_server.set_document("/xxe.xml", xxe)
    http_server.set_document("/wire.xml", rss(ONE, TWO))
    hostile = {
        "broken": "/status/500",
        "bomb": "/gzip-bomb",
        "drip": "/drip",
        "html": "/page.html",
        "loop": "/loop",
        "huge": "/huge?size=40000000",
        "gone": "/status/404",
        "limited": "/status/429?retry_after=600",
    }
    sources = feed_sources(
        ("wire", http_server.url("/wire.xml")),
        ("xxe", http_server.url("/xxe.xml")),
        *[(name, http_server.url(path)) for name, path in hostile.items()],
    )
    config = project(sources=sources, tables='[fetch]\ndeadline = "3s"\nmax_body_size = "8MiB"\n')
    log, peak = tmp_path / "run.log", tmp_path / "peak"
    started = time.monotonic()
    with log.open("wb") as stderr:
        # Through tests/peakrss.py: started straight from pytest, a child's ru_maxrss
        # would count pytest's own RSS.
        command = [sys.executable, "-m", "coopfeed", "run", "-c", str(config)]
        code = subprocess.call(
            [sys.executable, str(PEAKRSS), str(peak), *command],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    elapsed = time.monotonic() - started
    text = log.read_text()
    assert code == 1, text
    assert "Traceback" not in text
    assert elapsed < 20
    assert 10 * 1024 < int(peak.read_text()) < 300 * 1024, peak.read_text()
    feeds = config.parent / "feeds"
    assert {e.title for e in entries(feeds / "wire.rss")} >= {
        "Solar co-op opens",
        "Dairy co-op merges",
    }
    for name in ("wire.rss", "all.rss"):
        assert check_rss((feeds / name).read_bytes()) == []
    assert check_atom((feeds / "all.atom").read_bytes()) == []
    status = subprocess.run(
        [sys.executable, "-m", "coopfeed", "status", "-c", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    lines = {line.split(":", 1)[0]: line for line in status}
    for name in hostile:
        assert "1 consecutive failures, last error: " in lines[name], lines[name]
    assert "HTTP 500" in lines["broken"] and "decompressed" in lines["bomb"]
    assert "deadline" in lines["drip"] and "redirect" in lines["loop"]
    assert "HTML" in lines["html"] and "HTTP 404" in lines["gone"]
    assert "HTTP 429" in lines["limited"]
    everything = b"".join(p.read_bytes() for p in feeds.iterdir())
    everything += (config.parent / "coopfeed.sqlite3").read_bytes()
    assert b"TOP-SECRET-MARKER" not in everything
    due = (
        sqlite3.connect(config.parent / "coopfeed.sqlite3")
        .execute("SELECT next_due - last_fetch FROM sources WHERE name='limited'")
        .fetchone()
    )
    assert due[0] >= 600  # Retry-After honoured


def test_file_urls_and_paths_work(project: Project, tmp_path: Path) -> None:
    local = tmp_path / "local.xml"
    local.write_bytes(rss(ONE))
    config = project(sources=feed_sources(("by-path", str(local)), ("by-url", local.as_uri())))
    assert main(["run", "-c", str(config)]) == 0
    assert len(entries(config.parent / "feeds/wire.rss")) == 1
    state = json.dumps(
        sqlite3.connect(config.parent / "coopfeed.sqlite3")
        .execute("SELECT name, last_error FROM sources ORDER BY name")
        .fetchall()
    )
    assert state == '[["by-path", null], ["by-url", null]]'


def test_the_next_fetch_honours_ttl_max_age_and_backs_off(
    project: Project, http_server: FeedServer
) -> None:
    ttl = rss(ONE).replace(
        b"<description>d</description>", b"<description>d</description><ttl>600</ttl>"
    )
    http_server.set_document("/ttl.xml", ttl)
    http_server.set_document("/cached.xml", rss(TWO), headers={"Cache-Control": "max-age=7200"})
    config = project(
        sources=feed_sources(
            ("ttl", http_server.url("/ttl.xml")),
            ("cached", http_server.url("/cached.xml")),
            ("down", http_server.url("/status/500")),
        ),
        extra_site='max_interval = "8h"',
    )
    db = config.parent / "coopfeed.sqlite3"

    def delays() -> dict[str, int]:
        rows = sqlite3.connect(db).execute("SELECT name, next_due - last_fetch FROM sources")
        return dict(rows.fetchall())

    assert main(["run", "-c", str(config)]) == 1
    assert delays() == {"ttl": 8 * 3600, "cached": 7200, "down": 3600}  # ttl clamped to 8h
    assert main(["run", "-c", str(config), "--all"]) == 1
    assert main(["run", "-c", str(config), "--all"]) == 1
    assert delays()["down"] == 4 * 3600  # 1h, 2h, 4h: backing off, never disabled
