"""The bench's loopback HTTP server: a folder goes in, its files come out over HTTP/1.1.

Run as its own process (``python -m bench.server ROOT``) so that serving never competes
with the client under test for one interpreter's GIL; it prints its port on the first
line of stdout, then serves until it gets SIGTERM, its parent process goes away, or
``--max-seconds`` pass (a bench that crashed leaves no server behind).

Every file under ROOT is served with a strong ETag (a hash of its bytes) and
Last-Modified (its mtime), and a matching If-None-Match (or, without one,
If-Modified-Since) gets 304.  Files are read again when their size or mtime changes, so
rewriting a file (``corpus.mutate``) is how a feed changes between two runs.  With
``--no-validators`` it sends neither header and never answers 304: a server that makes
the client recognise an unchanged body by itself.

Tuned as FIELD-NOTES says: TCP_NODELAY (or keep-alive responses wait ~40 ms), a deep
listen backlog as a class attribute (or 50 concurrent clients time out).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
}


class _Cache:
    """Files' bytes and validators, read again when a file's size or mtime changes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int], bytes, str, str]] = {}

    def get(self, path: str) -> tuple[bytes, str, str] | None:
        """(body, etag, last_modified) of the file at URL path ``path``, or None."""
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root):
            return None
        try:
            stat = file.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1:]
        try:
            body = file.read_bytes()
        except OSError:
            return None
        etag = f'"{hashlib.sha256(body).hexdigest()[:24]}"'
        modified = formatdate(stat.st_mtime, usegmt=True)
        with self._lock:
            self._files[path] = (stamp, body, etag, modified)
        return body, etag, modified


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a class attribute: the listen backlog is set in __init__

    def __init__(self, address: tuple[str, int], cache: _Cache, validators: bool) -> None:
        self.cache = cache
        self.validators = validators
        self.served = 0
        self.not_modified = 0
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client went away
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        found = self.server.cache.get(path)
        if found is None:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"})
            return
        body, etag, modified = found
        headers = {"Content-Type": CONTENT_TYPES.get(Path(path).suffix, "application/xml")}
        if self.server.validators:
            headers |= {"ETag": etag, "Last-Modified": modified}
            if _not_modified(self.headers, etag, modified):
                self.server.not_modified += 1
                self._send(304, b"", {"ETag": etag, "Last-Modified": modified})
                return
        self.server.served += 1
        self._send(200, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)


def _not_modified(headers: Any, etag: str, modified: str) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = headers.get("If-Modified-Since")
    if since:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _watch_parent(server: _Server, deadline: float) -> None:
    """Stop serving when the parent process goes away or the deadline passes."""
    parent = os.getppid()
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__)
    parser.add_argument("root", type=Path, help="folder to serve")
    parser.add_argument("--no-validators", action="store_true", help="no ETag, no 304")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop after this")
    args = parser.parse_args(argv)
    server = _Server(("127.0.0.1", 0), _Cache(args.root), validators=not args.no_validators)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    watcher = threading.Thread(
        target=_watch_parent, args=(server, time.monotonic() + args.max_seconds), daemon=True
    )
    watcher.start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    print(f"served {server.served}, not modified {server.not_modified}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
