"""The store: the only place that writes SQL.  Candidates go in, Items come out.

One implementation over SQLAlchemy Core serves SQLite (the default, in WAL mode)
and, later, PostgreSQL.  Each source's items are applied in one transaction; a
stored item's guid, published date and first-seen time are written once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import (
    Connection,
    Engine,
    RootTransaction,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from coopfeed.dedupe import MatchPolicy, forget_codes, trigrams
from coopfeed.exceptions import LockError, StoreError
from coopfeed.identity import Candidate, canonical_url
from coopfeed.store import postgres, schema
from coopfeed.store.matching import (
    EXTRA,
    MAX_INDEXED,
    TitleIndex,
    file_parts,
    forget_parts,
    order,
    search_database,
    search_parts,
    uses_parts,
)
from coopfeed.store.schema import (
    CHANGE_SEQUENCE,
    IN_CHUNK,
    STORE_ID,
    archive_pages,
    content_digest,
    digest64,
    driver_execute,
    driver_rows,
    driver_rows_in,
    insert_returning_ids,
    insert_tuples,
    item_sources,
    items,
    meta,
    sources,
)
from coopfeed.types import Item
from coopfeed.workers import Workers

log = logging.getLogger(__name__)
DEFAULT_POLICY = MatchPolicy()


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers of one source between runs."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    failures: int = 0
    next_due: datetime | None = None
    items_seen: int = 0


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as the store holds it, for the operator's commands."""

    item: Item
    removed: datetime | None
    sources: tuple[str, ...]
    first_seen: datetime


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The columns of ``items`` a publish reads (and the summary, when it is asked for).
_PUBLISHED = (
    "guid",
    "title",
    "link",
    "published",
    "updated",
    "categories",
    "authors",
    "source",
    "anchor",
)


@dataclass(frozen=True, slots=True)
class Published:
    """What a publish reads of the store (see :meth:`Store.published`).

    ``items`` are newest first; ``digests`` map each one's guid to its content digest,
    which changes whenever anything the item shows does.  ``complete`` is False when
    the items' summaries were left out, for :meth:`summaries` to load.
    """

    items: list[Item]
    digests: dict[str, int]
    complete: bool
    _store: Store
    _ids: dict[str, int]

    def summaries(self, guids: Sequence[str]) -> dict[str, str]:
        """guid -> summary of each of ``guids`` that is still stored."""
        ids = [self._ids[guid] for guid in guids if guid in self._ids]
        by_id = self._store._summaries(sorted(set(ids)))
        return {guid: by_id[self._ids[guid]] for guid in guids if self._ids.get(guid) in by_id}


@dataclass(slots=True)
class IngestReport:
    """What applying one source's candidates changed."""

    new: int = 0
    merged: int = 0
    updated: int = 0
    unchanged: int = 0
    categories: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.merged or self.updated)


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


#: How many transactions (sources, in a run) a group commits at once at most, and
#: after how many seconds (see Store.grouped_writes).
GROUP_WRITES = 100
GROUP_SECONDS = 2.0


@dataclass(slots=True)
class _Group:
    """The transaction of a :meth:`Store.grouped_writes`, made in one thread."""

    thread: int
    connection: Connection
    most: int  # transactions before a commit
    seconds: float  # age before a commit
    transaction: RootTransaction | None = None
    writes: int = 0
    began: float = 0.0


