"""The store's tables (SQLAlchemy Core, one schema for SQLite and PostgreSQL) and
their migrations, numbered from 1; ``meta.schema_version`` says which ran."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    RowMapping,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# PostgreSQL's b-tree indexes refuse an entry over about 2.7 kB, and a guid, key or
# title from a feed may be longer.  So where SQLite has a unique key on such a column,
# PostgreSQL has a unique index on the column's MD5 (its one built-in immutable digest
# of text; only values made to collide, both by whoever writes one feed, could clash)
# and a hash index to look values up; equality-only indexes are hash indexes there.
_PG = "postgresql"


# Dates are whole seconds since the epoch, UTC: the same in every database.
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guid", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("title_key", Text, nullable=False),
    Column("link", Text),
    Column("link_key", Text),
    Column("anchor", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("categories", Text, nullable=False),  # JSON array of canonical titles
    Column("authors", Text, nullable=False, default="[]"),  # JSON array
    Column("source", String(100), nullable=False),  # the source that first stored it
    Column("published", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("removed", BigInteger),  # when the operator removed it (a tombstone)
    # A digest of every column a publish shows (see store.content_digest): a publish
    # compares it, not the text, to know which files an item's change reaches.
    Column("digest", BigInteger, nullable=False, default=0, server_default=text("0")),
    # A digest of the title, summary and link the item's own source last sent (see
    # store.own_digest): what tells that source's edit from its unchanged copy of an item
    # that another source's longer summary filled in.  NULL: not known (stored before).
    Column("own_digest", BigInteger),
    # The change sequence number (meta's "change_sequence") of the last transaction that
    # inserted the item or changed what a publish reads of it: a publish asks which
    # items changed since the number it last saw (0: not since schema 7).
    Column("changed", BigInteger, nullable=False, default=0, server_default=text("0")),
    UniqueConstraint("guid").ddl_if(dialect="sqlite"),
    Index("items_guid_md5", text("md5(guid)"), unique=True).ddl_if(dialect=_PG),
    Index("items_guid", "guid", postgresql_using="hash").ddl_if(dialect=_PG),
    Index("items_link_key", "link_key", postgresql_using="hash"),
    Index("items_title_key", "title_key", postgresql_using="hash"),
    Index("items_published", "published"),
    Index("items_changed", "changed"),
    # Covers the title searches of store.matching (a PostgreSQL btree could not hold a
    # 1,000-character title's key; there the heap is read).
    Index("items_published_title", "published", "title_key").ddl_if(dialect="sqlite"),
)

# Near-duplicate matching's signatures of each item's title key (store.matching): a row
# per part its trigrams are dealt into, for the similarity threshold and up to the item
# that meta's "title_parts" row names (no such row: not filed yet).  A search looks up
# its own parts' signatures within its date window, instead of reading every title
# there.  Title keys and dates never change, so rows are only ever added.
title_parts = Table(
    "title_parts",
    metadata,
    Column("signature", BigInteger, nullable=False),
    Column("published", BigInteger, nullable=False),
    Column("item_id", Integer, nullable=False),
    PrimaryKeyConstraint("signature", "published", "item_id"),
    sqlite_with_rowid=False,
)

item_sources = Table(
    "item_sources",
    metadata,
    Column("source", String(100), nullable=False),
    Column("key", Text, nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "key").ddl_if(dialect="sqlite"),
    Index("item_sources_key_md5", text("source, md5(key)"), unique=True).ddl_if(dialect=_PG),
    Index("item_sources_key", "key", postgresql_using="hash").ddl_if(dialect=_PG),
    Index("item_sources_item", "item_id"),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", Text),
    Column("last_fetch", BigInteger),
    Column("last_success", BigInteger),
    Column("last_status", Text),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_due", BigInteger),
    Column("items_seen", Integer, nullable=False, default=0),
)

# RFC 5005 archive documents: once a page of a feed is full its members are fixed
# here, so an item that arrives late with an old date never changes a full page.
archive_pages = Table(
    "archive_pages",
    metadata,
    Column("feed", String(100), primary_key=True),
    Column("page", Integer, primary_key=True),
    Column("guids", Text, nullable=False),  # JSON array, oldest first
)


# The random token of each recent transaction numbered by the change sequence (the
# content revision it set): a publish's record names the number and token it read up
# to, and a store put back from a copy, which numbers its next transactions anew, gives
# other tokens for the same numbers.  Only the last store.LOG_KEPT are kept.
change_log = Table(
    "change_log",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("token", Text, nullable=False),
)


# Claims that several nodes sharing one database take before working on something (a
# source): ``holder`` names the node, ``expires`` is seconds since the epoch by the
# database's clock; a row whose time has passed is free (see store.coordination).
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False, default=""),
    Column("expires", Float, nullable=False, default=0.0),
)


def _v1(connection: Connection) -> None:
    metadata.create_all(connection)


def _v2(connection: Connection) -> None:
    leases.create(connection, checkfirst=True)  # v1 of a new database made it already


def _v3(connection: Connection) -> None:
    for index in items.indexes:
        if index.name == "items_published_title":
            index.create(connection, checkfirst=True)  # skipped on PostgreSQL by ddl_if


def _v4(connection: Connection) -> None:
    if _has_column(connection, "digest"):
        return  # v1 of a new database made it already
    connection.execute(text("ALTER TABLE items ADD COLUMN digest BIGINT NOT NULL DEFAULT 0"))
    columns = [items.c.id, *(items.c[name] for name in DIGESTED)]
    fill = update(items).where(items.c.id == bindparam("item_id")).values(digest=bindparam("d"))
    for rows in items_in_chunks(connection, columns, after=0, size=_FILL_ROWS):
        connection.execute(fill, [{"item_id": row["id"], "d": content_digest(row)} for row in rows])


_FILL_ROWS = 5_000


def items_in_chunks(
    connection: Connection, columns: Sequence[Column[Any]], *, after: int, size: int
) -> Iterator[Sequence[RowMapping]]:
    """``columns`` (``items.c.id`` among them) of the items with ids above ``after``, in
    id order, ``size`` rows at a time: a big store's rows need not fit in memory."""
    while True:
        query = select(*columns).where(items.c.id > after).order_by(items.c.id).limit(size)
        rows = connection.execute(query).mappings().all()
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


