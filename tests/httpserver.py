"""A real HTTP/1.1 server on 127.0.0.1 for tests and benchmarks: documents and routes go in,
HTTP responses come out, and a log of what every client sent can be read back.

In a test, ask for the ``http_server`` fixture (function-scoped: a fresh server, log and
document set per test).  A test module gets the fixture with ``pytest_plugins =
["httpserver"]`` (or conftest.py does it once for everyone)::

    def test_something(http_server: FeedServer) -> None:
        url = http_server.url("/rss2.xml")
        http_server.set_document("/feed.xml", b"<rss>...</rss>")   # serve these bytes
        ...
        assert http_server.count("/feed.xml") == 2
        assert http_server.requests_to("/feed.xml")[-1].if_none_match == '"..."'

Outside pytest (a benchmark)::

    with FeedServer(root=some_folder) as server:
        print(server.url("/a.xml"))

What it serves, first match wins:

1. documents set at run time with ``set_document(path, body, ...)`` (replace one to make a
   feed change between two runs; ``remove_document(path)`` brings back the file, if any;
   ``document(path)`` returns what is served there, with its ETag and Last-Modified);
2. routes, exact ones (``route(path, handler)``) and then prefixes (``route(prefix, handler,
   prefix=True)``); a handler takes a :class:`Request` and returns a :class:`Reply`, whose
   body may be bytes or an iterable of byte chunks (streamed; give ``length`` or it is sent
   chunked).  Built-in routes can be replaced the same way;
3. files under ``root`` (default ``tests/data/feeds/``), never outside it.

Documents and files are served with a strong ETag (a hash of the bytes) and Last-Modified
(the file's mtime, or the time ``set_document`` was called, always later than the previous
version), and answer 304 to a matching If-None-Match (or, without one, If-Modified-Since).
``?content_type=...`` on a document or file overrides its Content-Type (e.g. to declare a
wrong charset).  The files in ``tests/data/feeds/`` include ``rss2.xml``, ``atom.xml``,
``page.html`` (an HTML page), ``empty.xml`` (an empty body), ``truncated.xml`` (a feed cut off
mid-element) and ``wrong-charset.xml`` (Windows-1252 bytes declared as UTF-8).

Built-in routes:

=================================  ========================================================
``/status/<code>``                 that status; 429 and 503 carry ``Retry-After`` (the
                                   ``retry_after`` query value, default ``120``; may be an
                                   HTTP-date); ``?location=`` adds a Location header
``/redirect/<n>``                  ``n`` redirects (302, or ``?status=``), then a small feed;
                                   with ``?to=/path`` the last one goes there instead
``/redirect-to?url=U``             one redirect to any URL (``file:///etc/passwd`` too)
``/loop``, ``/loop2``              a redirect loop: each redirects to the other
``/drip``                          a small feed, one byte a second (``?interval=``); stops
                                   when the client goes away or the server stops
``/slow?delay=S``                  waits S seconds (default 1), then a small feed, or the
                                   document at ``?path=``
``/gzip/<path>``                   the document at ``/<path>``, gzip-encoded; likewise
``/deflate/<path>``,               zlib-wrapped deflate, raw deflate, and brotli (501 when
``/deflate-raw/<path>``,           the brotli package is missing)
``/br/<path>``
``/encoding/<name>/<path>``        the document unchanged, labelled ``Content-Encoding: name``
``/gzip-bomb``                     about 1 MiB of gzip that inflates to 1 GiB of zeros
                                   (built once per process, on first use)
``/huge?size=N``                   an RSS body of N bytes (default 64 MiB), streamed, never
                                   held in memory; ``?chunked=1`` sends no Content-Length
``/truncated-body``                Content-Length promises more than is sent, then closes
``/headers?Name=value&...``        a small feed with those response headers (``date`` too)
``/echo``                          the request headers as JSON
=================================  ========================================================

Records: ``requests`` (every request: method, path, query, headers, and the
If-None-Match / If-Modified-Since / User-Agent / Accept-Encoding shortcuts), ``count(path)``,
``requests_to(path)``, ``max_in_flight(host)`` (the most requests handled at once, per Host
header name, or overall when ``host`` is None), ``connections`` (TCP connections accepted)
and ``reset()``.  Use ``url(path,
host="localhost")`` to reach the same server under a second host name.

Built on ``http.server.ThreadingHTTPServer``: TCP_NODELAY, a deep listen backlog, daemon
handler threads; ``stop()`` wakes every handler (drips, idle keep-alive connections) and
joins them, so no thread or socket outlives the server.

PYTEST_DONT_REWRITE: test modules both import this module and load it as a plugin; it holds
no assertions to rewrite.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import json
import mimetypes
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
MiB = 2**20

SMALL_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Small feed</title><link>http://127.0.0.1/</link>
<description>A feed from the test server</description>
<item><title>Small item</title><guid isPermaLink="false">small-1</guid>
<pubDate>Thu, 29 Jul 2021 09:00:00 +0000</pubDate></item>
</channel></rss>
"""

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/feed+json",
    ".txt": "text/plain; charset=utf-8",
    ".opml": "text/x-opml",
}


