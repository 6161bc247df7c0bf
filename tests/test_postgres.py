"""PostgreSQL: the store against a real server, and three `coopfeed serve` nodes on one
database (DESIGN 8).

The server is started by the suite itself (tests/pgserver.py); every test gets a new
database.  The store's own tests (tests/test_store.py) run here again against it: every
one of them that needs nothing but the ``store`` fixture, except the SQLite-only ones.
The node tests start `python -m coopfeed serve` subprocesses on loopback sources and read
back what the feed server saw, what the database holds and what each node serves.
"""

from __future__ import annotations

import inspect
import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import test_publish_changes
import test_store
from httpserver import FeedServer, Reply, Request
from pgserver import PostgresServer, free_port
from sqlalchemy import text

from coopfeed.cli import main
from coopfeed.dedupe import MatchPolicy
from coopfeed.exceptions import LockError, StoreError
from coopfeed.publish import RENDER_CACHE
from coopfeed.schedule import LEASE_MARGIN
from coopfeed.store import Store, schema
from coopfeed.store.coordination import (
    claim,
    holder_pid,
    lease_holders,
    new_output_version,
    output_version,
    release,
)
from coopfeed.store.schema import SCHEMA_VERSION

pytest_plugins = ["pgserver"]

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)

# -- the store's own tests, against PostgreSQL -----------------------------------------

