"""Fetching against a real loopback server: FetchRequests in, FetchResponses out."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from httpserver import FEEDS, FeedServer, Reply, Request, gzip_bomb

from coopfeed import __version__
from coopfeed.sources.http import (
    FetchRequest,
    FetchResponse,
    FetchSession,
    FetchSettings,
    _Clients,
    backoff_delay,
    fetch_all,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RSS2 = (FEEDS / "rss2.xml").read_bytes()


def fetch(
    url: str,
    settings: FetchSettings | None = None,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    base_dir: Path = FEEDS,
) -> FetchResponse:
    request = FetchRequest("src", url, etag=etag, last_modified=last_modified)
    [response] = fetch_all([request], settings or FetchSettings(), base_dir=base_dir, now=NOW)
    return response


def again(previous: FetchResponse, settings: FetchSettings | None = None) -> FetchResponse:
    """Fetch the same URL with the validators the previous fetch gave."""
    return fetch(previous.url, settings, etag=previous.etag, last_modified=previous.last_modified)


# -- success, validators, conditional GET ----------------------------------------------


def test_200_carries_body_headers_and_validators(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/rss2.xml"))
    assert response.ok and response.status == 200 and not response.not_modified
    assert response.body == RSS2
    assert response.source == "src" and response.url == http_server.url("/rss2.xml")
    assert response.headers["content-type"] == "application/xml"
    assert response.etag == response.headers["etag"]
    assert response.last_modified == response.headers["last-modified"]
    assert "content-length" not in response.headers


def test_second_fetch_is_conditional_and_not_modified(http_server: FeedServer) -> None:
    first = fetch(http_server.url("/rss2.xml"))
    second = again(first)
    assert second.not_modified and second.ok and second.status == 304
    assert second.body is None
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = http_server.requests_to("/rss2.xml")
    assert [r.if_none_match for r in sent] == [None, first.etag]
    assert [r.if_modified_since for r in sent] == [None, first.last_modified]


def test_a_changed_document_is_fetched_again(http_server: FeedServer) -> None:
    http_server.set_document("/feed.xml", RSS2)
    first = fetch(http_server.url("/feed.xml"))
    assert again(first).not_modified
    http_server.set_document("/feed.xml", RSS2.replace(b"Europe", b"Africa"))
    third = again(first)
    assert third.status == 200 and not third.not_modified
    assert third.body is not None and b"Africa" in third.body
    assert third.etag != first.etag and third.last_modified != first.last_modified


def test_last_modified_alone_gives_not_modified(http_server: FeedServer) -> None:
    http_server.set_document("/dated.xml", RSS2, etag=False)
    first = fetch(http_server.url("/dated.xml"))
    assert first.etag is None and first.last_modified is not None
    second = again(first)
    assert second.not_modified and second.last_modified == first.last_modified
    assert http_server.requests_to("/dated.xml")[-1].if_none_match is None


def test_user_agent_and_accept_encoding(http_server: FeedServer) -> None:
    fetch(http_server.url("/rss2.xml"))
    [sent] = http_server.requests
    assert sent.user_agent == FetchSettings().user_agent
    assert sent.user_agent is not None
    assert f"coopfeed/{__version__}" in sent.user_agent
    assert "https://github.com/coopfeed/coopfeed" in sent.user_agent
    assert sent.accept_encoding is not None and "gzip" in sent.accept_encoding


@pytest.mark.parametrize(
    ("path", "body"),
    [("/empty.xml", b""), ("/page.html", (FEEDS / "page.html").read_bytes())],
)
def test_empty_and_html_bodies_are_fetched_as_they_are(
    http_server: FeedServer, path: str, body: bytes
) -> None:
    response = fetch(http_server.url(path))
    assert response.ok and response.body == body


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/status/500", 500, "HTTP 500 Internal Server Error"),
        ("/no/such/feed.xml", 404, "HTTP 404 Not Found"),
        ("/status/403", 403, "HTTP 403 Forbidden"),
    ],
)
def test_http_errors(http_server: FeedServer, path: str, status: int, error: str) -> None:
    response = fetch(http_server.url(path), etag='"old"', last_modified="old date")
    assert response.status == status and response.error == error
    assert response.body is None and not response.not_modified
    assert (response.etag, response.last_modified) == ('"old"', "old date")
    assert response.retry_after is None


@pytest.mark.parametrize(
    ("status", "value", "seconds"),
    [
        (429, "120", 120.0),
        (503, "0", 0.0),
        (503, format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (429, format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        (429, "soon", None),
    ],
)
def test_retry_after(
    http_server: FeedServer, status: int, value: str, seconds: float | None
) -> None:
    response = fetch(http_server.url(f"/status/{status}?retry_after={quote(value)}"))
    assert response.status == status and response.error is not None
    assert response.error.startswith(f"HTTP {status} ")
    assert response.retry_after == seconds


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert response.error == "connection refused"
    assert response.status is None and response.body is None


def test_body_cut_short_is_an_error(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/truncated-body"))
    assert response.body is None
    assert response.error is not None and response.error.startswith("protocol error: ")
    assert "\n" not in response.error


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.org/feed.xml", "unsupported URL scheme 'ftp'"),
        ("http://ex\x00ample.org/feed.xml", "invalid URL: "),
        ("http://[::1/feed.xml", "invalid URL: "),
    ],
)
def test_unusable_urls_are_errors(url: str, error: str) -> None:
    response = fetch(url)
    assert response.error is not None and response.error.startswith(error)


# -- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_up_to_the_limit_are_followed(http_server: FeedServer, status: int) -> None:
    response = fetch(http_server.url(f"/redirect/5?status={status}&to=/rss2.xml"))
    assert response.ok and response.body == RSS2
    assert response.url == http_server.url("/rss2.xml")
    assert http_server.count("/rss2.xml") == 1


def test_one_redirect_too_many_is_an_error(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/redirect/6"))
    assert response.error == "too many redirects (5)" and response.body is None
    assert http_server.count("/redirect/0") == 0
    small = fetch(http_server.url("/redirect/3"), FetchSettings(max_redirects=2))
    assert small.error == "too many redirects (2)"


def test_redirect_loop_is_an_error(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/loop"))
    assert response.error == "redirect loop: too many redirects (5)"
    assert http_server.count("/loop") + http_server.count("/loop2") == 6


def test_redirect_to_a_local_file_is_refused(http_server: FeedServer) -> None:
    target = FEEDS / "rss2.xml"
    response = fetch(http_server.url(f"/redirect-to?url={quote(target.as_uri())}"))
    assert response.error == "redirect to unsupported URL scheme 'file'"
    assert response.body is None


# -- time limits -----------------------------------------------------------------------


def test_a_drip_feed_stops_at_the_deadline(http_server: FeedServer) -> None:
    start = time.monotonic()
    response = fetch(http_server.url("/drip"), FetchSettings(deadline=2, timeout=10))
    assert response.error == "timed out after 2 s (deadline)"
    assert response.body is None
    assert time.monotonic() - start < 10  # finished (generous bound, not a benchmark)


def test_a_silent_server_trips_the_read_timeout(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/slow?delay=5"), FetchSettings(timeout=0.5))
    assert response.error == "read timed out after 0.5 s"


# -- encodings and size caps -----------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw"])
def test_compressed_bodies_are_decoded(http_server: FeedServer, coding: str) -> None:
    response = fetch(http_server.url(f"/{coding}/rss2.xml"))
    assert response.ok and response.body == RSS2
    assert "content-encoding" not in response.headers


def test_brotli_only_when_it_can_be_decoded(http_server: FeedServer) -> None:
    fetch(http_server.url("/rss2.xml"))
    asked = http_server.requests[-1].accept_encoding or ""
    if "br" in asked:  # the brotli package (1.2 or later) is installed
        assert fetch(http_server.url("/br/rss2.xml")).body == RSS2
    else:
        response = fetch(http_server.url("/encoding/br/rss2.xml"))
        assert response.error == "unsupported content-encoding 'br'"


def test_unsupported_content_encoding_is_an_error(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/encoding/compress/rss2.xml"))
    assert response.error == "unsupported content-encoding 'compress'"
    assert response.body is None


def test_corrupt_gzip_is_an_error(http_server: FeedServer) -> None:
    response = fetch(http_server.url("/encoding/gzip/rss2.xml"))
    assert response.error is not None
    assert response.error.startswith("could not decode the body: ")


def test_gzip_bomb_stops_at_the_cap_in_bounded_memory(http_server: FeedServer) -> None:
    gzip_bomb()  # the server's copy (1 MiB) is built before measuring
    settings = FetchSettings(max_body_size=10 * 2**20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.monotonic()
    response = fetch(http_server.url("/gzip-bomb"), settings)
    assert time.monotonic() - start < 15  # finished
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert response.error == "body larger than 10 MiB (decompressed)"
    assert response.body is None and response.status == 200
    assert growth < 100 * 1024, f"peak memory grew by {growth} KiB"


@pytest.mark.parametrize("chunked", ["0", "1"])
def test_huge_body_is_an_error(http_server: FeedServer, chunked: str) -> None:
    settings = FetchSettings(max_body_size=10 * 2**20)
    response = fetch(http_server.url(f"/huge?size={64 * 2**20}&chunked={chunked}"), settings)
    assert response.error == "body larger than 10 MiB"
    assert response.body is None


def test_a_body_at_the_cap_is_fine(http_server: FeedServer) -> None:
    settings = FetchSettings(max_body_size=len(RSS2))
    assert fetch(http_server.url("/rss2.xml"), settings).body == RSS2
    assert fetch(http_server.url("/gzip/rss2.xml"), settings).body == RSS2
    smaller = FetchSettings(max_body_size=len(RSS2) - 1)
    assert fetch(http_server.url("/gzip/rss2.xml"), smaller).error == (
        f"body larger than {len(RSS2) - 1} bytes (decompressed)"
    )


# -- freshness -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "max_age"),
    [
        ({"cache-control": "max-age=300"}, 300.0),
        ({"cache-control": "public, s-maxage=600"}, 600.0),
        ({"cache-control": "max-age=60, s-maxage=600"}, 60.0),
        ({"cache-control": "no-cache, max-age=300"}, None),
        ({"cache-control": "no-store"}, None),
        (
            {"date": "Sat, 28 Nov 2026 10:00:00 GMT", "expires": "Sat, 28 Nov 2026 11:00:00 GMT"},
            3600.0,
        ),
        ({"date": "Sat, 28 Nov 2026 10:00:00 GMT", "expires": "0"}, 0.0),
        (
            {
                "cache-control": "max-age=5",
                "date": "Sat, 28 Nov 2026 10:00:00 GMT",
                "expires": "Sat, 28 Nov 2026 11:00:00 GMT",
            },
            5.0,
        ),
        ({}, None),
    ],
)
def test_max_age(http_server: FeedServer, headers: dict[str, str], max_age: float | None) -> None:
    query = "&".join(f"{name}={quote(value)}" for name, value in headers.items())
    response = fetch(http_server.url(f"/headers?{query}"))
    assert response.ok and response.max_age == max_age


# -- concurrency -----------------------------------------------------------------------


def test_per_host_limit(http_server: FeedServer) -> None:
    settings = FetchSettings(concurrency=10, per_host=2)
    urls = [http_server.url("/slow?delay=0.3", host=h) for h in ("127.0.0.1", "localhost")]
    requests = [FetchRequest(f"s{i}", urls[i % 2]) for i in range(12)]
    responses = fetch_all(requests, settings, base_dir=FEEDS, now=NOW)
    assert all(r.ok for r in responses)
    assert http_server.max_in_flight("127.0.0.1") <= 2
    assert http_server.max_in_flight("localhost") <= 2
    assert 2 < http_server.max_in_flight() <= 4  # the two hosts ran side by side


def test_global_limit(http_server: FeedServer) -> None:
    settings = FetchSettings(concurrency=3, per_host=10)
    requests = [FetchRequest(f"s{i}", http_server.url("/slow?delay=0.2")) for i in range(9)]
    responses = fetch_all(requests, settings, base_dir=FEEDS, now=NOW)
    assert all(r.ok for r in responses)
    assert http_server.max_in_flight() <= 3


def test_results_keep_the_order_of_requests(http_server: FeedServer) -> None:
    requests = [
        FetchRequest("slow", http_server.url("/slow?delay=0.3")),
        FetchRequest("missing", http_server.url("/missing.xml")),
        FetchRequest("file", "atom.xml"),
        FetchRequest("rss", http_server.url("/rss2.xml")),
    ]
    responses = fetch_all(requests, FetchSettings(), base_dir=FEEDS, now=NOW)
    assert [r.source for r in responses] == ["slow", "missing", "file", "rss"]
    assert [r.ok for r in responses] == [True, False, True, True]


def test_not_modified_redirect_and_error_responses_keep_their_connection(
    http_server: FeedServer,
) -> None:
    """A 304, a redirect and a 404 have no body worth reading, but the connection they came
    on is still good: the next request goes out on it (a new one would cost a TCP and, over
    https, a TLS handshake per source)."""
    first = fetch(http_server.url("/rss2.xml"))
    one_at_a_time = FetchSettings(concurrency=1, per_host=1)
    requests = [
        *(FetchRequest(f"same{i}", first.url, etag=first.etag) for i in range(4)),
        FetchRequest("redirected", http_server.url("/redirect/2")),
        FetchRequest("missing", http_server.url("/missing.xml")),
        FetchRequest("last", first.url, etag=first.etag),
    ]
    http_server.reset()
    responses = fetch_all(requests, one_at_a_time, base_dir=FEEDS, now=NOW)
    assert [r.not_modified for r in responses] == [True] * 4 + [False, False, True]
    assert responses[4].ok and responses[4].body and responses[5].status == 404
    assert len(http_server.requests) == 9  # 4 + 3 for the redirects + 1 + 1
    assert http_server.connections == 1


def test_a_host_gets_back_the_connection_it_used_last(http_server: FeedServer) -> None:
    """Each of the two slots keeps one connection; a request goes out on the one its host
    used last, not on whichever is free, so alternating hosts still costs no handshakes."""
    first = fetch(http_server.url("/rss2.xml"))
    settings = FetchSettings(concurrency=2, per_host=1)
    requests = [
        FetchRequest(f"{host}{i}", http_server.url("/rss2.xml", host=host), etag=first.etag)
        for i in range(3)
        for host in ("127.0.0.1", "localhost")
    ]
    http_server.reset()
    responses = fetch_all(requests, settings, base_dir=FEEDS, now=NOW)
    assert all(r.not_modified for r in responses)
    assert {r.host for r in http_server.requests} == {"127.0.0.1", "localhost"}
    assert http_server.connections == 2


def test_an_idle_client_is_chosen_by_the_host_it_reached_last() -> None:
    """Which idle slot a request takes: its host's, else the one freed last, else a new
    one (never more than the slots, which the caller holds)."""
    clients = _Clients(FetchSettings(concurrency=3))
    a, b = clients.take("a.example"), clients.take("b.example")
    assert clients.made == [a, b] and a is not b
    clients.give_back("a.example", a)
    clients.give_back("b.example", b)
    assert clients.take("a.example") is a  # not b, freed last
    clients.give_back("a.example", a)
    assert clients.take("c.example") is a  # no match: the one freed last
    assert clients.take("c.example") is b
    c = clients.take("c.example")
    assert clients.made == [a, b, c]
    asyncio.run(clients.aclose())
    assert all(client.is_closed for client in clients.made)


def test_a_session_keeps_its_connections_from_one_call_to_the_next(
    http_server: FeedServer,
) -> None:
    first = fetch(http_server.url("/rss2.xml"))
    settings = FetchSettings(concurrency=1)
    request = FetchRequest("src", first.url, etag=first.etag)
    http_server.reset()
    with FetchSession() as session:
        for _ in range(3):
            [response] = fetch_all([request], settings, base_dir=FEEDS, now=NOW, session=session)
            assert response.not_modified
        assert http_server.connections == 1
        # Other settings (a reloaded configuration) get clients of their own.
        other = FetchSettings(concurrency=1, user_agent="other/1")
        [response] = fetch_all([request], other, base_dir=FEEDS, now=NOW, session=session)
        assert response.not_modified and http_server.connections == 2
    assert http_server.requests[-1].user_agent == "other/1"
    # Without a session each call has connections of its own.
    http_server.reset()
    for _ in range(2):
        assert fetch(first.url, settings, etag=first.etag).not_modified
    assert http_server.connections == 2


def test_an_error_page_that_drips_is_not_waited_for(http_server: FeedServer) -> None:
    """The rest of an unwanted body is read only to keep the connection; a 503 whose page
    comes a byte a second is reported as the 503 it is, long before the deadline."""

    def dripping_503(request: Request) -> Reply:
        def chunks() -> Iterator[bytes]:
            for _ in range(100):
                yield b"x"
                if http_server.wait(1):
                    return

        return Reply(503, chunks(), {"Retry-After": "60"}, length=100)

    http_server.route("/busy", dripping_503)
    response = fetch(http_server.url("/busy"), FetchSettings(deadline=5))
    assert response.status == 503 and response.retry_after == 60
    assert response.error is not None and "timed out" not in response.error


def test_a_kept_connection_the_server_drops_is_tried_once_more(http_server: FeedServer) -> None:
    """A server may close a kept-alive connection just as the next request goes out on
    it: that GET is sent once more, on a new connection.  A first request on a new
    connection that gets no answer fails as it did."""
    hits = {"/flaky": 0, "/dead": 0}

    def flaky(request: Request) -> Reply:
        hits[request.path] += 1
        if request.path == "/dead" or hits[request.path] == 1:
            return Reply(drop=True)
        return Reply(200, RSS2, {"Content-Type": "application/rss+xml"})

    http_server.route("/flaky", flaky)
    http_server.route("/dead", flaky)
    one_at_a_time = FetchSettings(concurrency=1, per_host=1)
    requests = [
        FetchRequest("first", http_server.url("/rss2.xml")),  # leaves its connection open
        FetchRequest("flaky", http_server.url("/flaky")),
    ]
    first, flaky_response = fetch_all(requests, one_at_a_time, base_dir=FEEDS, now=NOW)
    assert first.ok and flaky_response.ok and flaky_response.body == RSS2
    assert hits["/flaky"] == 2
    dead = fetch(http_server.url("/dead"), one_at_a_time)  # a new connection: no retry
    assert not dead.ok and dead.error is not None and hits["/dead"] == 1


# -- local files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["rss2.xml", str(FEEDS / "rss2.xml"), (FEEDS / "rss2.xml").as_uri()]
)
def test_local_files(url: str) -> None:
    response = fetch(url)
    assert response.ok and response.body == RSS2
    assert response.status is None and response.url == str(FEEDS / "rss2.xml")
    second = again(response)
    assert second.not_modified and second.body is None


def test_a_changed_local_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS2)
    first = fetch("feed.xml", base_dir=tmp_path)
    path.write_bytes(RSS2 + b"\n")
    second = fetch("feed.xml", base_dir=tmp_path, etag=first.etag)
    assert second.body == RSS2 + b"\n" and second.etag != first.etag


def test_local_file_errors(tmp_path: Path) -> None:
    missing = fetch("missing.xml", base_dir=tmp_path)
    assert missing.error == f"cannot read {tmp_path / 'missing.xml'}: No such file or directory"
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2048)
    too_big = fetch(str(big), FetchSettings(max_body_size=1024))
    assert too_big.error == "body larger than 1 KiB" and too_big.body is None
    remote = fetch("file://example.org/etc/passwd")
    assert remote.error == "file URL with a host is not supported: file://example.org/etc/passwd"


# -- backoff ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 60.0), (2, 120.0), (3, 240.0), (6, 1920.0), (7, 3600.0), (10**6, 3600.0)],
)
def test_backoff_delay(failures: int, delay: float) -> None:
    assert backoff_delay(failures, base=60, ceiling=3600) == delay
