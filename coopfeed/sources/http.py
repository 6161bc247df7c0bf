"""Fetching: FetchRequests (http(s) URLs, file URLs, paths) go in, FetchResponses come out.

A response carries the decoded body bytes, or ``not_modified``, or a one-line ``error``; it
never raises for a source's problem.  :func:`fetch_many` fetches concurrently through
``httpx.AsyncClient`` (HTTP/1.1, one kept-alive connection per slot of the global limit),
a global and a per-host limit, a connect/read timeout *and* a total deadline per request
(redirects and body included), conditional GET, at most ``max_redirects`` redirects, and
a cap on the decompressed body (a gzip bomb stops at the cap with bounded memory).  Nothing
is parsed here, and nothing but the configured ``file://`` URLs and paths is read from
disk.  A :class:`FetchSession` keeps the loop and its connections from one call to the
next.

Decisions:

- Validators: a 200 stores the response's ETag/Last-Modified (None when it sends none); a
  304 keeps the request's unless it sends new ones; an error keeps the request's.
- ``headers`` describe the decoded body: ``content-encoding`` and ``content-length`` are
  dropped once the body has been decoded.
- Local files get a validator of their own (an ETag from mtime and size), so an unchanged
  file is ``not_modified`` too.
- The deadline starts once the request holds its concurrency slots: waiting for a slot
  does not count.  The per-host slot is taken for the first URL's host.
- Bytes after the end of a gzip/deflate stream are ignored (as browsers and httpx do).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import socket
import ssl
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol, Self
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from coopfeed.workers import default_processes

__all__ = [
    "FetchRequest",
    "FetchResponse",
    "FetchSession",
    "FetchSettings",
    "backoff_delay",
    "fetch_all",
    "fetch_many",
]

#: Decoding works in steps of this many bytes, in and out.
_CHUNK = 64 * 1024
_MIB = 2**20
#: How long to wait for the unwanted rest of a response to keep its connection (see _discard).
_DISCARD_SECONDS = 1.0
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
#: Headers that describe the bytes on the wire, not the decoded body we hand on.
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def _default_user_agent() -> str:
    from coopfeed import __version__  # late: coopfeed/__init__ may grow to import us

    return f"coopfeed/{__version__} (+https://github.com/coopfeed/coopfeed)"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How to fetch: timeouts (seconds), caps and concurrency limits."""

    timeout: float = 10.0  # connect/read timeout, seconds
    deadline: float = 30.0  # total per request incl. redirects and body, seconds
    max_body_size: int = 20 * _MIB  # cap on DECOMPRESSED bytes
    max_redirects: int = 5
    concurrency: int = 10  # global
    per_host: int = 2  # per host
    user_agent: str = field(default_factory=_default_user_agent)
    #: Worker processes that parse fetched feeds when a run brings many (0: parse in
    #: coopfeed's own process).  Not about fetching, but set in the same table.
    processes: int = field(default_factory=default_processes)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One source to fetch, with the validators stored from its last fetch.

    ``url`` is an http(s) URL, a ``file://`` URL, or a plain path (absolute, or relative
    to ``base_dir``).
    """

    source: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What fetching one source gave: a body, ``not_modified``, or a one-line ``error``.

    ``url`` is the final URL after redirects (or the file's path); ``status`` is the last
    HTTP status received, None for files and when no response arrived; ``headers`` (those
    of that response) have lower-cased names.  ``etag`` and
    ``last_modified`` are the validators to store for next time.  ``retry_after`` (on 429
    and 503) and ``max_age`` are seconds.
    """

    source: str
    url: str
    status: int | None
    body: bytes | None
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    error: str | None = None
    retry_after: float | None = None
    max_age: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def backoff_delay(failures: int, base: float, ceiling: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures: ``base * 2**(failures-1)``,
    capped at ``ceiling``; 0 for no failures."""
    if failures < 1:
        return 0.0
    return min(ceiling, base * 2.0 ** min(failures - 1, 1000))


def fetch_all(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    *,
    base_dir: Path,
    now: datetime,
    session: FetchSession | None = None,
) -> list[FetchResponse]:
    """Fetch every request (see :func:`fetch_many`); one response per request, in order.
    With a ``session``, in its event loop and over the connections its earlier calls left
    open."""
    if session is not None:
        return session.fetch_all(requests, settings, base_dir=base_dir, now=now)
    return asyncio.run(fetch_many(requests, settings, base_dir=base_dir, now=now))


async def fetch_many(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    *,
    base_dir: Path,
    now: datetime,
    clients: _Clients | None = None,
) -> list[FetchResponse]:
    """Fetch every request concurrently; one response per request, in order.

    ``now`` is used only to turn a Retry-After HTTP-date into seconds.  ``clients`` (made
    for the same settings, in this event loop) are left open for the next call; without
    them, clients are made and closed here.
    """
    own = clients is None
    clients = clients or _Clients(settings)
    fetcher = _Fetcher(clients, settings, base_dir, now)
    try:
        return list(await asyncio.gather(*(fetcher.fetch(request) for request in requests)))
    finally:
        if own:
            await clients.aclose()


class FetchSession:
    """One event loop, and the connections it keeps alive, for several :func:`fetch_all`
    calls: a run that fetches its sources a chunk at a time starts one loop and opens
    each connection once, not once per chunk.  A context manager; close it in the thread
    that made it."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._clients: _Clients | None = None

    def fetch_all(
        self,
        requests: Sequence[FetchRequest],
        settings: FetchSettings,
        *,
        base_dir: Path,
        now: datetime,
    ) -> list[FetchResponse]:
        clients = self._clients_for(settings)
        fetching = fetch_many(requests, settings, base_dir=base_dir, now=now, clients=clients)
        return self._runner.run(fetching)

    def _clients_for(self, settings: FetchSettings) -> _Clients:
        """The session's clients, made anew for other settings (a reloaded configuration)."""
        if self._clients is not None and self._clients.settings != settings:
            self._runner.run(self._clients.aclose())
            self._clients = None
        if self._clients is None:
            self._clients = _Clients(settings)
        return self._clients

    def close(self) -> None:
        try:
            if self._clients is not None:
                self._runner.run(self._clients.aclose())
                self._clients = None
        finally:
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Clients:
    """One httpx client of one connection per slot of ``settings.concurrency``, each
    kept with the host it reached last.  One pool of ``concurrency`` connections would
    do, but httpcore's pool checks every connection it holds (is its socket readable?)
    each time a request starts or ends: a pool of ten costs twice the CPU per request of
    ten pools of one."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._make = functools.partial(
            httpx.AsyncClient,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": ", ".join(_ENCODINGS),
            },
            verify=_tls_context(),
            timeout=httpx.Timeout(settings.timeout, pool=None),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
        )
        self.made: list[httpx.AsyncClient] = []  # every client made, to close at the end
        self.idle: list[tuple[str, httpx.AsyncClient]] = []  # (host it last reached, client)
        self.used: set[httpx.AsyncClient] = set()  # the ones that may hold a connection

    def take(self, host: str) -> httpx.AsyncClient:
        """An idle client, the one last used for ``host`` if any (its connection may still
        be open), else the one freed last, else a new one.  The caller holds a slot, so
        there are never more clients than slots."""
        for index in range(len(self.idle) - 1, -1, -1):
            if self.idle[index][0] == host:
                return self.idle.pop(index)[1]
        if self.idle:
            return self.idle.pop()[1]
        client = self._make()
        self.made.append(client)
        return client

    def give_back(self, host: str, client: httpx.AsyncClient) -> None:
        self.idle.append((host, client))
        self.used.add(client)

    async def aclose(self) -> None:
        for client in self.made:
            await client.aclose()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: loading the CA bundle costs
    tens of milliseconds of CPU (far more with threads at it at once under OpenSSL 3),
    which ``coopfeed serve`` would otherwise pay on every fetch of every source."""
    return httpx.create_ssl_context()


class _Failure(Exception):
    """A one-line reason why one source failed, raised and caught inside this module."""


@dataclass(slots=True)
class _Progress:
    """How far one HTTP fetch got: the URLs reached, the last status and headers received."""

    urls: list[str]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Fetcher:
    def __init__(
        self, clients: _Clients, settings: FetchSettings, base_dir: Path, now: datetime
    ) -> None:
        self.clients = clients
        self.settings = settings
        self.base_dir = base_dir
        self.now = now
        self.slots = asyncio.Semaphore(max(1, settings.concurrency))
        self.host_slots: dict[str, asyncio.Semaphore] = {}

    async def fetch(self, request: FetchRequest) -> FetchResponse:
        try:
            scheme = urlsplit(request.url).scheme.lower()
        except ValueError as exc:
            return _failed(request, request.url, f"invalid URL: {_one_line(exc)}")
        if scheme in ("http", "https"):
            return await self._fetch_http(request)
        if scheme == "file" or len(scheme) <= 1:  # "" is a path, "c" a Windows drive
            return await self._fetch_file(request)
        return _failed(request, request.url, f"unsupported URL scheme {scheme!r}")

    # -- HTTP --------------------------------------------------------------------------

    async def _fetch_http(self, request: FetchRequest) -> FetchResponse:
        host = (urlsplit(request.url).hostname or "").lower()
        per_host = self.host_slots.setdefault(
            host, asyncio.Semaphore(max(1, self.settings.per_host))
        )
        progress = _Progress([request.url])
        async with self.slots, per_host:
            client = self.clients.take(host)
            kept = client in self.clients.used  # it may send on a kept-alive connection
            try:
                async with asyncio.timeout(self.settings.deadline):
                    return await self._follow(client, kept, request, progress)
            except TimeoutError:
                reason = f"timed out after {self.settings.deadline:g} s (deadline)"
            except _Failure as failure:
                reason = str(failure)
            except (httpx.HTTPError, httpx.InvalidURL, OSError, zlib.error, ValueError) as exc:
                reason = _describe(exc, self.settings)
            finally:
                self.clients.give_back(host, client)
            return _failed(request, progress.urls[-1], reason, progress.status, progress.headers)

    async def _follow(
        self, client: httpx.AsyncClient, kept: bool, request: FetchRequest, progress: _Progress
    ) -> FetchResponse:
        """GET the URL, following at most ``max_redirects`` redirects, noting in
        ``progress`` each URL reached and the last status received."""
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        outgoing = client.build_request("GET", request.url, headers=headers)
        while True:
            response = await _send(client, outgoing, kept)
            kept = True
            progress.status = response.status_code
            progress.headers = dict(response.headers.items())
            try:
                if response.next_request is None:
                    return await self._finish(request, response)
                await _discard(response)
                outgoing = response.next_request
                if outgoing.url.scheme not in ("http", "https"):
                    raise _Failure(f"redirect to unsupported URL scheme {outgoing.url.scheme!r}")
                if len(progress.urls) > self.settings.max_redirects:
                    loop = "redirect loop: " if str(outgoing.url) in progress.urls else ""
                    raise _Failure(f"{loop}too many redirects ({self.settings.max_redirects})")
                progress.urls.append(str(outgoing.url))
            finally:
                await response.aclose()

    async def _finish(self, request: FetchRequest, response: httpx.Response) -> FetchResponse:
        status = response.status_code
        headers = dict(response.headers.items())
        result = FetchResponse(
            source=request.source,
            url=str(response.url),
            status=status,
            body=None,
            headers=headers,
            etag=request.etag,
            last_modified=request.last_modified,
            max_age=_max_age(response.headers),
        )
        if not 200 <= status < 300:
            await _discard(response)
        if status == 304:
            return replace(
                result,
                not_modified=True,
                etag=headers.get("etag") or request.etag,
                last_modified=headers.get("last-modified") or request.last_modified,
            )
        if not 200 <= status < 300:
            retry_after = None
            if status in (429, 503):
                retry_after = _retry_after(headers.get("retry-after"), self.now)
            return replace(result, error=_status_line(response), retry_after=retry_after)
        body = await self._read_body(response)
        for name in _WIRE_HEADERS:
            headers.pop(name, None)
        return replace(
            result,
            body=body,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        """The body, decoded, or a _Failure once it grows past the cap."""
        cap = self.settings.max_body_size
        encoding = response.headers.get("content-encoding", "")
        decoder = _decoder(encoding)
        too_large = f"body larger than {_size(cap)}" + (" (decompressed)" if decoder else "")
        if decoder is None and _content_length(response) > cap:
            raise _Failure(too_large)
        body = bytearray()
        async for raw in response.aiter_raw(_CHUNK):
            if not _extend(body, decoder.decode(raw) if decoder else (raw,), cap):
                raise _Failure(too_large)
        if decoder and not _extend(body, decoder.decode(b""), cap):
            raise _Failure(too_large)
        return bytes(body)

    # -- files -------------------------------------------------------------------------

    async def _fetch_file(self, request: FetchRequest) -> FetchResponse:
        try:
            path = _local_path(request.url, self.base_dir)
        except _Failure as failure:
            return _failed(request, request.url, str(failure))
        try:
            return await asyncio.to_thread(self._read_file, request, path)
        except _Failure as failure:
            return _failed(request, str(path), str(failure))
        except OSError as exc:
            return _failed(request, str(path), f"cannot read {path}: {exc.strerror or exc}")

    def _read_file(self, request: FetchRequest, path: Path) -> FetchResponse:
        cap = self.settings.max_body_size
        with path.open("rb") as file:
            stat = os.fstat(file.fileno())
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            last_modified = formatdate(stat.st_mtime, usegmt=True)
            result = FetchResponse(request.source, str(path), None, None, {}, etag, last_modified)
            if request.etag == etag:
                return replace(result, not_modified=True)
            body = file.read(cap + 1)
        if len(body) > cap:
            raise _Failure(f"body larger than {_size(cap)}")
        return replace(result, body=body)


async def _send(client: httpx.AsyncClient, outgoing: httpx.Request, kept: bool) -> httpx.Response:
    """Send a GET.  A server may close a kept-alive connection just as a request goes out
    on it (its idle timeout), and answer nothing: then, if the connection may have been a
    kept one, the GET (idempotent) is sent once more, on a new connection."""
    try:
        return await client.send(outgoing, stream=True)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        if not kept:
            raise
    return await client.send(outgoing, stream=True)


async def _discard(response: httpx.Response) -> None:
    """Read the rest of a response whose body is not wanted (a 304, a redirect, an error
    page), so that its connection goes back to the pool: one closed unread is closed for
    good, and the next request pays for a new TCP (and TLS) handshake.  A rest longer than
    _CHUNK bytes, or slower than _DISCARD_SECONDS, is not worth waiting for: the connection
    is closed as before."""
    received = 0
    try:
        async with asyncio.timeout(_DISCARD_SECONDS):
            async for raw in response.aiter_raw():
                received += len(raw)
                if received > _CHUNK:
                    return
    except (TimeoutError, httpx.HTTPError):
        return


# -- decoding ----------------------------------------------------------------------------


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data`` (b"" at the end) in chunks of about _CHUNK bytes at most."""
        ...


class _Inflate:
    """gzip, or deflate with a zlib header or (as some servers send it) raw."""

    def __init__(self, raw_fallback: bool) -> None:
        self._zlib: Any = None if raw_fallback else zlib.decompressobj(32 + zlib.MAX_WBITS)
        self._head = b""  # deflate: the first bytes, until they tell zlib from raw

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            self._head += data
            if data and len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._zlib = zlib.decompressobj(_deflate_wbits(data))
        pending = True  # output may be waiting inside zlib even with no input left
        while not self._zlib.eof and (data or pending):
            out: bytes = self._zlib.decompress(data, _CHUNK)
            data = self._zlib.unconsumed_tail
            pending = len(out) == _CHUNK
            if out:
                yield out


def _deflate_wbits(head: bytes) -> int:
    """zlib's wbits for a deflate body starting with ``head``: zlib-wrapped, else raw."""
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


class _Brotli:
    """br, through the brotli package's ``process(data, output_buffer_limit)`` (brotli 1.2+);
    its steps may overshoot the limit by half, still bounded."""

    def __init__(self) -> None:
        self._brotli: Any = _brotli_module().Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        # Output may wait inside the decoder even when it says it can take more input:
        # drain it until a step gives nothing.
        out: bytes = self._brotli.process(data, output_buffer_limit=_CHUNK)
        while out:
            yield out
            if self._brotli.is_finished():
                return
            out = self._brotli.process(b"", output_buffer_limit=_CHUNK)


def _brotli_module() -> Any:
    """The brotli module if it is installed and can decode in bounded steps, else None."""
    try:
        brotli = importlib.import_module("brotli")
        brotli.Decompressor().process(b"", output_buffer_limit=1)
        brotli.Decompressor().can_accept_more_data()
    except (ImportError, TypeError, AttributeError):
        return None
    return brotli


#: What we ask for in Accept-Encoding: what we can decode in bounded steps.
_ENCODINGS = ("gzip", "deflate", "br") if _brotli_module() is not None else ("gzip", "deflate")


def _decoder(content_encoding: str) -> _Decoder | None:
    """A decoder for a Content-Encoding value, None for identity, a _Failure otherwise."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if len(codings) > 1 or coding not in _ENCODINGS:
        raise _Failure(f"unsupported content-encoding {content_encoding.strip()!r}")
    if coding == "br":
        return _Brotli()
    return _Inflate(raw_fallback=coding == "deflate")


# -- helpers -----------------------------------------------------------------------------


def _extend(body: bytearray, chunks: Iterable[bytes], cap: int) -> bool:
    """Append chunks to body while it stays within cap; False as soon as it does not."""
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            return False
    return True


def _failed(
    request: FetchRequest,
    url: str,
    reason: str,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> FetchResponse:
    """A failed fetch: no body, the request's validators kept for next time."""
    return FetchResponse(
        source=request.source,
        url=url,
        status=status,
        body=None,
        headers=headers or {},
        etag=request.etag,
        last_modified=request.last_modified,
        error=reason,
    )


def _local_path(url: str, base_dir: Path) -> Path:
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise _Failure(f"file URL with a host is not supported: {url}")
        return Path(url2pathname(parts.path))
    return base_dir / url


def _status_line(response: httpx.Response) -> str:
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = _one_line(response.reason_phrase)
    return f"HTTP {response.status_code} {phrase}".rstrip()


def _content_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length", "0"))
    except ValueError:
        return 0


def _size(n: int) -> str:
    if n % _MIB == 0:
        return f"{n // _MIB} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _max_age(headers: httpx.Headers) -> float | None:
    """Seconds the response stays fresh: Cache-Control max-age (or s-maxage), else Expires
    minus Date; None if unsaid, or no-cache/no-store.  An unreadable Expires is 0."""
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.partition("=")
        directives.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-store" in directives or "no-cache" in directives:
        return None
    for name in ("max-age", "s-maxage"):
        if directives.get(name, "").isdigit():
            return float(directives[name])
    if "expires" not in headers:
        return None
    expires = _http_date(headers["expires"])
    if expires is None:
        return 0.0
    date = _http_date(headers.get("date", ""))
    if date is None:
        return None
    return max(0.0, (expires - date).total_seconds())


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, through __cause__/__context__ and exception groups."""
    todo = [exc]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)


def _describe(exc: BaseException, settings: FetchSettings) -> str:
    """One line for an exception from httpx, zlib or the OS: the network's fault, told once."""
    timeout = f"{settings.timeout:g} s"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after {timeout}"
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timed out after {timeout}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout}"
    if isinstance(exc, zlib.error):
        return f"could not decode the body: {_one_line(exc)}"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host: {_one_line(cause.strerror or cause)}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {_one_line(cause.verify_message)}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {_one_line(cause.reason or cause)}"
    message = _one_line(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {message}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {message}"
    if isinstance(exc, httpx.InvalidURL):
        return f"invalid URL: {message}"
    if isinstance(exc, ValueError):
        return f"invalid request: {message}"
    return message