SQLITE_ONLY = {"test_new_store_is_migrated_and_in_wal_mode"}
for _name, _test in vars(test_store).copy().items():
    if (
        _name.startswith("test_")
        and _name not in SQLITE_ONLY
        and callable(_test)
        and list(inspect.signature(_test).parameters) == ["store"]
    ):
        globals()[_name] = _test


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store.open(postgres_url)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of each kind: the coordination code is one code path for both."""
    if request.param == "sqlite":
        opened = Store.open(str(tmp_path / "coop.sqlite3"))
    else:
        opened = Store.open(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


# -- the store on PostgreSQL -------------------------------------------------------------


def test_a_new_database_is_migrated_once_by_nodes_starting_together(postgres_url: str) -> None:
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(Store.open(postgres_url))
        except BaseException as e:  # shown below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with stores[0].engine.connect() as c:
        versions = c.execute(text("SELECT value FROM meta WHERE key='schema_version'")).all()
        assert versions == [(str(SCHEMA_VERSION),)]
        assert c.execute(text("SELECT count(*) FROM leases")).scalar() == 0
    for opened in stores:
        opened.close()


def test_urls_name_the_database_without_the_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    with_password = url.replace("coopfeed@", "coopfeed:s3cret@").replace(
        "postgresql://", "postgres://"
    )
    opened = Store.open(with_password)  # trust authentication ignores the password
    assert "s3cret" not in opened.name and opened.name.startswith("postgres://coopfeed:***@")
    opened.close()
    with pytest.raises(StoreError, match=r"expected a SQLite path or a postgresql:// URL"):
        Store.open("mysql://user:pw@host/db")
    with pytest.raises(StoreError, match="could not connect|Connection refused|failed"):
        Store.open(f"postgresql://nobody@127.0.0.1:{postgres_server.port + 1}/none")


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"needs the psycopg package \(pip install"):
        Store.open("postgresql://coopfeed@127.0.0.1:1/coopfeed")


def test_the_lock_is_one_advisory_lock_for_every_node(postgres_url: str) -> None:
    one, two = Store.open(postgres_url), Store.open(postgres_url)
    try:
        with one.lock(), pytest.raises(LockError, match="another coopfeed process holds the lock"):
            with two.lock(wait=0.2):
                pass
        with two.lock():
            pass
        # A waiting node gets the lock as soon as it is released.
        held = threading.Event()

        def hold() -> None:
            with one.lock():
                held.set()
                time.sleep(0.5)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(5)
        began = time.monotonic()
        with two.lock(wait=5):
            assert 0.2 < time.monotonic() - began < 3
        holder.join()
    finally:
        one.close()
        two.close()


def test_a_killed_process_releases_the_lock(postgres_url: str) -> None:
    script = (
        "import sys, time\n"
        "from coopfeed.store import Store\n"
        "store = Store.open(sys.argv[1])\n"
        "with store.lock():\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, postgres_url], stdout=subprocess.PIPE, env=ENV
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"locked\n"
        opened = Store.open(postgres_url)
        with pytest.raises(LockError):
            with opened.lock():
                pass
        process.kill()
        process.wait(10)
        with opened.lock(wait=10):
            pass
        opened.close()
    finally:
        process.kill()
        process.wait(10)
        if process.stdout:
            process.stdout.close()


def test_ingest_tolerates_another_node_storing_the_same_items(postgres_url: str) -> None:
    """Two nodes store the same source at once, without the lock (as after a lease
    expired mid-fetch): one insert waits for the other's and fails on the guid, and the
    source's transaction is applied again, finding the other's rows."""
    stores = [Store.open(postgres_url) for _ in range(3)]
    candidates = [
        test_store.remote(f"Story {n}", key=f"https://coop.example/{n}") for n in range(40)
    ]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def ingest(store: Store) -> None:
        try:
            barrier.wait(5)
            store.ingest("ica", candidates, NOW)
        except BaseException as e:  # shown below
            errors.append(e)

    threads = [threading.Thread(target=ingest, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(stores[0].published_items()) == 40
    with stores[0].engine.connect() as c:
        assert c.execute(text("SELECT count(DISTINCT item_id) FROM item_sources")).scalar() == 40
    for opened in stores:
        opened.close()


def test_nodes_writing_at_once_number_their_transactions_in_commit_order(
    postgres_url: str,
) -> None:
    """Three nodes store batches at once while a fourth follows the change sequence
    (marker first, then what changed since the last one): each transaction takes its
    own number, 1 to n, and the follower misses no item."""
    writers = [Store.open(postgres_url) for _ in range(3)]
    follower = Store.open(postgres_url)
    batches, size = 8, 5
    barrier = threading.Barrier(len(writers) + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    seen: set[str] = set()

    def write(node: int, store: Store) -> None:
        try:
            barrier.wait(5)
            published = datetime(2010 + 2 * node, 1, 1, tzinfo=UTC)  # never near another's
            for batch in range(batches):
                candidates = [
                    test_store.remote(
                        f"Node {node} story {batch}-{n}",
                        key=f"n{node}/{batch}/{n}",
                        source=f"node{node}",
                        published=published + timedelta(days=3 * batch),
                    )
                    for n in range(size)
                ]
                assert store.ingest(f"node{node}", candidates, NOW).new == size
        except BaseException as e:  # shown below
            errors.append(e)

    def follow() -> None:
        try:
            barrier.wait(5)
            last = 0
            while True:
                finished = done.is_set()
                _, marker = follower.change_marker()
                seen.update(follower.changed_guids(last))
                last = marker
                if finished:
                    return
        except BaseException as e:  # shown below
            errors.append(e)

    threads = [threading.Thread(target=write, args=pair) for pair in enumerate(writers)]
    reader = threading.Thread(target=follow)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert errors == []
    total = len(writers) * batches
    assert follower.change_marker()[1] == total
    with follower.engine.connect() as c:
        numbers = c.execute(text("SELECT changed, count(*) FROM items GROUP BY changed")).all()
    assert sorted(numbers) == [(n, size) for n in range(1, total + 1)]
    assert seen == {item.guid for item in follower.published_items()}
    assert len(seen) == total * size
    for opened in [*writers, follower]:
        opened.close()


def test_guids_keys_and_titles_longer_than_a_btree_entry_are_stored(store: Store) -> None:
    """PostgreSQL's b-tree refuses entries over ~2.7 kB: such columns are indexed by
    digest or hash there, and still unique."""
    title = "".join(chr(0x4E00 + n * 7) for n in range(1000))  # 3,000 bytes of UTF-8
    noise = "".join(random.Random(8).choices(string.ascii_letters, k=3000))
    key = f"https://coop.example/{noise}"
    first = store.ingest("ica", [test_store.remote(title, key=key, link=key)], NOW)
    again = store.ingest("ica", [test_store.remote(title, key=key, link=key)], NOW)
    assert (first.new, again.new, again.unchanged) == (1, 0, 1)
    [item] = store.published_items()
    assert item.guid == key and item.title == title


def test_archive_pages_are_recorded_once(store: Store) -> None:
    store.save_archive_pages({"news": {1: ("a", "b"), 2: ("c", "d")}})
    store.save_archive_pages({"news": {1: ("x", "y"), 3: ("e", "f")}, "all": {1: ("a",)}})
    assert store.archive_pages() == {
        "news": {1: ("a", "b"), 2: ("c", "d"), 3: ("e", "f")},
        "all": {1: ("a",)},
    }


def test_the_same_archive_publishes_the_same_bytes_from_either_database(
    project: Callable[..., Path], postgres_url: str
) -> None:
    """`coopfeed run` into SQLite and into PostgreSQL, with archive pages: byte for byte."""
    outputs = {}
    for kind, database in [("sqlite", "coop.sqlite3"), ("postgresql", postgres_url)]:
        site = f'database = "{database}"\noutput_dir = "feeds-{kind}"\nitems_per_feed = 3'
        config = project(extra_site=site)
        assert main(["run", "-c", str(config)]) == 0
        folder = config.parent / f"feeds-{kind}"
        # All but the render cache, which records the state of its own store.
        outputs[kind] = {
            p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != RENDER_CACHE
        }
    assert any(".archive-" in name for name in outputs["sqlite"])
    assert outputs["sqlite"] == outputs["postgresql"]


def test_a_publish_of_the_changes_writes_what_a_whole_publish_would(
    project: Callable[..., Path], tmp_path: Path, postgres_url: str
) -> None:
    """tests/test_publish_changes.py's random history on PostgreSQL: after every step the
    folder holds what a whole publish of the store makes, and its record."""
    site = f'database = "{postgres_url}"\n'
    names = test_publish_changes.CATEGORIES[:5]
    partial = test_publish_changes.run_history(project, tmp_path, 2, names, site)
    assert partial[0] is False and sum(partial) >= len(partial) // 2


# -- leases and the output version (both databases) -------------------------------------


def test_a_lease_has_one_holder_until_released_or_expired(any_store: Store) -> None:
    assert claim(any_store, "source:a", "node-1", 30)
    assert not claim(any_store, "source:a", "node-2", 30)
    assert claim(any_store, "source:a", "node-1", 30)  # extended by its holder
    assert claim(any_store, "source:b", "node-2", 30)  # another lease
    assert set(lease_holders(any_store)) == {"source:a", "source:b"}
    release(any_store, "source:a", "node-2")  # not its lease: nothing happens
    assert not claim(any_store, "source:a", "node-3", 30)
    release(any_store, "source:a", "node-1")
    assert claim(any_store, "source:a", "node-3", 0.3)
    time.sleep(0.4)
    assert "source:a" not in lease_holders(any_store)
    assert claim(any_store, "source:a", "node-2", 30)  # expired: free


def test_only_one_of_many_racing_nodes_gets_a_lease(any_store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(node: str) -> None:
        barrier.wait(5)
        if claim(any_store, "source:x", node, 30):
            winners.append(node)

    threads = [threading.Thread(target=race, args=(f"n{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_the_output_version_changes_with_every_publish(any_store: Store) -> None:
    assert output_version(any_store) is None
    first = new_output_version(any_store, NOW)
    assert output_version(any_store) == first and first.now == NOW
    second = new_output_version(any_store, NOW)
    assert second != first and output_version(any_store) == second


def test_holder_names_carry_the_process_id() -> None:
    assert holder_pid("host.example:4242:ab12cd") == 4242
    assert holder_pid("node-1") is None


# -- three `coopfeed serve` nodes on one database --------------------------------------

INTERVAL = 2.0  # seconds between two fetches of a source
DEADLINE = 3.0  # the fetch deadline: a lease lasts DEADLINE + LEASE_MARGIN
BASE_URL = "http://feeds.example.org/"  # the same public address behind every node


def rss(source: str, index: int, count: int) -> bytes:
    """Source number ``index``'s feed: ``count`` stories of its own, a week apart from
    every other source's (so no two are near duplicates), then two that every source
    carries: one under the same guid, one under its own guid with the same link."""
    day = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [
        ("https://news.example.org/shared", "A story every source carries", None, day),
        (f"{source}-own-guid", "The same story under its own guid", "linked", day),
    ] + [
        (
            f"{source}-story-{k}",
            f"Story {k} from {source}",
            None,
            day + timedelta(weeks=1 + index * 10 + k),
        )
        for k in range(count)
    ]
    parts = []
    for guid, title, link, when in entries:
        parts.append(
            f"<item><title>{title}</title><guid>{guid}</guid>"
            f"<link>https://news.example.org/{link or guid.rpartition('/')[2]}</link>"
            f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>About {title}.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{source}</title><link>https://news.example.org/</link>"
        f"<description>test</description>{''.join(parts)}</channel></rss>"
    ).encode()


@dataclass
class Node:
    """One `coopfeed serve` process with its own folder, output and HTTP port."""

    folder: Path
    number: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    def write_config(self, database: str, sources: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Node 1 names the database in its file, the others in the environment.
        named = f'database = "{database}"' if self.number == 1 else ""
        (self.folder / "config.toml").write_text(
            f"""