class Store:
    """A coopfeed database: SQLite file path or ``postgresql://`` URL."""

    #: The most stored items the title index holds (coopfeed.store.matching).
    max_indexed = MAX_INDEXED

    def __init__(self, engine: Engine, lock_path: Path | None, name: str):
        self.engine = engine
        self.name = name
        self._lock = filelock.FileLock(str(lock_path)) if lock_path else None
        self._index: TitleIndex | None = None  # see coopfeed.store.matching
        self._index_lock = threading.Lock()
        self._group: _Group | None = None  # see grouped_writes

    @classmethod
    def open(cls, database: str) -> Store:
        """Open (creating and migrating as needed) the database."""
        if "://" in database:
            engine, name = postgres.engine_for(database)
            store = cls(engine, None, name)
            store.migrate()
            return store
        path = Path(database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder of {path}: {e.strerror}") from None
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine, path.with_name(path.name + ".lock"), str(path))
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A transaction; database errors become StoreError naming the database.  In
        the thread of a :meth:`grouped_writes`, a savepoint of the group's transaction."""
        group = self._group
        if group is not None and group.thread == threading.get_ident():
            with self._in_group(group) as connection:
                yield connection
            return
        with self._errors_named(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        """Database errors inside become StoreError naming the database."""
        try:
            yield
        except (DatabaseError, OperationalError) as e:
            raise StoreError(f"database {self.name}: {e.orig or e}") from e

    @contextmanager
    def grouped_writes(
        self, *, writes: int = GROUP_WRITES, seconds: float = GROUP_SECONDS
    ) -> Iterator[None]:
        """Group this thread's transactions: inside, each one is a savepoint of one
        transaction, committed once it holds ``writes`` of them or is ``seconds`` old,
        and at the end.  A transaction that fails still rolls back alone.

        A run makes one transaction a source, and committing each by itself made
        SQLite write every page they touched again for each: 1.4 GB written for a
        110 MB store in a cold run of the bench, and about 2 s of its time.  With
        SQLite, the group's commits skip their fsync (``synchronous=NORMAL``) and the
        write-ahead log is fsynced once when the group ends, before anything is
        published: a power loss may lose the last of them, never half of one.  A crash
        of the process loses only what was not committed yet; the sources it came
        from are fetched again next time (their state is saved with their items)."""
        if self._group is not None:  # inside another group: part of it
            yield
            return
        with self._errors_named():
            connection = self.engine.connect()
        group = _Group(threading.get_ident(), connection, writes, seconds)
        try:
            self._begin(group)
            self._group = group
            try:
                yield
            finally:
                self._group = None
                self._commit(group)
        finally:
            if self.engine.dialect.name == "sqlite":
                connection.invalidate()  # no connection with synchronous=NORMAL is kept
            connection.close()
            if self.engine.dialect.name == "sqlite":
                self._sync_wal()

    @contextmanager
    def _in_group(self, group: _Group) -> Iterator[Connection]:
        with self._errors_named(), group.connection.begin_nested():
            yield group.connection
        group.writes += 1
        if group.writes >= group.most or time.monotonic() - group.began >= group.seconds:
            self._commit(group)
            self._begin(group)

    def _begin(self, group: _Group) -> None:
        with self._errors_named():
            group.transaction = group.connection.begin()
            if self.engine.dialect.name == "sqlite":
                group.connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
                # A savepoint keeps the pages it changes, to roll back: in memory, not
                # in a temporary file (1.2 GB of writes in a cold run of the bench).
                group.connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
                # pysqlite would begin only before the first INSERT, and a SAVEPOINT
                # outside a transaction is one of its own (released: committed).
                group.connection.exec_driver_sql("BEGIN IMMEDIATE")
        group.writes, group.began = 0, time.monotonic()

    def _commit(self, group: _Group) -> None:
        transaction, group.transaction = group.transaction, None
        if transaction is None or not transaction.is_active:
            return
        with self._errors_named():
            transaction.commit()

    def _sync_wal(self) -> None:
        """fsync the write-ahead log, as a commit with ``synchronous=FULL`` does: every
        transaction committed before is then durable (the ones a checkpoint moved into
        the database already are)."""
        try:
            fd = os.open(f"{self.name}-wal", os.O_RDWR)
        except FileNotFoundError:
            return  # nothing written since the last checkpoint emptied it
        except OSError as e:
            raise StoreError(f"cannot sync {self.name}-wal: {e.strerror}") from None
        try:
            os.fsync(fd)
        except OSError as e:
            raise StoreError(f"cannot sync {self.name}-wal: {e.strerror}") from None
        finally:
            os.close(fd)

    @contextmanager
    def lock(self, wait: float = 0) -> Iterator[None]:
        """Hold the store's lock (one writer process at a time); LockError after ``wait`` s.

        A file lock beside a SQLite database; PostgreSQL's advisory lock, shared by every
        node on the database, for a ``postgresql://`` one."""
        if self.engine.dialect.name == "postgresql":
            with postgres.advisory_lock(self.engine, self.name, wait):
                yield
            return
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire(timeout=wait)
        except filelock.Timeout:
            raise LockError(
                f"another coopfeed process holds the lock {self._lock.lock_file}"
                + (f" (waited {wait:g} s)" if wait else "")
            ) from None
        except OSError as e:
            raise StoreError(f"cannot take the lock {self._lock.lock_file}: {e.strerror}") from None
        try:
            yield
        finally:
            self._lock.release()

    def migrate(self) -> None:
        """Bring the schema up to date; a second process opening a database that another
        is creating or migrating waits for it (SQLite's write lock, PostgreSQL's advisory
        lock) and then finds the work done."""
        with self._connect() as c:
            if schema.current_version(c) == schema.SCHEMA_VERSION:
                return
        with self._connect() as c:
            if c.dialect.name == "sqlite":
                # pysqlite opens no transaction before DDL or SELECT: without this the
                # version check and the CREATE TABLEs would race another process's.
                c.exec_driver_sql("BEGIN IMMEDIATE")
            schema.lock_for_migration(c)
            version = schema.current_version(c)
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.name} has schema version {version}, newer than this "
                    f"coopfeed knows ({schema.SCHEMA_VERSION}): upgrade coopfeed"
                )
            for number in range(version + 1, schema.SCHEMA_VERSION + 1):
                schema.MIGRATIONS[number - 1](c)
                log.debug("database %s migrated to schema version %d", self.name, number)
            if version < schema.SCHEMA_VERSION:
                c.execute(meta.delete().where(meta.c.key == "schema_version"))
                c.execute(
                    insert(meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION))
                )

    # -- sources ---------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        with self._connect() as c:
            row = c.execute(select(sources).where(sources.c.name == name)).mappings().first()
        if row is None:
            return SourceState(name=name)
        return _state(row)

    def source_states(self, names: Collection[str] | None = None) -> dict[str, SourceState]:
        """Every source's state, or those of ``names`` (the ones stored)."""
        query = select(sources)
        found: dict[str, SourceState] = {}
        with self._connect() as c:
            if names is None:
                rows = c.execute(query).mappings().all()
                return {row["name"]: _state(row) for row in rows}
            wanted = sorted(names)
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start : start + IN_CHUNK]
                for row in c.execute(query.where(sources.c.name.in_(chunk))).mappings():
                    found[row["name"]] = _state(row)
        return found

    def save_source_state(self, state: SourceState) -> None:
        self.save_source_states([state])

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """Remember how sources' fetches went, in one transaction."""
        with self._connect() as c:
            _save_states(c, states)

    # -- items -----------------------------------------------------------------

    def ingest(
        self,
        source: str,
        candidates: Sequence[Candidate],
        now: datetime,
        policy: MatchPolicy = DEFAULT_POLICY,
        state: SourceState | None = None,
    ) -> IngestReport:
        """Apply one source's candidates in one transaction, which also saves the
        source's ``state`` if given (its validators are then never saved without the
        items they vouch for, nor the other way round).  Inside :meth:`grouped_writes`,
        a savepoint of the group's transaction.

        When another node stored one of the same items meanwhile (PostgreSQL), an insert
        breaks a unique key and the transaction rolls back; it is then applied once more,
        and finds that node's rows and merges with them.
        """
        try:
            return self._ingest_once(source, candidates, now, policy, state)
        except StoreError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            log.info("source %r: stored meanwhile by another process; applying again", source)
            return self._ingest_once(source, candidates, now, policy, state)

    def _ingest_once(
        self,
        source: str,
        candidates: Sequence[Candidate],
        now: datetime,
        policy: MatchPolicy,
        state: SourceState | None,
    ) -> IngestReport:
        with self._index_lock:
            try:
                with self._connect() as c:
                    batch = _Batch(c, self._title_index(c), source, policy, now)
                    report = batch.apply(candidates, self.max_indexed)
                    if state is not None:
                        _save_states(c, [state])
                    return report
            except BaseException:
                self._index = None  # it may hold rows the rollback took back
                raise

    def file_titles(
        self, policy: MatchPolicy = DEFAULT_POLICY, workers: Workers | None = None
    ) -> None:
        """File the titles stored since the last time in ``title_parts``, all in one
        transaction (see :func:`coopfeed.store.matching.file_parts`).  A run does it once
        it has stored what it fetched (and dropped its in-memory index: filing needs
        little memory), so that the next run's searches find them filed; a search that
        finds some not filed yet files them itself.  ``workers`` make the rows to file
        (in their processes, while this one writes)."""
        if not uses_parts(policy):
            return
        try:
            with self._index_lock, self._connect() as c:
                file_parts(c, policy, workers)
        except StoreError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            log.info("titles filed meanwhile by another process")

    def forget_titles(self) -> None:
        """Drop the in-memory title index and the trigram caches: a run that has stored
        what it fetched leaves that memory to publishing (at 1,000 feeds about 90 MB of
        its peak).  The next ingest loads the days it searches again."""
        with self._index_lock:
            self._index = None
        trigrams.cache_clear()
        forget_codes()

    def _title_index(self, c: Connection) -> TitleIndex:
        """This store's title index, up to date with what other writers stored."""
        if self._index is None:
            self._index = TitleIndex(int(c.execute(select(func.max(items.c.id))).scalar() or 0))
        else:
            self._index.refresh(c)
        return self._index

    def published_items(self) -> list[Item]:
        """Every item not removed, newest first (ties broken by guid, for stable output)."""
        return self.published().items

    def published(
        self, *, summaries: bool = True, guids: Collection[str] | None = None
    ) -> Published:
        """Every item not removed, newest first (ties broken by guid), with each one's
        content digest; without ``summaries``, every item's summary is left empty, for
        :meth:`Published.summaries` to load only those a publish renders.  With
        ``guids``, only those of them that are stored and not removed (the ones
        :meth:`changed_guids` names, say), read by their guids.

        Sorted here rather than by the database: PostgreSQL compares text by its locale's
        collation and SQLite by bytes, and every node must write the same bytes."""
        columns = ", ".join(("id", "digest", *_PUBLISHED, *(("summary",) if summaries else ())))
        query = f"SELECT {columns} FROM items WHERE removed IS NULL"
        with self._connect() as c:  # 50,000 rows: SQLAlchemy's result costs a third more
            if guids is None:
                rows = driver_rows(c, query, ())
            else:
                rows = driver_rows_in(c, f"{query} AND guid IN ({{}})", sorted(set(guids)))
        decoded: dict[str, tuple[str, ...]] = {}  # most items share their categories
        found: list[Item] = []
        digests: dict[str, int] = {}
        ids: dict[str, int] = {}
        for item_id, digest, guid, title, link, published, updated, *rest in rows:
            categories, authors, source, anchor, *summary = rest
            for text in (categories, authors):
                if text not in decoded:
                    decoded[text] = tuple(json.loads(text))
            found.append(
                Item(
                    guid,
                    title,
                    datetime.fromtimestamp(published, UTC),
                    datetime.fromtimestamp(updated, UTC),
                    link,
                    summary[0] if summary else "",
                    decoded[categories],
                    decoded[authors],
                    source,
                    anchor,
                )
            )
            digests[guid] = digest
            ids[guid] = item_id
        found.sort(key=attrgetter("guid"))
        found.sort(key=attrgetter("published"), reverse=True)
        return Published(found, digests, summaries, self, ids)

    def _summaries(self, ids: Sequence[int]) -> dict[int, str]:
        with self._connect() as c:
            return dict(driver_rows_in(c, "SELECT id, summary FROM items WHERE id IN ({})", ids))

    def find_items(self, reference: str) -> list[StoredItem]:
        """The items a guid, a link, or a published link to an anchor refers to."""
        conditions = [items.c.guid == reference, items.c.link == reference]
        link_key = canonical_url(reference)
        if link_key:
            conditions.append(items.c.link_key == link_key)
        _, hash_mark, anchor = reference.partition("#")
        if hash_mark and anchor:
            conditions.append(items.c.anchor == anchor)
        return self._stored(select(items).where(or_(*conditions)).order_by(items.c.id))

    def list_items(
        self,
        *,
        source: str | None = None,
        text: str | None = None,
        removed: bool | None = None,
        limit: int | None = None,
    ) -> list[StoredItem]:
        """Stored items, newest first: from ``source``, holding ``text`` in the title or
        summary (case-insensitive), removed or not (None: both)."""
        query = select(items)
        if source is not None:
            query = query.where(
                items.c.id.in_(
                    select(item_sources.c.item_id).where(item_sources.c.source == source)
                )
            )
        if text:
            pattern = f"%{text.lower()}%"
            query = query.where(
                or_(
                    func.lower(items.c.title).like(pattern),
                    func.lower(items.c.summary).like(pattern),
                )
            )
        if removed is not None:
            query = query.where(
                items.c.removed.is_not(None) if removed else items.c.removed.is_(None)
            )
        query = query.order_by(items.c.published.desc(), items.c.guid).limit(limit)
        return self._stored(query)

    def set_removed(self, guids: Sequence[str], when: datetime | None) -> int:
        """Mark items removed at ``when`` (a tombstone), or restore them with None."""
        value = None if when is None else _ts(when)
        wanted = items.c.guid.in_(list(guids))
        with self._connect() as c:
            if c.execute(select(items.c.id).where(wanted).limit(1)).first() is None:
                return 0  # (items are never deleted: one found here is there below)
            # The change sequence first, as an ingest takes it: its row lock, then items'.
            sequence = _changed(c)
            done = c.execute(update(items).where(wanted).values(removed=value, changed=sequence))
        return int(done.rowcount)

    def revision(self) -> str:
        """A token that changes whenever anything a publish reads does (items, removals,
        archive pages): equal tokens, equal published items."""
        with self._connect() as c:
            value = c.execute(select(meta.c.value).where(meta.c.key == REVISION)).scalar()
        return str(value or "")

    def change_marker(self) -> tuple[str, int]:
        """The store's id and its change sequence number: the number of the last
        transaction that changed anything a publish reads (items, removals, archive
        pages), counted up by one in commit order; each item row keeps the number of
        the last one that inserted or changed it (see :meth:`changed_guids`).

        A number is meaningful only with its store's id (a database made anew counts
        from 0 again).  Ask for the marker before reading what changed: what commits in
        between is then read twice (now and next time), never missed."""
        query = select(meta.c.key, meta.c.value).where(meta.c.key.in_((STORE_ID, CHANGE_SEQUENCE)))
        with self._connect() as c:
            values = dict(c.execute(query).all())
        return values[STORE_ID], int(values[CHANGE_SEQUENCE])

    def change_token(self, sequence: int) -> str:
        """The random token of the transaction numbered ``sequence`` (see
        :meth:`change_marker`), "" for 0 or a number not logged (any more): a record that
        names a number and its token tells the same store's history from that of a copy
        put back, which gives its next transactions the same numbers."""
        with self._connect() as c:
            rows = driver_rows(c, "SELECT token FROM change_log WHERE sequence = ?", (sequence,))
        return str(rows[0][0]) if rows else ""

    def changed_guids(self, since: int) -> list[str]:
        """The guids of the items, removed or not, inserted or changed (published
        columns, removal) by a transaction numbered above ``since`` (see
        :meth:`change_marker`), sorted; items stored before schema 7 are numbered 0."""
        with self._connect() as c:
            rows = driver_rows(c, "SELECT guid FROM items WHERE changed > ?", (since,))
        return sorted(guid for (guid,) in rows)

    def _stored(self, query: Any) -> list[StoredItem]:
        with self._connect() as c:
            rows = c.execute(query).mappings().all()
            ids = [row["id"] for row in rows]
            origins: dict[int, list[str]] = {}
            if ids:
                found = c.execute(
                    select(item_sources.c.item_id, item_sources.c.source)
                    .where(item_sources.c.item_id.in_(ids))
                    .distinct()
                    .order_by(item_sources.c.source)
                )
                for item_id, name in found:
                    origins.setdefault(item_id, []).append(name)
        return [
            StoredItem(
                _item(row),
                _dt(row["removed"]),
                tuple(origins.get(row["id"], ())),
                _dt(row["first_seen"]) or _EPOCH,
            )
            for row in rows
        ]

    def archive_pages(self) -> dict[str, dict[int, tuple[str, ...]]]:
        """Every feed's full archive pages: slug -> page number (from 1, oldest) -> guids."""
        query = select(archive_pages.c.feed, archive_pages.c.page, archive_pages.c.guids)
        pages: dict[str, dict[int, tuple[str, ...]]] = {}
        with self._connect() as c:
            for feed, page, guids in c.execute(query):
                pages.setdefault(feed, {})[page] = tuple(json.loads(guids))
        return pages

    def save_archive_pages(self, pages: Mapping[str, Mapping[int, tuple[str, ...]]]) -> None:
        """Record pages that became full; a full page is recorded once and never replaced."""
        rows = [
            {"feed": feed, "page": page, "guids": json.dumps(list(guids))}
            for feed, numbered in pages.items()
            for page, guids in numbered.items()
        ]
        if not rows:
            return
        with self._connect() as c:
            query = select(archive_pages.c.feed, archive_pages.c.page)
            known = {(feed, page) for feed, page in c.execute(query)}
            fresh = [row for row in rows if (row["feed"], row["page"]) not in known]
            if fresh:
                c.execute(insert(archive_pages), fresh)
                _changed(c)

    def count_items(self) -> int:
        with self._connect() as c:
            return len(c.execute(select(items.c.id)).all())

    def check_integrity(self) -> str:
        """SQLite's ``integrity_check``: "ok" or what is wrong (PostgreSQL has no such
        check in SQL: StoreError)."""
        if self.engine.dialect.name != "sqlite":
            raise StoreError(f"database {self.name}: integrity_check is SQLite's")
        with self._connect() as c:
            return str(c.exec_driver_sql("PRAGMA integrity_check").scalar())


