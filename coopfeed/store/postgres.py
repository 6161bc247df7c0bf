"""What only PostgreSQL needs: a ``postgresql://`` URL in, a SQLAlchemy engine (psycopg 3)
out, and the store's lock as a session-level advisory lock.

Several ``coopfeed serve`` nodes share one PostgreSQL database (DESIGN 8).  The store's
lock, which a single machine takes as a file lock, is here ``pg_advisory_lock`` on a
connection of its own: held by one session of the whole cluster at a time, and released
by the server when that session ends, also when its process is killed.  Sessions ask
the server for TCP keepalives, so even a node whose machine vanished without closing its
connections loses its lock within :data:`KEEPALIVE_SECONDS` or so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from coopfeed.exceptions import LockError, StoreError

log = logging.getLogger(__name__)

#: URL schemes taken for PostgreSQL; each is opened with the psycopg (3) driver.
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
#: The advisory lock that is the store's lock ("coopfeed" in ASCII).
STORE_LOCK = 0x636F6F70_66656564
#: Seconds to wait for a connection to the server.
CONNECT_TIMEOUT = 10
#: The server drops a session whose client stopped answering after about this long
#: (idle 10 s, then 3 probes 5 s apart), which releases its advisory locks.
KEEPALIVE_SECONDS = 25
_SESSION_OPTIONS = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
    " -c application_name=coopfeed"
)


def is_postgres_url(database: str) -> bool:
    return database.partition("://")[0].lower() in SCHEMES


def engine_for(database: str) -> tuple[Engine, str]:
    """The engine of a ``postgresql://`` URL, and the URL to name it by (no password).

    Raises StoreError for a URL that is not PostgreSQL's or does not parse.
    """
    try:
        url = make_url(database)
    except ArgumentError:
        raise StoreError(f"database URL {_hidden(database)!r} does not parse") from None
    shown = url.render_as_string(hide_password=True)
    if url.drivername not in SCHEMES:
        raise StoreError(
            f"database {shown!r}: expected a SQLite path or a postgresql:// URL,"
            f" not {url.drivername}://"
        )
    url = url.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT, "options": _SESSION_OPTIONS},
        )
    except ImportError:
        raise StoreError(
            f"database {shown!r}: PostgreSQL needs the psycopg package"
            " (pip install 'psycopg[binary]')"
        ) from None
    return engine, shown


def _hidden(database: str) -> str:
    """A URL that did not parse, with whatever stands before an ``@`` hidden."""
    scheme, sep, rest = database.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest


@contextmanager
def advisory_lock(engine: Engine, name: str, wait: float) -> Iterator[None]:
    """Hold the store's advisory lock, waiting up to ``wait`` s for it (LockError after).

    The lock lives on a connection of its own, kept out of any transaction while held.
    """
    try:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except DBAPIError as e:
        raise StoreError(f"database {name}: {e.orig or e}") from e
    try:
        _acquire(connection, name, wait)
        try:
            yield
        finally:
            _release(connection, name)
    finally:
        connection.close()


def _acquire(connection: Connection, name: str, wait: float) -> None:
    try:
        if wait <= 0:
            taken = connection.execute(select(func.pg_try_advisory_lock(STORE_LOCK))).scalar()
        else:
            taken = _wait_for_lock(connection, wait)
    except DBAPIError as e:
        raise StoreError(f"database {name}: {e.orig or e}") from e
    if not taken:
        raise LockError(
            f"another coopfeed process holds the lock of database {name}"
            + (f" (waited {wait:g} s)" if wait > 0 else "")
        )


def _wait_for_lock(connection: Connection, wait: float) -> bool:
    """Queue for the lock in the server (first come, first served) for ``wait`` s."""
    connection.execute(text(f"SET lock_timeout = {max(1, round(wait * 1000))}"))
    try:
        connection.execute(select(func.pg_advisory_lock(STORE_LOCK)))
        return True
    except OperationalError as e:
        if _sqlstate(e) == "55P03":  # lock_not_available: the wait is over
            return False
        raise
    finally:
        connection.execute(text("SET lock_timeout = 0"))


def _release(connection: Connection, name: str) -> None:
    """Give the lock back; a connection that broke meanwhile lost it already."""
    try:
        connection.execute(select(func.pg_advisory_unlock(STORE_LOCK)))
    except DBAPIError as e:
        log.warning("database %s: could not release the lock (%s); dropping the session", name, e)
        connection.invalidate()


def _sqlstate(error: DBAPIError) -> str | None:
    original: Any = error.orig
    return getattr(original, "sqlstate", None)


__all__ = ["STORE_LOCK", "advisory_lock", "engine_for", "is_postgres_url"]