[site]
title = "Cooperative news"
base_url = "{BASE_URL}"
tag_authority = "coopfeed.example.org"
items_per_feed = 5
min_interval = "1s"
max_interval = "1h"
{named}

[fetch]
deadline = "{DEADLINE:g}s"
timeout = "2s"
user_agent = "coopfeed-test node-{self.number}"
{sources}
""",
            encoding="utf-8",
        )

    def start(self, database: str) -> None:
        env = {**ENV, "COOPFEED_DATABASE_URL": database} if self.number != 1 else ENV
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coopfeed", "serve", "-c", "config.toml", "-v"]
                + ["--port", str(self.port)],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"node {self.number} exited:\n{self.log.read_text(errors='replace')}")
        try:
            return self.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def files(self) -> dict[str, bytes]:
        """Every published file, as this node serves it over HTTP."""
        names = sorted(p.name for p in (self.folder / "feeds").iterdir() if p.name[0] != ".")
        return {name: self.get(f"/{name}").content for name in names}

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


def eventually(condition: Callable[[], Any], what: str, timeout: float, nodes: list[Node]) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- node {n.number}:\n{n.log.read_text(errors='replace')[-3000:]}"
                for n in nodes
                if n.log.exists()
            )
            pytest.fail(f"not within {timeout:g} s: {what}\n{logs}")
        time.sleep(0.1)
    return value


def feed_sources(server: FeedServer, names: list[str]) -> str:
    return "".join(
        f"""