#: The parameter marker of each DB-API paramstyle that takes positional parameters.
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_tuples(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples of ``columns``) through the driver's executemany:
    SQLAlchemy's own spends more on building a dict of parameters per row than the
    database spends on the row."""
    marker = _MARKERS.get(connection.dialect.paramstyle)
    if marker is None:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    connection.exec_driver_sql(_insert_sql(connection, table, columns, marker), rows)


def insert_returning_ids(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert ``rows`` (tuples of ``columns``) and return their new ids, in order.

    SQLite inserts a row at a time through the driver, reading each one's rowid (which
    costs less than SQLAlchemy's one statement with RETURNING for many rows); other
    databases take that one statement, sorted by parameter order."""
    if connection.dialect.name == "sqlite":
        sql = _insert_sql(connection, table, columns, "?")
        with _sqlite_cursor(connection) as cursor:
            ids = []
            for row in rows:
                cursor.execute(sql, row)
                ids.append(int(cursor.lastrowid))
            return ids
    query = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    result = connection.execute(query, [dict(zip(columns, row, strict=True)) for row in rows])
    return [int(item_id) for item_id in result.scalars()]


def driver_rows(connection: Connection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    """The rows (tuples) of a query written with "?" markers, run through the driver:
    for small queries made thousands of times a run, SQLAlchemy's execution costs
    several times what SQLite spends on them."""
    if connection.dialect.name == "sqlite":
        with _sqlite_cursor(connection) as cursor:
            rows: list[Any] = cursor.execute(sql, parameters).fetchall()
            return rows
    return list(_exec_driver(connection, sql, parameters))


#: The most values one ``IN (...)`` is given.
IN_CHUNK = 500


def driver_rows_in(
    connection: Connection, sql: str, values: Sequence[Any], chunk: int = IN_CHUNK
) -> list[Any]:
    """The rows of a query (see :func:`driver_rows`) whose ``{}`` stands for the "?"
    markers of ``values``, asked ``chunk`` values at a time (one ``IN (...)`` holds
    only so many)."""
    rows: list[Any] = []
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        rows.extend(driver_rows(connection, sql.format(", ".join("?" * len(part))), part))
    return rows


def driver_execute(connection: Connection, sql: str, parameters: Sequence[Any]) -> int:
    """Run a statement written with "?" markers through the driver (see
    :func:`driver_rows`); how many rows it changed."""
    if connection.dialect.name == "sqlite":
        with _sqlite_cursor(connection) as cursor:
            return int(cursor.execute(sql, parameters).rowcount)
    return int(_exec_driver(connection, sql, parameters).rowcount)


@contextmanager
def _sqlite_cursor(connection: Connection) -> Iterator[Any]:
    """A cursor of the pysqlite connection under ``connection`` (in its transaction)."""
    cursor = connection.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _exec_driver(connection: Connection, sql: str, parameters: Sequence[Any]) -> Any:
    """``sql`` ("?" markers) with the dialect's markers, through ``exec_driver_sql``."""
    marker = _MARKERS.get(connection.dialect.paramstyle, "?")
    return connection.exec_driver_sql(sql.replace("?", marker), tuple(parameters))


def _insert_sql(connection: Connection, table: Table, columns: Sequence[str], marker: str) -> str:
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(column) for column in columns)
    markers = ", ".join([marker] * len(columns))
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({markers})"