class _Batch:
    """One source's candidates applied in one transaction.

    Lookups are made for the whole batch where they can be (the source's keys, the
    candidates' guids and links, the rows they point to); new items are inserted at the
    end, in one statement, under provisional negative ids until then, and every change
    to a stored item is one UPDATE.
    """

    def __init__(
        self, c: Connection, index: TitleIndex, source: str, policy: MatchPolicy, now: datetime
    ) -> None:
        self.c = c
        self.index = index
        self.source = source
        self.policy = policy
        self.now = _ts(now)
        self.report = IngestReport()
        self.rows: dict[int, dict[str, Any]] = {}  # item id -> its row as changed so far
        self.changes: dict[int, dict[str, Any]] = {}  # stored item id -> columns to update
        self.new: dict[int, dict[str, Any]] = {}  # provisional id -> the row to insert
        self.keys: list[tuple[str, int]] = []  # (key, item id) for item_sources
        self.shown = False  # a change reached a column that is published
        # Near duplicates through title_parts (None: not for this policy), brought up to
        # date by the batch's first search of the database (then True).
        self.parts: bool | None = False if uses_parts(policy) else None
        if self.parts is None:
            forget_parts(c)

    def apply(self, candidates: Sequence[Candidate], max_indexed: int) -> IngestReport:
        c, report = self.c, self.report
        known: dict[str, int] = dict(driver_rows(c, _KEYS_OF_SOURCE, (self.source,)))
        own = set(known.values())
        fresh = [candidate for candidate in candidates if candidate.key not in known]
        self._load_rows({known[one.key] for one in candidates if one.key in known})
        guids = self._ids_by("guid", {candidate.guid for candidate in fresh})
        links = self._ids_by("link_key", {one.link_key for one in fresh if one.link_key})
        self._prepare_index([_ts(candidate.item.published) for candidate in fresh], max_indexed)
        batch: set[str] = set()
        for candidate in candidates:
            item_id = known.get(candidate.key)
            if item_id is not None:
                row = self._row(item_id)
                # The source that stored the item may edit it (once per batch: a second
                # copy in the same batch only fills in); others only fill in.
                edit = row["source"] == self.source and candidate.key not in batch
                batch.add(candidate.key)
                values = _edits(row, candidate) if edit else _fill_ins(row, candidate)
                if not self._change(item_id, values, links):
                    report.unchanged += 1
                continue
            item_id = guids.get(candidate.guid)
            if item_id is None and candidate.link_key:
                item_id = links.get(candidate.link_key)
            if item_id is None:
                item_id = self._search(candidate, own)
            if item_id is None:
                item_id = self._insert(candidate)
                guids[candidate.guid] = item_id
                if candidate.link_key:
                    links.setdefault(candidate.link_key, item_id)
                report.new += 1
                report.categories.update(candidate.item.categories)
            else:
                self._change(item_id, _fill_ins(self._row(item_id), candidate), links)
                report.merged += 1
            for key in (candidate.key, *candidate.aliases):
                if key not in known:  # an alias another item holds stays with it
                    self.keys.append((key, item_id))
                    known[key] = item_id
            own.add(item_id)
            batch.add(candidate.key)
        self._write()
        return report

    # -- reading -------------------------------------------------------------------------

    def _load_rows(self, ids: set[int]) -> None:
        """The rows of ``ids`` not loaded yet, read as :meth:`_row` reads one."""
        wanted = sorted(ids - self.rows.keys())
        for values in driver_rows_in(self.c, _ROWS_BY_IDS, wanted):
            row = dict(zip(_ROW_COLUMNS, values, strict=True))
            self.rows[row["id"]] = row

    def _row(self, item_id: int) -> dict[str, Any]:
        if item_id not in self.rows:
            found = driver_rows(self.c, _ROW_BY_ID, (item_id,))
            if not found:
                raise LookupError(f"item {item_id} is not stored")
            self.rows[item_id] = dict(zip(_ROW_COLUMNS, found[0], strict=True))
        return self.rows[item_id]

    def _ids_by(self, column: str, values: set[str]) -> dict[str, int]:
        """value -> the oldest stored item with it in ``column``."""
        query = f"SELECT {column}, min(id) FROM items WHERE {column} IN ({{}}) GROUP BY {column}"
        rows = driver_rows_in(self.c, query, sorted(values))
        return {value: int(item_id) for value, item_id in rows}

    def _prepare_index(self, published: list[int], max_indexed: int) -> None:
        if published:
            self.index.prepare(self.c, published, self.policy, max_indexed)

    def _search(self, candidate: Candidate, own: set[int]) -> int | None:
        """The stored (or new in this batch) item with an equal or near-duplicate title."""
        key, published, policy = candidate.title_key, _ts(candidate.item.published), self.policy
        found = self.index.search(key, published, policy, own)
        if self.index.covers(published, policy):
            return found
        if self.parts is not None:
            if not self.parts:
                file_parts(self.c, policy)
                self.parts = True
            stored = search_parts(self.c, key, published, policy, own)
        else:
            grams = self.index.rarest(key, policy, EXTRA)
            stored = search_database(self.c, key, published, policy, own, grams)
        if stored is None or found is None:
            return stored if found is None else found

        def rank(item_id: int) -> tuple[bool, tuple[int, int]]:
            row = self._row(item_id)
            equal = row["title_key"] == key
            within = abs(row["published"] - published) <= policy.same_title_window
            return (not (equal and within), order(item_id))

        return min(stored, found, key=rank)

    # -- writing -------------------------------------------------------------------------

    def _insert(self, candidate: Candidate) -> int:
        item = candidate.item
        item_id = -(len(self.new) + 1)
        row: dict[str, Any] = {
            "id": item_id,
            "guid": candidate.guid,
            "title": item.title,
            "title_key": candidate.title_key,
            "link": item.link,
            "link_key": candidate.link_key,
            "anchor": candidate.anchor,
            "summary": item.summary,
            "categories": _json_list(item.categories),
            "authors": _json_list(item.authors),
            "source": item.source,
            "published": _ts(item.published),
            "updated": _ts(item.updated),
            "first_seen": self.now,
            "removed": None,
            "own_digest": own_digest(item.title, item.summary, item.link),
        }
        row["digest"] = content_digest(row)
        self.new[item_id] = row
        self.rows[item_id] = row
        self.index.add(item_id, candidate.title_key, row["published"])
        return item_id

    def _change(self, item_id: int, values: dict[str, Any], links: dict[str, int]) -> bool:
        if values.keys() <= _UNSHOWN:  # nothing shown changed
            if values:
                self.rows[item_id].update(values)
                if item_id > 0:
                    self.changes.setdefault(item_id, {}).update(values)
            return False
        self.shown = True
        row = self.rows[item_id]
        self.report.updated += 1
        self.report.categories.update(json.loads(values.get("categories", row["categories"])))
        self.report.categories.update(json.loads(row["categories"]))
        if "link_key" in values:
            if row["link_key"] and links.get(row["link_key"]) == item_id:
                del links[row["link_key"]]
            new_key = values["link_key"]
            if new_key and (new_key not in links or order(item_id) < order(links[new_key])):
                links[new_key] = item_id
        row.update(values)
        if item_id > 0:
            self.changes.setdefault(item_id, {}).update(values)
        return True

    def _write(self) -> None:
        """Insert the new items and update the changed ones; both, and the stored ones
        whose published columns changed, take the transaction's change sequence number
        (an update of ``own_digest`` alone changes nothing a publish reads: not them)."""
        c = self.c
        sequence = _changed(c) if self.new or self.shown else 0
        renamed: dict[int, int] = {}
        if self.new:
            provisional = list(self.new)
            rows = [
                [*(self.new[i][column] for column in _NEW_COLUMNS), sequence] for i in provisional
            ]
            ids = insert_returning_ids(c, items, _ITEM_COLUMNS, rows)
            renamed = dict(zip(provisional, ids, strict=True))
            self.index.rename(renamed)
        for item_id, values in self.changes.items():
            if not values.keys() <= _UNSHOWN:
                values["changed"] = sequence
            values["digest"] = content_digest(self.rows[item_id])
            sets = ", ".join(f"{column} = ?" for column in values)
            driver_execute(c, f"UPDATE items SET {sets} WHERE id = ?", [*values.values(), item_id])
        if self.keys:
            source, now = self.source, self.now
            keys = [(source, key, renamed.get(i, i), now) for key, i in self.keys]
            insert_tuples(c, item_sources, _KEY_COLUMNS, keys)