[[sources]]
name = "{name}"
type = "feed"
url = "{server.url(f"/feeds/{name}.xml")}"
category = "News"
interval = "{INTERVAL:g}s"
"""
        for name in names
    )


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    started = [Node(tmp_path / f"node-{n}", n) for n in (1, 2, 3)]
    yield started
    for node in started:
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(15)


def start_all(nodes: list[Node], database: str, sources: str) -> None:
    for node in nodes:
        node.write_config(database, sources)
    for node in nodes:
        node.start(database)
    eventually(lambda: all(node.healthy() for node in nodes), "every node is up", 30, nodes)


def same_files(nodes: list[Node]) -> dict[str, bytes] | None:
    """Every node's files when all serve the same names and bytes (else None)."""
    first = nodes[0].files()
    return first if all(node.files() == first for node in nodes[1:]) else None


def count_rows(url: str, query: str) -> Any:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
        row = c.execute(query).fetchone()
        return row[0] if row else None


def test_three_nodes_fetch_each_source_once_per_interval(
    http_server: FeedServer, postgres_url: str, nodes: list[Node]
) -> None:
    """20 sources every 2 s for 30 s on three nodes: each fetched about once per interval
    in all, no story stored twice, and every node serves the same bytes."""
    names = [f"s{n:02}" for n in range(20)]
    for i, name in enumerate(names):
        http_server.set_document(f"/feeds/{name}.xml", rss(name, i, 3))
    began = time.monotonic()
    start_all(nodes, postgres_url, feed_sources(http_server, names))
    for moment, count in [(10, 4), (20, 5)]:  # new stories while the nodes run
        time.sleep(max(0.0, began + moment - time.monotonic()))
        for i, name in enumerate(names):
            http_server.set_document(f"/feeds/{name}.xml", rss(name, i, count))
    time.sleep(max(0.0, began + 30 - time.monotonic()))
    elapsed = time.monotonic() - began
    fetches = {name: http_server.count(f"/feeds/{name}.xml") for name in names}
    by_node = Counter(r.user_agent for r in http_server.requests if r.path.startswith("/feeds/"))

    per_source = sum(fetches.values()) / len(names)
    print(
        f"\n{elapsed:.1f} s: {per_source:.1f} fetches per source "
        f"({per_source / (elapsed / INTERVAL):.2f} per interval), "
        f"min {min(fetches.values())}, max {max(fetches.values())}; by node {dict(by_node)}"
    )
    # About once per interval in all: never more (three nodes fetching each source
    # would make it three times), and not much less (every due time is served).
    assert max(fetches.values()) <= elapsed / INTERVAL + 2, fetches
    assert min(fetches.values()) >= elapsed / INTERVAL / 2, fetches
    assert len(by_node) >= 2  # the nodes shared the work

    # Every story once: 5 of its own per source, and 2 that every source carries.
    expected = 20 * 5 + 2
    eventually(
        lambda: count_rows(postgres_url, "SELECT count(*) FROM items") == expected,
        "every story stored",
        10,
        nodes,
    )
    assert count_rows(postgres_url, "SELECT count(*) FROM items") == expected
    twice = "SELECT count(*) FROM (SELECT title FROM items GROUP BY title HAVING count(*) > 1) t"
    assert count_rows(postgres_url, twice) == 0

    # The same files, byte for byte, from every node's HTTP side.
    files = eventually(lambda: same_files(nodes), "the same files on every node", 15, nodes)
    assert {"all.rss", "all.atom", "all.json", "index.html", "feeds.opml"} <= set(files)
    assert any(".archive-" in name for name in files)  # RFC 5005 pages, from the database
    assert files["all.rss"].count(b"<item>") == 5
    assert [node.stop() for node in nodes] == [0, 0, 0]


