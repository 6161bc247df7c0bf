"""WebSub: feeds advertise the hub and themselves; ping_hub against a real loopback hub."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from conftest import BASE
from lxml import etree

from coopfeed.publish import ping_hub, publish
from coopfeed.types import Feed, Item, Site

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@dataclass
class Hub:
    """A loopback WebSub hub: what it received, and how it answers per path."""

    url: str
    posts: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str) -> list[dict[str, list[str]]]:
        with self.lock:
            return [form for where, form, _ in self.posts if where == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("ascii"), keep_blank_values=True)
        hub = self.server.hub
        with hub.lock:
            hub.posts.append((self.path, form, dict(self.headers)))
            count = len([p for p in hub.posts if p[0] == self.path])
        if self.path == "/hub":
            self._answer(204)
        elif self.path == "/fail":
            self._answer(500)
        elif self.path == "/refuse":
            self._answer(400)
        elif self.path == "/flaky":  # two 503s, then accepted
            self._answer(204 if count > 2 else 503, {"Retry-After": "0"} if count <= 2 else {})
        elif self.path == "/slow":
            hub.release.wait(10)
            self._answer(204)
        else:
            self._answer(404)

    def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: Hub

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on /slow: its broken pipe is expected


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hub = Hub(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.hub
    finally:
        server.hub.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site(hub: Hub) -> Site:
    return Site(
        title="Cooperative news",
        description="News on cooperatives",
        base_url=BASE,
        author="Coopfeed editors",
        items_per_feed=3,
        hub=f"{hub.url}/hub",
    )


def item(n: int, category: str = "News") -> Item:
    moment = T0 + timedelta(days=n)
    return Item(
        guid=f"tag:coopfeed.example.org,2024:{n}",
        title=f"Story {n}",
        published=moment,
        updated=moment,
        link=f"{BASE}news.html#s{n}",
        categories=(category,),
    )


def feeds(*numbers: int) -> list[Feed]:
    news = tuple(item(n) for n in sorted(numbers, reverse=True))
    return [Feed("news", "News", news), Feed("all", "Cooperative news", news)]


def test_feeds_advertise_the_hub_and_themselves(site: Site, tmp_path: Path) -> None:
    publish(feeds(1, 2), site, tmp_path)
    for ext, kind in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
        root = etree.parse(str(tmp_path / f"news.{ext}")).getroot()
        head = root.find("channel") if ext == "rss" else root
        found = {e.get("rel"): e for e in head.findall(f"{ATOM}link")}
        assert found["hub"].get("href") == site.hub
        assert found["self"].get("href") == f"{BASE}news.{ext}"
        assert found["self"].get("type") == kind
    data = json.loads((tmp_path / "news.json").read_bytes())
    assert data["hubs"] == [{"type": "WebSub", "url": site.hub}]
    assert data["feed_url"] == f"{BASE}news.json"


def test_a_publish_that_changes_two_feeds_sends_two_pings(
    hub: Hub, site: Site, tmp_path: Path
) -> None:
    publish(feeds(1, 2), site, tmp_path)
    (tmp_path / "news.rss").write_bytes(b"stale")  # e.g. restored from an old backup
    (tmp_path / "all.json").unlink()

    report = publish(feeds(1, 2), site, tmp_path)
    assert report.changed_feeds == (f"{BASE}news.rss", f"{BASE}all.json")
    assert ping_hub(site.hub, report.changed_feeds) == []

    forms = hub.received("/hub")
    assert forms == [
        {"hub.mode": ["publish"], "hub.url": [f"{BASE}news.rss"]},
        {"hub.mode": ["publish"], "hub.url": [f"{BASE}all.json"]},
    ] or forms == [
        {"hub.mode": ["publish"], "hub.url": [f"{BASE}all.json"]},
        {"hub.mode": ["publish"], "hub.url": [f"{BASE}news.rss"]},
    ]
    headers = [h for _, _, h in hub.posts]
    assert all(h["Content-Type"] == "application/x-www-form-urlencoded" for h in headers)
    assert all(h["User-Agent"].startswith("coopfeed/") for h in headers)


def test_a_new_item_pings_every_changed_current_document(
    hub: Hub, site: Site, tmp_path: Path
) -> None:
    first = publish(feeds(1, 2), site, tmp_path)
    assert len(first.changed_feeds) == 6
    unchanged = publish(feeds(1, 2), site, tmp_path)
    assert unchanged.changed_feeds == ()
    assert ping_hub(site.hub, unchanged.changed_feeds) == []

    report = publish(feeds(1, 2, 3), site, tmp_path)
    expected = [
        f"{BASE}{slug}.{ext}" for slug in ("news", "all") for ext in ("rss", "atom", "json")
    ]
    assert list(report.changed_feeds) == expected
    assert ping_hub(site.hub, [*report.changed_feeds, f"{BASE}news.rss"]) == []  # once each
    assert sorted(form["hub.url"][0] for form in hub.received("/hub")) == sorted(expected)


def test_archive_pages_are_not_pinged(site: Site, tmp_path: Path) -> None:
    publish(feeds(1, 2, 3), site, tmp_path)
    report = publish(feeds(1, 2, 3, 4), site, tmp_path)
    assert "news.archive-1.rss" in report.written
    assert all(".archive-" not in url for url in report.changed_feeds)


def test_a_failing_hub_is_retried_then_reported(hub: Hub) -> None:
    errors = ping_hub(f"{hub.url}/fail", [f"{BASE}news.rss"], retries=2, backoff=0.01)
    assert errors == [
        f"{BASE}news.rss: hub {hub.url}/fail answered HTTP 500 Internal Server Error (3 attempts)"
    ]
    assert len(hub.received("/fail")) == 3


def test_a_flaky_hub_succeeds_on_retry(hub: Hub) -> None:
    assert ping_hub(f"{hub.url}/flaky", [f"{BASE}news.rss"], retries=3, backoff=0.01) == []
    assert len(hub.received("/flaky")) == 3


def test_a_hub_that_refuses_is_not_retried(hub: Hub) -> None:
    errors = ping_hub(f"{hub.url}/refuse", [f"{BASE}a.rss", f"{BASE}b.rss"], backoff=0.01)
    assert errors == [
        f"{BASE}a.rss: hub {hub.url}/refuse answered HTTP 400 Bad Request (1 attempt)",
        f"{BASE}b.rss: hub {hub.url}/refuse answered HTTP 400 Bad Request (1 attempt)",
    ]
    assert len(hub.received("/refuse")) == 2


def test_a_slow_hub_does_not_hold_the_run(hub: Hub) -> None:
    urls = [f"{BASE}{n}.rss" for n in range(6)]
    started = time.monotonic()
    errors = ping_hub(f"{hub.url}/slow", urls, deadline=0.5, backoff=0.01)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert len(errors) == 6
    assert all("no success within 0.5 s" in error for error in errors)
    assert errors[0].startswith(f"{BASE}0.rss: hub {hub.url}/slow")


def test_an_unreachable_hub_is_reported(hub: Hub) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    errors = ping_hub(f"http://127.0.0.1:{port}/", [f"{BASE}news.rss"], retries=1, backoff=0.01)
    assert len(errors) == 1
    assert "could not be reached" in errors[0] and "(2 attempts)" in errors[0]
    assert "\n" not in errors[0]


def test_bad_hub_urls_and_nothing_to_ping(hub: Hub) -> None:
    assert ping_hub(f"{hub.url}/hub", []) == []
    assert ping_hub("", [f"{BASE}news.rss"]) == []
    [error] = ping_hub("http://[::1", [f"{BASE}news.rss"])
    assert error.startswith(f"{BASE}news.rss: hub http://[::1 ")
    assert hub.posts == []


def test_ping_hub_works_inside_an_event_loop(hub: Hub, site: Site) -> None:
    async def job() -> list[str]:
        return ping_hub(site.hub, [f"{BASE}news.rss"])

    assert asyncio.run(job()) == []
    assert len(hub.received("/hub")) == 1


def test_pings_name_the_changed_feed_with_the_configured_base(hub: Hub, tmp_path: Path) -> None:
    site = Site("T", "D", "https://coop.example.org/feeds/", "A", hub=f"{hub.url}/hub")
    report = publish(feeds(1), site, tmp_path)
    assert report.changed_feeds[0] == "https://coop.example.org/feeds/news.rss"
    assert ping_hub(site.hub, report.changed_feeds[:1]) == []
    assert hub.received("/hub")[0]["hub.url"] == ["https://coop.example.org/feeds/news.rss"]
