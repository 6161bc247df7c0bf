"""A WebSub hub and the URLs of changed feed documents in, one publish ping per URL sent.

Each URL gets its own form-encoded ``POST hub.mode=publish&hub.url=<url>`` (the
PubSubHubbub 0.4 publish notification that hubs accept).  A ping that fails with a
connection error, a 5xx, 408 or 429 is retried with exponential backoff (a 429/503's
``Retry-After`` in seconds is honoured); a 4xx is not.  Everything, retries and pauses
included, happens within one total ``deadline``: pings run concurrently (a few at a time)
under an asyncio timeout, which also stops a hub that trickles its answer byte by byte,
which httpx's per-read timeout would not.  :func:`ping_hub` never raises: it returns one
line per URL that was not accepted, so the caller logs them and the run goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

import httpx

from coopfeed import __version__

USER_AGENT = f"coopfeed/{__version__} (+https://github.com/coopfeed/coopfeed)"
CONCURRENCY = 4
MAX_PAUSE = 30.0
_RETRY_STATUSES = frozenset({408, 429})


def ping_hub(
    hub: str,
    urls: Sequence[str],
    *,
    deadline: float = 10.0,
    retries: int = 3,
    user_agent: str = USER_AGENT,
    backoff: float = 0.5,
) -> list[str]:
    """Tell ``hub`` that each of ``urls`` changed; returns errors, one line each (empty: all
    pinged).

    A URL given twice is pinged once.  ``retries`` is the number of attempts after the
    first; the n-th retry waits ``backoff * 2 ** (n - 1)`` seconds (or the hub's
    Retry-After), never past the deadline.  Blocks for at most about ``deadline`` seconds;
    from inside a running event loop it runs the pings on a worker thread.
    """
    unique = list(dict.fromkeys(urls))
    if not hub or not unique:
        return []
    pings = _Pings(hub, deadline, max(retries, 0), user_agent, backoff)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(pings.send(unique))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="coopfeed-websub") as pool:
        return pool.submit(asyncio.run, pings.send(unique)).result()


class _Pings:
    def __init__(
        self, hub: str, deadline: float, retries: int, user_agent: str, backoff: float
    ) -> None:
        self.hub = hub
        self.deadline = deadline
        self.retries = retries
        self.user_agent = user_agent
        self.backoff = backoff

    async def send(self, urls: list[str]) -> list[str]:
        """Ping every URL concurrently; the errors in the order of ``urls``."""
        end = asyncio.get_running_loop().time() + self.deadline
        limit = asyncio.Semaphore(CONCURRENCY)
        timeout = httpx.Timeout(self.deadline)
        headers = {"User-Agent": self.user_agent}
        async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
            results = await asyncio.gather(*(self._ping(client, limit, url, end) for url in urls))
        return [error for error in results if error]

    async def _ping(
        self, client: httpx.AsyncClient, limit: asyncio.Semaphore, url: str, end: float
    ) -> str | None:
        """One URL, with its retries, before ``end``; None when the hub accepted it."""
        last = "no answer"
        attempts = 0
        try:
            async with asyncio.timeout_at(end):
                for attempt in range(self.retries + 1):
                    attempts = attempt + 1
                    async with limit:
                        status, retry_after, last = await self._post(client, url)
                    if status is not None and 200 <= status < 300:
                        return None
                    if status is not None and not _retryable(status):
                        break
                    if attempt < self.retries:
                        pause = retry_after if retry_after is not None else self._pause(attempt)
                        await asyncio.sleep(min(pause, MAX_PAUSE))
        except TimeoutError:
            return (
                f"{url}: hub {self.hub}: no success within {self.deadline:g} s"
                f" ({_attempts(attempts)}, last: {last})"
            )
        return f"{url}: hub {self.hub} {last} ({_attempts(attempts)})"

    async def _post(
        self, client: httpx.AsyncClient, url: str
    ) -> tuple[int | None, float | None, str]:
        """(status, Retry-After seconds or None, what happened in a few words); the status
        is None after a connection error (worth a retry), 0 for a hub URL httpx refuses."""
        form = {"hub.mode": "publish", "hub.url": url}
        try:
            # Only the status matters: the body is never read.
            async with client.stream("POST", self.hub, data=form) as response:
                status = response.status_code
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except httpx.InvalidURL as e:
            return 0, None, f"is not a URL to post to: {_reason(e)}"
        except httpx.HTTPError as e:
            return None, None, f"could not be reached: {_reason(e)}"
        return status, retry_after, f"answered HTTP {status} {response.reason_phrase}".rstrip()

    def _pause(self, attempt: int) -> float:
        return self.backoff * 2.0**attempt


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRY_STATUSES


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; an HTTP date (rare from hubs) is ignored."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _reason(error: Exception) -> str:
    """One line: the exception's message, or its class name when it has none."""
    message = " ".join(str(error).split())
    return message or type(error).__name__