#: A source's keys and the items they point to, through the driver (asked every batch).
_KEYS_OF_SOURCE = "SELECT key, item_id FROM item_sources WHERE source = ?"
#: An item's row by its id, through the driver (see schema.driver_rows).
_ROW_COLUMNS = tuple(column.name for column in items.columns)
_ROW_BY_ID = f"SELECT {', '.join(_ROW_COLUMNS)} FROM items WHERE id = ?"
_ROWS_BY_IDS = f"SELECT {', '.join(_ROW_COLUMNS)} FROM items WHERE id IN ({{}})"
#: The columns of a new item's row (its id comes from the database): those of its row
#: in _Batch.new, then its change sequence number (from _Batch._write).
_NEW_COLUMNS = tuple(
    column.name for column in items.columns if column.name not in ("id", "changed")
)
_ITEM_COLUMNS = (*_NEW_COLUMNS, "changed")
#: The columns whose change alone is no change of what a publish reads.
_UNSHOWN = frozenset({"own_digest"})
_KEY_COLUMNS = ("source", "key", "item_id", "first_seen")
_STATE_COLUMNS = tuple(column.name for column in sources.columns)


#: The ``meta`` key of the content revision (see Store.revision).
REVISION = "content_revision"


def _save_states(c: Connection, states: Sequence[SourceState]) -> None:
    """Each state's row updated, or inserted if new: through the driver, as a run
    saves a state with each source's items."""
    rows = [_state_row(state) for state in states]
    names = [row["name"] for row in rows]
    query = "SELECT name FROM sources WHERE name IN ({})"
    known = {name for (name,) in driver_rows_in(c, query, names)}
    columns = [column for column in _STATE_COLUMNS if column != "name"]
    update_one = f"UPDATE sources SET {', '.join(f'{c} = ?' for c in columns)} WHERE name = ?"
    for row in rows:
        if row["name"] in known:
            driver_execute(c, update_one, [*(row[column] for column in columns), row["name"]])
    new = [
        tuple(row[column] for column in _STATE_COLUMNS) for row in rows if row["name"] not in known
    ]
    if new:
        insert_tuples(c, sources, _STATE_COLUMNS, new)