def test_a_killed_node_s_sources_are_fetched_by_the_others(
    http_server: FeedServer, postgres_url: str, nodes: list[Node]
) -> None:
    """kill -9 of the node fetching a (slow) source: the others fetch it once its lease
    expires (within lease + one interval), and nothing is lost."""
    names = ["slow", "a", "b", "c", "d", "e"]
    for i, name in enumerate(names[1:], 1):
        http_server.set_document(f"/feeds/{name}.xml", rss(name, i, 2))
    stalled = threading.Event()
    arrivals: list[float] = []

    def slow(request: Request) -> Reply:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:  # the first fetch hangs until its node is gone
            stalled.set()
            http_server.wait(30)
        # the newest stories of all, so they lead all.rss
        return Reply(200, rss("slow", 9, 2), {"Content-Type": "application/rss+xml"})

    http_server.route("/feeds/slow.xml", slow)
    start_all(nodes, postgres_url, feed_sources(http_server, names))
    eventually(stalled.is_set, "a node fetches the slow source", 15, nodes)
    store = Store.open(postgres_url)
    try:
        holder, _ = lease_holders(store)["source:slow"]
        [victim] = [n for n in nodes if n.process and n.process.pid == holder_pid(holder)]
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.process.wait(10)
        survivors = [n for n in nodes if n is not victim]

        lease = DEADLINE + LEASE_MARGIN
        eventually(lambda: len(arrivals) >= 2, "another node fetches it", lease + 10, survivors)
        takeover = arrivals[1] - killed
        print(f"\ntakeover {takeover:.1f} s after kill -9 (lease {lease:g} s + {INTERVAL:g} s)")
        assert takeover <= lease + INTERVAL + 1.5

        # Nothing lost: the slow source's stories are stored and served by every survivor.
        def published() -> bool:
            states = store.source_states()
            return all(name in states and states[name].last_success for name in names) and all(
                b"Story 1 from slow" in n.get("/all.rss").content for n in survivors
            )

        eventually(published, "the slow source's stories published", 15, survivors)
        assert len(store.published_items()) == 6 * 2 + 2
        eventually(lambda: same_files(survivors), "the same files on the survivors", 15, nodes)
    finally:
        store.close()
    assert [node.stop() for node in survivors] == [0, 0]


