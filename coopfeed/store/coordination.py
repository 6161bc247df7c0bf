"""How several nodes on one database share the work: leases and the output version.

The same SQL serves SQLite (one machine, where it costs a few statements) and PostgreSQL
(several ``coopfeed serve`` nodes, DESIGN 8):

- a **lease** is a row of ``leases`` per thing to do (a source): :func:`claim` sets its
  holder and expiry in one conditional UPDATE, which succeeds only when the row is free
  (expired, or already this holder's).  Both databases run that UPDATE atomically: under
  PostgreSQL a second node's UPDATE waits for the first one's row lock and then finds the
  row taken.  Expiry is by the database's clock, so nodes' clocks need not agree, and a
  node that dies holding a lease holds it only until it expires;
- the **output version** in ``meta`` changes each time a node publishes: the other nodes
  poll it (:func:`output_version`) and then render their own copy of the files from the
  store, with the same ``now`` the publishing node used, so every node serves the same
  bytes.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from coopfeed.store import Store
from coopfeed.store.schema import leases, meta

#: The ``meta`` key of the output version.
OUTPUT_VERSION = "output_version"


def node_name() -> str:
    """A name for this process among the nodes: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def holder_pid(holder: str) -> int | None:
    """The process id in a name made by :func:`node_name` (None for another form)."""
    parts = holder.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


# -- leases --------------------------------------------------------------------------


def claim(store: Store, name: str, holder: str, seconds: float) -> bool:
    """Take (or extend) the lease ``name`` for ``seconds``; False when another holder's
    lease on it has not expired."""
    with store._connect() as c:
        _insert_missing(c, leases, {"name": name, "holder": "", "expires": 0.0})
        clock = _clock(c)
        done = c.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.expires < clock, leases.c.holder == holder))
            .values(holder=holder, expires=clock + seconds)
        )
        return done.rowcount == 1


def release(store: Store, name: str, holder: str) -> None:
    """Give the lease back at once (nothing happens when ``holder`` lost it meanwhile)."""
    with store._connect() as c:
        c.execute(
            update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(holder="", expires=0.0)
        )


def lease_holders(store: Store) -> dict[str, tuple[str, float]]:
    """Every lease not expired: name -> (holder, seconds left)."""
    with store._connect() as c:
        clock = _clock(c)
        query = select(leases.c.name, leases.c.holder, leases.c.expires - clock).where(
            leases.c.expires >= clock
        )
        return {name: (holder, float(left)) for name, holder, left in c.execute(query)}


def _clock(c: Connection) -> ColumnElement[Any]:
    """The database's time, seconds since the epoch (with fractions), as SQL."""
    if c.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return (func.julianday("now") - 2440587.5) * 86400.0


def _insert_missing(c: Connection, table: Any, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, in the database's own words."""
    dialect = postgresql if c.dialect.name == "postgresql" else sqlite
    c.execute(dialect.insert(table).values(values).on_conflict_do_nothing())


# -- the output version ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputVersion:
    """One publish: ``tag`` tells it from every other, ``now`` is the time it used."""

    tag: str
    now: datetime


def output_version(store: Store) -> OutputVersion | None:
    """The last publish's version; None before the first."""
    with store._connect() as c:
        value = c.execute(select(meta.c.value).where(meta.c.key == OUTPUT_VERSION)).scalar()
    if value is None:
        return None
    data = json.loads(value)
    return OutputVersion(value, datetime.fromisoformat(data["now"]))


def new_output_version(store: Store, now: datetime) -> OutputVersion:
    """Record that a node just published with ``now``; returns the new version."""
    with store._connect() as c:
        serial = 0
        old = c.execute(select(meta.c.value).where(meta.c.key == OUTPUT_VERSION)).scalar()
        if old is not None:
            serial = int(json.loads(old).get("serial", 0))
        value = json.dumps(
            {"serial": serial + 1, "now": now.isoformat(), "by": secrets.token_hex(4)}
        )
        _insert_missing(c, meta, {"key": OUTPUT_VERSION, "value": value})
        c.execute(update(meta).where(meta.c.key == OUTPUT_VERSION).values(value=value))
    return OutputVersion(value, now)


__all__ = [
    "OutputVersion",
    "claim",
    "holder_pid",
    "lease_holders",
    "new_output_version",
    "node_name",
    "output_version",
    "release",
]