def _changed(c: Connection) -> int:
    """Record, in the transaction making it, that published content changed; the
    transaction's change sequence number, for the item rows it writes.

    The counter is counted up by an UPDATE of its row, whose lock PostgreSQL holds to
    the commit (as SQLite's write lock is): numbers are taken in commit order, so a
    reader that saw number n never later finds a new row numbered n or below."""
    token = secrets.token_hex(8)
    if not driver_execute(c, "UPDATE meta SET value = ? WHERE key = ?", (token, REVISION)):
        c.execute(insert(meta).values(key=REVISION, value=token))
    driver_execute(c, _COUNT_UP, (CHANGE_SEQUENCE,))
    [(value,)] = driver_rows(c, "SELECT value FROM meta WHERE key = ?", (CHANGE_SEQUENCE,))
    sequence = int(value)
    driver_execute(c, "INSERT INTO change_log (sequence, token) VALUES (?, ?)", (sequence, token))
    if sequence % LOG_PRUNED_EVERY == 0:
        driver_execute(c, "DELETE FROM change_log WHERE sequence <= ?", (sequence - LOG_KEPT,))
    return sequence


#: How many of the last transactions' tokens the change log keeps (pruned every
#: LOG_PRUNED_EVERY numbers): a publish whose record is older than that (a folder not
#: published into for weeks) goes the whole way.
LOG_KEPT = 100_000
LOG_PRUNED_EVERY = 1024