@pytest.mark.parametrize("similarity", [0.85, 0.7])
def test_title_matching_asks_postgresql_as_it_asks_sqlite(
    postgres_server: PostgresServer, tmp_path: Path, similarity: float
) -> None:
    """The same sources into SQLite (indexing every day) and into PostgreSQL asking the
    database for every candidate (through title_parts at 0.85; at 0.7 by LIKE, which is
    case-sensitive there and escapes its own way): the same rows."""
    import test_matching

    policy = MatchPolicy(similarity=similarity)
    indexed = Store.open(str(tmp_path / "indexed.sqlite3"))
    asking = Store.open(postgres_server.create_database())
    asking.max_indexed = 0
    try:
        for source in ("ica", "ilo", "coop", "wire"):
            batch = test_matching.candidates(7, source, 60)
            a = indexed.ingest(source, batch, NOW, policy)
            b = asking.ingest(source, batch, NOW, policy)
            assert (a.new, a.merged, a.updated) == (b.new, b.merged, b.updated)
        first, second = test_matching.contents(indexed), test_matching.contents(asking)
        assert first == second and len(first[0]) < 4 * 60
    finally:
        indexed.close()
        asking.close()


def test_schema_4_gives_the_stored_items_their_digests(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database made by a coopfeed before schema 4, on either database, in chunks."""
    monkeypatch.setattr(schema, "_FILL_ROWS", 2)
    with any_store.engine.begin() as c:
        c.execute(text("ALTER TABLE items DROP COLUMN digest"))
        c.execute(text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
        for n in range(5):
            c.execute(
                text(
                    "INSERT INTO items (guid, title, title_key, link, anchor, summary, categories,"
                    " authors, source, published, updated, first_seen) VALUES (:guid, 'T', 't',"
                    " NULL, 'a', :summary, '[]', '[]', 's', :n, :n, :n)"
                ),
                {"guid": f"g{n}", "summary": f"<p>{n}</p>", "n": 1_700_000_000 + n},
            )
    any_store.migrate()
    columns = ", ".join(schema.DIGESTED)
    with any_store.engine.connect() as c:
        rows = c.execute(text(f"SELECT digest, {columns} FROM items")).mappings().all()
        version = c.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    assert version == str(SCHEMA_VERSION)
    digests = [row["digest"] for row in rows]
    assert digests == [schema.content_digest(row) for row in rows]
    assert len(set(digests)) == 5 and 0 not in digests
    found = any_store.published(summaries=False)
    assert found.digests == {row["guid"]: row["digest"] for row in rows}
    assert {item.summary for item in found.items} == {""}
    assert found.summaries(["g1", "unknown", "g3"]) == {"g1": "<p>1</p>", "g3": "<p>3</p>"}
