"""``coopfeed serve``: the published folder and the store's source states in, HTTP out,
with the scheduler of :mod:`coopfeed.schedule` running beside it in the same process.

The HTTP side is a Starlette app on uvicorn (no HTTP of our own):

- ``GET``/``HEAD`` of the files in ``output_dir``, with the Content-Type of each feed
  format (:data:`CONTENT_TYPES`), a weak ETag and Last-Modified, ``304 Not Modified`` on
  ``If-None-Match`` and ``If-Modified-Since``, gzip when ``Accept-Encoding`` allows it and
  ``Vary: Accept-Encoding`` always; ``/`` is ``index.html``;
- nothing outside ``output_dir``: ``..`` (also encoded), absolute paths, symlinks that
  point out, and hidden names (``.*``, such as the publisher's temporary files) are 404;
- ``/healthz``: JSON with the state of every configured source (:func:`health`).

The ETag is weak (``W/"..."``) because the same file goes out gzipped or not, and a strong
ETag would have to differ between the two (RFC 9110, 8.8.3); If-None-Match compares weakly.

SIGTERM and SIGINT stop the scheduler, close the HTTP listener, give work in flight until
:data:`STOP_TIMEOUT` seconds after the signal to finish and then abandon it (its store
transaction rolls back, its files are written atomically), close the store and exit 0.
SIGHUP reloads the configuration (see :meth:`coopfeed.schedule.Scheduler.reload_from_file`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coopfeed import __version__
from coopfeed.config import Config
from coopfeed.exceptions import PublishError, StoreError
from coopfeed.schedule import Scheduler
from coopfeed.store import SourceState, Store

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: Seconds from SIGTERM/SIGINT to exit, at most: in-flight work is abandoned after it.
STOP_TIMEOUT = 6.0
#: Seconds the HTTP side gives open responses to finish once stopping.
HTTP_GRACE = 2
GZIP_MINIMUM_SIZE = 500
CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


# -- the HTTP side ---------------------------------------------------------------------


class FeedFiles(StaticFiles):
    """Starlette's StaticFiles over the output folder, with the feed Content-Types, a weak
    ETag, and hidden names refused."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
        if "\x00" in path or any(part.startswith(".") for part in parts):
            return "", None  # NUL, "..", ".hidden", ".x.coopfeed-tmp"
        return super().lookup_path(path)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=CONTENT_TYPES.get(Path(full_path).suffix.lower()),
            headers={"etag": weak_etag(stat_result)},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response

    def is_not_modified(self, response_headers: Headers, request_headers: Headers) -> bool:
        """If-None-Match (weak comparison) decides when present, else If-Modified-Since."""
        if_none_match = request_headers.get("if-none-match")
        if if_none_match is None:
            return _not_modified_since(request_headers, response_headers)
        if if_none_match.strip() == "*":
            return True
        etag = _opaque_tag(response_headers["etag"])
        return etag in {_opaque_tag(tag) for tag in if_none_match.split(",")}