#: The change sequence counted up (read back after: RETURNING needs SQLite 3.35).
_COUNT_UP = "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = ?"


def own_digest(title: str, summary: str, link: str | None) -> int:
    """A digest of the title, summary and link a source sent for an item."""
    return digest64((title, summary, link))


def _fill_ins(row: Any, candidate: Candidate) -> dict[str, Any]:
    """What another source's copy adds to a stored item: never its guid or dates."""
    item = candidate.item
    values: dict[str, Any] = {}
    if row["link"] is None and item.link:
        values.update(link=item.link, link_key=candidate.link_key)
    if len(item.summary) > len(row["summary"]):
        values["summary"] = item.summary
    categories = json.loads(row["categories"])
    extra = [category for category in item.categories if category not in categories]
    if extra:
        values["categories"] = json.dumps(categories + extra)
    if not json.loads(row["authors"]) and item.authors:
        values["authors"] = _json_list(item.authors)
    return values


def _edits(row: Any, candidate: Candidate) -> dict[str, Any]:
    """What the item's own source changed since it last sent it (never guid or
    published).  Its title, summary and link count only when they differ from what it
    sent before: a copy it sends again unchanged leaves what other sources filled in
    (a longer summary) as it is."""
    item = candidate.item
    values: dict[str, Any] = {}
    sent = own_digest(item.title, item.summary, item.link)
    if sent != row["own_digest"]:
        values["own_digest"] = sent
        for column, value in [("title", item.title), ("summary", item.summary)]:
            if value and value != row[column]:
                values[column] = value
        if item.link and item.link != row["link"]:
            values.update(link=item.link, link_key=candidate.link_key)
    if _ts(item.updated) > row["updated"]:
        values["updated"] = _ts(item.updated)
    return values