def _v5(connection: Connection) -> None:
    if not _has_column(connection, "own_digest"):  # v1 of a new database made it already
        connection.execute(text("ALTER TABLE items ADD COLUMN own_digest BIGINT"))


def _v6(connection: Connection) -> None:
    title_parts.create(connection, checkfirst=True)  # filled in by the first ingest


#: The ``meta`` key of the change sequence: the number of the last transaction that
#: changed what a publish reads (an integer, as text; 0 in a new database).
CHANGE_SEQUENCE = "change_sequence"
#: The ``meta`` key of the store's random id, made once: a change sequence number means
#: something only in the store that gave it (a database made anew starts again at 0).
STORE_ID = "store_id"


def _v7(connection: Connection) -> None:
    if not _has_column(connection, "changed"):  # v1 of a new database made it already
        connection.execute(text("ALTER TABLE items ADD COLUMN changed BIGINT NOT NULL DEFAULT 0"))
    for index in items.indexes:
        if index.name == "items_changed":
            index.create(connection, checkfirst=True)
    known = set(connection.execute(select(meta.c.key)).scalars())
    values = {CHANGE_SEQUENCE: "0", STORE_ID: secrets.token_hex(16)}
    fresh = [{"key": key, "value": value} for key, value in values.items() if key not in known]
    if fresh:
        connection.execute(insert(meta), fresh)


def _v8(connection: Connection) -> None:
    change_log.create(connection, checkfirst=True)  # v1 of a new database made it already


def _has_column(connection: Connection, name: str) -> bool:
    return name in {column["name"] for column in inspect(connection).get_columns("items")}


#: The columns of ``items`` that :func:`content_digest` covers: all a publish reads.
DIGESTED = (
    "guid",
    "title",
    "link",
    "summary",
    "categories",
    "authors",
    "source",
    "anchor",
    "published",
    "updated",
)


def content_digest(row: Mapping[Any, Any]) -> int:
    """A signed 64-bit digest of an item row's :data:`DIGESTED` columns."""
    return digest64(tuple(row[name] for name in DIGESTED))


def digest64(values: tuple[object, ...]) -> int:
    """A signed 64-bit digest (a BIGINT column holds it) of the repr of ``values``
    (repr: None is not "None")."""
    value = hashlib.blake2b(repr(values).encode(), digest_size=8).digest()
    return int.from_bytes(value, "big", signed=True)


#: Migration n brings the schema from version n-1 to n.  Append, never edit.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]
SCHEMA_VERSION = len(MIGRATIONS)

#: The PostgreSQL advisory lock (held to the end of the transaction) that makes
#: nodes starting together on a new database migrate it one after the other.
MIGRATION_LOCK = 0x636F6F70_6D696772  # "coopmigr"


def lock_for_migration(connection: Connection) -> None:
    """Wait until no other process migrates the database (PostgreSQL; SQLite's write
    transaction already excludes the others)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))


def current_version(connection: Connection) -> int:
    if not connection.dialect.has_table(connection, "meta"):
        return 0
    value = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version"))
    row = value.first()
    return int(row[0]) if row else 0