def weak_etag(stat_result: os.stat_result) -> str:
    """A file's ETag: changes when the publisher replaces it (new inode, mtime or size)."""
    key = f"{stat_result.st_ino}-{stat_result.st_mtime_ns}-{stat_result.st_size}"
    return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def _opaque_tag(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _not_modified_since(request_headers: Headers, response_headers: Headers) -> bool:
    since = parsedate(request_headers.get("if-modified-since", ""))
    modified = parsedate(response_headers.get("last-modified", ""))
    return since is not None and modified is not None and since >= modified


class VaryAcceptEncoding:
    """ASGI middleware: every response says ``Vary: Accept-Encoding`` (once), since any
    file may go out gzipped, so a cache never hands gzip to a client that did not ask."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                vary = {v.strip().lower() for h in headers.getlist("vary") for v in h.split(",")}
                if "accept-encoding" not in vary:
                    headers.add_vary_header("Accept-Encoding")
            await send(message)

        await self.app(scope, receive, send_with_vary)


def create_app(
    output_dir: Path, health_report: Callable[[], tuple[int, dict[str, Any]]]
) -> Starlette:
    """The ASGI app: ``/healthz`` answers ``health_report()`` (status code, JSON body);
    everything else is a file of ``output_dir``."""

    def healthz(request: Request) -> Response:  # sync: Starlette runs it in a thread
        status, body = health_report()
        return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Mount("/", app=FeedFiles(directory=output_dir, html=True, check_dir=False)),
        ],
        middleware=[
            Middleware(VaryAcceptEncoding),
            Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=6),
        ],
    )


def health(
    config: Config,
    states: Mapping[str, SourceState],
    next_runs: Mapping[str, datetime | None],
    *,
    stopping: bool = False,
) -> dict[str, Any]:
    """The ``/healthz`` body: the service's status and, per configured source, its last
    fetch, status, failures, last error, next due time (from the store: what the pipeline
    decided) and next run (from the scheduler).  Times are ISO 8601 in UTC, or null."""
    sources = []
    for source in config.sources:
        state = states.get(source.name) or SourceState(source.name)
        sources.append(
            {
                "name": source.name,
                "type": source.type,
                "last_fetch": _iso(state.last_fetch),
                "last_success": _iso(state.last_success),
                "status": state.last_status or "never fetched",
                "failures": state.failures,
                "last_error": state.last_error,
                "items_seen": state.items_seen,
                "next_due": _iso(state.next_due),
                "next_run": _iso(next_runs.get(source.name)),
            }
        )
    return {
        "status": "stopping" if stopping else "ok",
        "version": __version__,
        "sources": sources,
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- logging -----------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the
    traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _route_library_logs() -> None:
    """Send uvicorn's and APScheduler's records to coopfeed's handlers (set up by the
    CLI), at coopfeed's level; APScheduler's per-run chatter only when debugging."""
    ours = logging.getLogger("coopfeed")
    level = ours.getEffectiveLevel()
    for name, floor in [("uvicorn", logging.NOTSET), ("apscheduler", logging.WARNING)]:
        logger = logging.getLogger(name)
        logger.handlers[:] = ours.handlers
        logger.setLevel(level if level <= logging.DEBUG else max(level, floor))
        logger.propagate = False


# -- the command -------------------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``coopfeed serve``."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 or :: for every one)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port to listen on (default {DEFAULT_PORT})",
    )


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    """Serve ``config.output_dir`` over HTTP and run the scheduler until SIGTERM/SIGINT.

    Returns 0 after a clean stop, 1 when the address cannot be bound.  Raises
    StoreError/PublishError when the store or the output folder cannot be opened.
    """
    _route_library_logs()
    try:
        config.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PublishError(f"cannot create folder {config.output_dir}: {e.strerror}") from None
    store = Store.open(config.database)
    scheduler = Scheduler(config, store)
    server = _Server(
        uvicorn.Config(
            create_app(config.output_dir, lambda: _health_report(scheduler, store)),
            host=args.host,
            port=args.port,
            log_config=None,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=HTTP_GRACE,
        ),
        on_exit=scheduler.request_stop,
    )
    try:
        sock = server.config.bind_socket()
    except SystemExit:  # uvicorn has logged why
        store.close()
        log.error("cannot listen on %s port %d", args.host, args.port)
        return 1
    code = 0
    try:
        with _signal_handlers(server, scheduler):
            scheduler.start()
            log.info("serving %s on http://%s:%d/", config.output_dir, args.host, args.port)
            server.run(sockets=[sock])
    except BaseException:
        code = 1
        raise
    finally:
        sock.close()
        since_signal = time.monotonic() - (server.exit_requested or time.monotonic())
        if not scheduler.stop(timeout=max(STOP_TIMEOUT - since_signal, 0.0)):
            _abandon(scheduler.in_flight(), code)
        store.close()
    log.info("stopped")
    return 0


def _health_report(scheduler: Scheduler, store: Store) -> tuple[int, dict[str, Any]]:
    try:
        states = store.source_states()
    except StoreError as e:
        return 503, {"status": "error", "error": str(e)}
    body = health(scheduler.config, states, scheduler.next_runs(), stopping=scheduler.stopping)
    return (503 if scheduler.stopping else 200), body


def _abandon(work: list[str], code: int) -> None:
    """Exit with ``code`` now, leaving ``work`` unfinished in its threads: a store
    transaction that did not commit rolls back, files are replaced atomically (or not at
    all), the lock file is released by the OS, and the next run fetches again."""
    log.warning(
        "stopping without waiting longer for: %s (it will be done on the next run)",
        ", ".join(work),
    )
    logging.shutdown()
    os._exit(code)


class _Server(uvicorn.Server):
    """uvicorn's server that also tells the scheduler to stop as soon as a stop signal
    arrives (uvicorn then closes its listener and finishes open responses)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        #: time.monotonic() of the first stop signal
        self.exit_requested: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.exit_requested is None:
            self.exit_requested = time.monotonic()
            log.info("stopping (signal %d)", sig)
        self._on_exit()
        super().handle_exit(sig, frame)


@contextmanager
def _signal_handlers(server: _Server, scheduler: Scheduler) -> Iterator[None]:
    """SIGTERM/SIGINT stop the server and the scheduler, also before uvicorn installs its
    own handlers (which call the same method) and after it restores these; SIGHUP reloads
    the configuration in a thread of its own."""

    def reload(sig: int, frame: FrameType | None) -> None:
        threading.Thread(
            target=scheduler.reload_from_file, name="coopfeed-reload", daemon=True
        ).start()

    wanted: dict[int, Callable[[int, FrameType | None], None]] = {
        signal.SIGTERM: server.handle_exit,
        signal.SIGINT: server.handle_exit,
    }
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = reload
    before = {number: signal.signal(number, handler) for number, handler in wanted.items()}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