@functools.lru_cache(maxsize=1_024)
def _json_list(values: tuple[str, ...]) -> str:
    """A JSON array of ``values``, as stored: most items share their categories and
    authors, so each set is written once."""
    return json.dumps(list(values))


def _item(row: Any) -> Item:
    return Item(
        guid=row["guid"],
        title=row["title"],
        link=row["link"],
        published=datetime.fromtimestamp(row["published"], UTC),
        updated=datetime.fromtimestamp(row["updated"], UTC),
        summary=row["summary"],
        categories=tuple(json.loads(row["categories"])),
        authors=tuple(json.loads(row["authors"])),
        source=row["source"],
        anchor=row["anchor"],
    )


def _state_row(state: SourceState) -> dict[str, Any]:
    return {
        "name": state.name,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "body_hash": state.body_hash,
        "last_status": state.last_status,
        "last_error": state.last_error,
        "failures": state.failures,
        "items_seen": state.items_seen,
        **{
            key: None if value is None else _ts(value)
            for key, value in [
                ("last_fetch", state.last_fetch),
                ("last_success", state.last_success),
                ("next_due", state.next_due),
            ]
        },
    }


def _state(row: Any) -> SourceState:
    return SourceState(
        name=row["name"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        last_fetch=_dt(row["last_fetch"]),
        last_success=_dt(row["last_success"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        failures=row["failures"] or 0,
        next_due=_dt(row["next_due"]),
        items_seen=row["items_seen"] or 0,
    )


#: The page cache of each SQLite connection, in KiB, filled as pages are read: storing
#: the bench's first run took 8.7-9.4 CPU-s with it against 9.4-9.8 with SQLite's 2 MB.
SQLITE_CACHE_KIB = 16_384


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # SQLite's default page cache is 2 MB: a run's group of sources writes more than
        # that (spilling pages to the log before it commits) and reads its indexes anew.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


__all__ = ["IngestReport", "Published", "SourceState", "Store", "StoredItem"]