@dataclass(frozen=True)
class Request:
    """One request as the server received it (``headers`` have lower-cased names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    host: str  # the Host header's name, without the port

    @property
    def if_none_match(self) -> str | None:
        return self.headers.get("if-none-match")

    @property
    def if_modified_since(self) -> str | None:
        return self.headers.get("if-modified-since")

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    @property
    def accept_encoding(self) -> str | None:
        return self.headers.get("accept-encoding")


@dataclass
class Reply:
    """What a route answers.  An iterable body is streamed: with ``length`` as
    Content-Length, else chunked.  ``close`` closes the connection afterwards; ``drop``
    closes it without answering at all (as a server does with a kept-alive connection it
    times out just as a request arrives)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None
    close: bool = False
    drop: bool = False


@dataclass(frozen=True)
class Document:
    """Bytes served at a path, with their validators (None for none)."""

    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


Handler = Callable[[Request], Reply]


class FeedServer:
    """A loopback HTTP server serving documents, files under ``root``, and test routes."""

    def __init__(self, root: Path | str = FEEDS, host: str = "127.0.0.1") -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._documents: dict[str, Document] = {}
        self._stamps: dict[str, float] = {}
        self._routes: dict[str, Handler] = {}
        self._prefixes: dict[str, Handler] = {}
        self._log: list[Request] = []
        self._in_flight: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter()
        self._accepted = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._install_routes()

    # -- life --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server(self, (self.host, 0))
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FeedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake and join every handler thread, close every socket."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait(self, seconds: float) -> bool:
        """Sleep in a route; True when the server is stopping (the route should end)."""
        return self._stopping.wait(seconds)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/", host: str | None = None) -> str:
        """The URL of ``path`` on this server, optionally under another host name."""
        return f"http://{host or self.host}:{self.port}/{path.lstrip('/')}"

    # -- content -----------------------------------------------------------------------

    def set_document(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        etag: bool = True,
        last_modified: bool = True,
        status: int = 200,
    ) -> Document:
        """Serve ``body`` at ``path`` from now on (replacing what was there)."""
        path = "/" + path.lstrip("/")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        with self._lock:
            previous = self._stamps.get(path)
            if previous is None and (file := self._file(path)) is not None:
                previous = file.stat().st_mtime
            stamp = time.time() if previous is None else max(time.time(), previous + 1)
            self._stamps[path] = stamp
            document = Document(
                body=data,
                content_type=content_type or _content_type(path),
                etag=_etag(data) if etag else None,
                last_modified=formatdate(stamp, usegmt=True) if last_modified else None,
                headers=dict(headers or {}),
                status=status,
            )
            self._documents[path] = document
        return document

    def remove_document(self, path: str) -> None:
        with self._lock:
            self._documents.pop("/" + path.lstrip("/"), None)

    def document(self, path: str) -> Document | None:
        """What ``path`` holds: a document set at run time, else a file under root."""
        path = "/" + path.lstrip("/")
        with self._lock:
            document = self._documents.get(path)
        if document is not None:
            return document
        file = self._file(path)
        if file is None:
            return None
        try:
            data = file.read_bytes()
            mtime = file.stat().st_mtime
        except OSError:
            return None
        return Document(data, _content_type(path), _etag(data), formatdate(mtime, usegmt=True))

    def route(self, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Answer ``path`` (or every path under ``prefix``) with ``handler``."""
        if prefix:
            self._prefixes[path] = handler
        else:
            self._routes[path] = handler

    # -- records -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def count(self, path: str) -> int:
        return len(self.requests_to(path))

    def max_in_flight(self, host: str | None = None) -> int:
        """The most requests handled at once for a Host name, or overall."""
        with self._lock:
            return self._max_in_flight["*" if host is None else host]

    @property
    def connections(self) -> int:
        """TCP connections accepted (since the start or the last ``reset()``)."""
        with self._lock:
            return self._accepted

    def reset(self) -> None:
        """Forget the request log, the in-flight maxima and the connection count."""
        with self._lock:
            self._log.clear()
            self._max_in_flight.clear()
            self._accepted = 0

    # -- serving -----------------------------------------------------------------------

    def _file(self, path: str) -> Path | None:
        try:
            file = (self.root / path.lstrip("/")).resolve()
        except (OSError, ValueError):
            return None
        if not file.is_relative_to(self.root) or not file.is_file():
            return None
        return file

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    @contextmanager
    def _counting(self, host: str) -> Iterator[None]:
        with self._lock:
            for key in ("*", host):
                self._in_flight[key] += 1
                self._max_in_flight[key] = max(self._max_in_flight[key], self._in_flight[key])
        try:
            yield
        finally:
            with self._lock:
                for key in ("*", host):
                    self._in_flight[key] -= 1

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            has_document = request.path in self._documents
        if not has_document:
            if request.path in self._routes:
                return self._routes[request.path](request)
            for prefix, handler in sorted(self._prefixes.items(), key=lambda p: -len(p[0])):
                if request.path.startswith(prefix):
                    return handler(request)
        return self._serve_document(request, request.path)

    def _serve_document(self, request: Request, path: str) -> Reply:
        document = self.document(path)
        if document is None:
            return _text(404, f"no document at {path}\n")
        headers = {"Content-Type": request.query.get("content_type", document.content_type)}
        if document.etag is not None:
            headers["ETag"] = document.etag
        if document.last_modified is not None:
            headers["Last-Modified"] = document.last_modified
        headers.update(document.headers)
        if document.status == 200 and _not_modified(request, document):
            del headers["Content-Type"]
            return Reply(304, headers=headers)
        return Reply(document.status, document.body, headers)

    # -- built-in routes ---------------------------------------------------------------

    def _install_routes(self) -> None:
        self.route("/status/", self._status, prefix=True)
        self.route("/redirect/", self._redirect, prefix=True)
        self.route("/redirect-to", self._redirect_to)
        self.route("/loop", lambda r: _redirect(302, "/loop2"))
        self.route("/loop2", lambda r: _redirect(302, "/loop"))
        self.route("/drip", self._drip)
        self.route("/slow", self._slow)
        for name in ("gzip", "deflate", "deflate-raw", "br"):
            self.route(f"/{name}/", self._encoded, prefix=True)
        self.route("/encoding/", self._labelled, prefix=True)
        self.route("/gzip-bomb", self._gzip_bomb)
        self.route("/huge", self._huge)
        self.route("/truncated-body", self._truncated_body)
        self.route("/headers", self._headers)
        self.route("/echo", self._echo)

    def _status(self, request: Request) -> Reply:
        code = _int(request.path.removeprefix("/status/"), 500)
        reply = _text(code, f"{code} {_phrase(code)}\n")
        if code in (429, 503):
            reply.headers["Retry-After"] = request.query.get("retry_after", "120")
        if "location" in request.query:
            reply.headers["Location"] = request.query["location"]
        return reply

    def _redirect(self, request: Request) -> Reply:
        hops = _int(request.path.removeprefix("/redirect/"), 1)
        status = _int(request.query.get("status", ""), 302)
        if hops <= 0:
            return Reply(200, SMALL_FEED, {"Content-Type": "application/rss+xml"})
        if hops == 1 and "to" in request.query:
            return _redirect(status, request.query["to"])
        query = f"?{urlencode(request.query)}" if request.query else ""
        return _redirect(status, f"/redirect/{hops - 1}{query}")

    def _redirect_to(self, request: Request) -> Reply:
        return _redirect(_int(request.query.get("status", ""), 302), request.query.get("url", "/"))

    def _drip(self, request: Request) -> Reply:
        interval = float(request.query.get("interval", "1"))

        def chunks() -> Iterator[bytes]:
            for i in range(len(SMALL_FEED)):
                if i and self.wait(interval):
                    return
                yield SMALL_FEED[i : i + 1]

        return Reply(200, chunks(), {"Content-Type": "application/rss+xml"}, len(SMALL_FEED))

    def _slow(self, request: Request) -> Reply:
        if self.wait(float(request.query.get("delay", "1"))):
            return _text(503, "stopping\n")
        if "path" in request.query:
            return self._serve_document(request, request.query["path"])
        return Reply(200, SMALL_FEED, {"Content-Type": "application/rss+xml"})

    def _encoded(self, request: Request) -> Reply:
        coding, _, path = request.path.lstrip("/").partition("/")
        reply = self._serve_document(request, path)
        if reply.status != 200 or not isinstance(reply.body, bytes):
            return reply
        if coding == "gzip":
            body = gzip.compress(reply.body, mtime=0)
        elif coding == "deflate":
            body = zlib.compress(reply.body)
        elif coding == "deflate-raw":
            compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = compressor.compress(reply.body) + compressor.flush()
            coding = "deflate"
        else:
            try:
                brotli: Any = importlib.import_module("brotli")
            except ImportError:
                return _text(501, "brotli is not installed\n")
            body = brotli.compress(reply.body)
        reply.body = body
        reply.headers["Content-Encoding"] = coding
        if "ETag" in reply.headers:
            reply.headers["ETag"] = reply.headers["ETag"][:-1] + f'-{coding}"'
        return reply

    def _labelled(self, request: Request) -> Reply:
        coding, _, path = request.path.removeprefix("/encoding/").partition("/")
        reply = self._serve_document(request, path)
        reply.headers["Content-Encoding"] = coding
        return reply

    def _gzip_bomb(self, request: Request) -> Reply:
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        return Reply(200, gzip_bomb(), headers)

    def _huge(self, request: Request) -> Reply:
        size = _int(request.query.get("size", ""), 64 * MiB)
        length = None if request.query.get("chunked") == "1" else size
        return Reply(200, _huge_body(size), {"Content-Type": "application/rss+xml"}, length)

    def _truncated_body(self, request: Request) -> Reply:
        headers = {"Content-Type": "application/rss+xml", "Content-Length": str(len(SMALL_FEED))}
        return Reply(200, SMALL_FEED[: len(SMALL_FEED) // 2], headers, close=True)

    def _headers(self, request: Request) -> Reply:
        headers = {"Content-Type": "application/rss+xml", **request.query}
        return Reply(200, SMALL_FEED, headers)

    def _echo(self, request: Request) -> Reply:
        body = json.dumps(request.headers, indent=2, sort_keys=True).encode()
        return Reply(200, body, {"Content-Type": "application/json"})


# -- the socket side --------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a class attribute: the listen backlog is set in __init__

    def __init__(self, feed: FeedServer, address: tuple[str, int]) -> None:
        self.feed = feed
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        with self.feed._lock:
            self.feed._accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on its socket (an idle keep-alive, a slow client)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away: normal for these tests
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, or keep-alive responses wait ~40 ms
    timeout = 30  # an idle keep-alive connection is dropped after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, head: bool) -> None:
        feed = self.server.feed
        target = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        host = urlsplit(f"//{headers.get('host', '')}").hostname or ""
        request = Request(self.command, target.path, dict(parse_qsl(target.query)), headers, host)
        feed._record(request)
        with feed._counting(host):
            try:
                reply = feed._dispatch(request)
            except Exception:
                traceback.print_exc()
                reply = _text(500, "the route raised an exception (see stderr)\n")
            self._send(reply, head)

    def _send(self, reply: Reply, head: bool) -> None:
        if reply.drop:
            self.close_connection = True
            return
        names = {name.lower() for name in reply.headers}
        self.send_response_only(reply.status)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        has_body = reply.status >= 200 and reply.status not in (204, 304)
        body = reply.body
        length = len(body) if isinstance(body, bytes) else reply.length
        chunked = length is None
        if has_body and not names & {"content-length", "transfer-encoding"}:
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.close:
            self.close_connection = True
        chunks = [body] if isinstance(body, bytes) else body
        try:
            if has_body and not head:
                self._write(chunks, chunked, length)
        except OSError:  # the client went away (or the server is stopping)
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _write(self, chunks: Iterable[bytes], chunked: bool, length: int | None) -> None:
        sent = 0
        for chunk in chunks:
            if not chunk:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        elif sent != length:
            self.close_connection = True  # the body ended early: the client must see it


# -- helpers ----------------------------------------------------------------------------


@functools.cache
def gzip_bomb(inflated: int = 1024 * MiB) -> bytes:
    """A gzip member of zeros, about inflated/1000 bytes, built in bounded memory.

    Each MiB of zeros is compressed once after a full flush, which resets the compressor,
    so the same bytes can be repeated; an empty final block and the trailer end it.
    """
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    blocks, rest = divmod(inflated, MiB)
    if rest:
        raise ValueError("inflated must be a whole number of MiB")
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, inflated & 0xFFFFFFFF)
    return header + block * blocks + final + trailer


def _huge_body(size: int) -> Iterator[bytes]:
    """An RSS document of ``size`` bytes (cut off at the end), in 64 KiB chunks."""
    head = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Huge</title>\n'
    item = b"<item><title>Padding</title><description>" + b"x" * 940 + b"</description></item>\n"
    chunk = item * (64 * 1024 // len(item))
    sent = 0
    for piece in _repeat(head, chunk):
        piece = piece[: size - sent]
        if not piece:
            return
        yield piece
        sent += len(piece)


def _repeat(first: bytes, then: bytes) -> Iterator[bytes]:
    yield first
    while True:
        yield then


def _etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:20]}"'


def _content_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/xml"


def _not_modified(request: Request, document: Document) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if request.if_none_match is not None:
        if document.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in request.if_none_match.split(",")}
        return "*" in tags or document.etag.removeprefix("W/") in tags
    if request.if_modified_since and document.last_modified:
        try:
            since = parsedate_to_datetime(request.if_modified_since)
            modified = parsedate_to_datetime(document.last_modified)
        except (TypeError, ValueError):
            return False
        return modified <= since
    return False


def _redirect(status: int, location: str) -> Reply:
    return Reply(status, f"see {location}\n".encode(), {"Location": location})


def _text(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


@pytest.fixture
def http_server() -> Iterator[FeedServer]:
    """A FeedServer on 127.0.0.1 serving tests/data/feeds/, fresh for each test."""
    with FeedServer() as server:
        yield server
