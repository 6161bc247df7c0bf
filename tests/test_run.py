"""End to end: `coopfeed run` on an archive, read back with feedparser and lxml."""

from __future__ import annotations

import gc
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from feedcheck import check_atom, check_atom_rng, check_rss
from httpserver import FeedServer

from coopfeed.cli import main

Project = Callable[..., Path]
SEED = Path(__file__).resolve().parents[1] / "archive" / "ilo-cooperatives.txt"
DATA = Path(__file__).resolve().parent / "data"
SLUGS = {
    "news": 8,
    "spotlight-interviews-with-co-operators": 1,
    "international-day-of-cooperatives": 1,
    "all": 10,
}


def parse(path: Path) -> feedparser.FeedParserDict:
    return feedparser.parse(io.BytesIO(path.read_bytes()))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_the_seed_archive_publishes_every_category(project: Project) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    for slug, count in SLUGS.items():
        for ext in ("rss", "atom"):
            parsed = parse(feeds / f"{slug}.{ext}")
            assert not parsed.bozo, (slug, ext, parsed.get("bozo_exception"))
            assert len(parsed.entries) == count, (slug, ext)
            dates = [entry.published_parsed for entry in parsed.entries]
            assert dates == sorted(dates, reverse=True)
            assert all(entry.id and entry.link for entry in parsed.entries)
        assert check_rss((feeds / f"{slug}.rss").read_bytes()) == []
        assert check_atom((feeds / f"{slug}.atom").read_bytes()) == []
    news = parse(feeds / "news.rss")
    first = news.entries[0]
    assert first.title.startswith("The cooperative statistics component of the ILO project")
    assert first.id.startswith(
        "tag:coopfeed.example.org,2021-07-29:news/the-cooperative-statistics"
    )
    assert first.link.startswith("http://127.0.0.1:8080/news.html#2021-07-29-")
    assert first.published == "Thu, 29 Jul 2021 10:00:00 +0000"  # noon in Zurich


def test_atom_validates_against_the_rfc_4287_schema(project: Project) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    for slug in SLUGS:
        assert check_atom_rng((config.parent / "feeds" / f"{slug}.atom").read_bytes()) == []


def test_every_link_has_its_anchor_on_the_html_page(project: Project) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    for entry in parse(feeds / "all.rss").entries:
        page, _, anchor = entry.link.removeprefix("http://127.0.0.1:8080/").partition("#")
        html = lxml.html.fromstring((feeds / page).read_bytes())
        [element] = html.xpath(f'//*[@id="{anchor}"]')
        assert entry.title in element.text_content()


def test_a_second_run_changes_no_file(project: Project) -> None:
    config = project()
    thresholds = gc.get_threshold()
    assert main(["run", "-c", str(config)]) == 0
    assert gc.get_threshold() == thresholds  # a run collects less, and then as before
    before = snapshot(config.parent / "feeds")
    assert main(["run", "-c", str(config), "--all"]) == 0
    assert snapshot(config.parent / "feeds") == before


def renumber(entries: list[str]) -> str:
    blocks = [re.sub(r"^\s*\d+\.", f"  {i}.", block, count=1) for i, block in enumerate(entries, 1)]
    return "News, stories and statements on cooperatives\n\n" + "\n".join(blocks)


def seed_entries() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    return re.split(r"(?m)^(?=\s*\d+\.\s)", text)[1:]


def test_when_the_listing_moves_on_no_guid_changes_and_nothing_disappears(project: Project) -> None:
    entries = seed_entries()
    config = project(archive=renumber(entries))
    assert main(["run", "-c", str(config)]) == 0
    before = {e.id: (e.link, e.published) for e in parse(config.parent / "feeds/all.rss").entries}
    fresh = (
        "  1. News\n\n    A new story on top of the listing\n\n    2 August 2021\n\n"
        "    Something happened.\n\n"
    )
    listing = config.parent / "archive" / "listing.txt"
    listing.write_text(renumber([fresh, *entries[:-2]]), encoding="utf-8")  # the oldest fall off
    assert main(["run", "-c", str(config)]) == 0
    after = {e.id: (e.link, e.published) for e in parse(config.parent / "feeds/all.rss").entries}
    assert len(after) == 11
    assert {guid: after[guid] for guid in before} == before
    assert (
        parse(config.parent / "feeds/all.rss").entries[0].title
        == "A new story on top of the listing"
    )


MESSY = (
    "\ufeffNews, stories and statements on cooperatives\r\n\r\n"
    "  1. News\r\n\r\n    The first\u00a0story,\twrapped\r\n    over two lines\r\n\r\n"
    "    3 Aug 2021\r\n\r\n    Summary\u00a0one.\r\n\r\n"
    "  2. News\r\n\r\n    Statement for the day - 3 July 2021\r\n\r\n    02 AUGUST 2021\r\n\r\n"
    "  3. News\r\n\r\n    An entry without a date\r\n\r\n    Its summary.\r\n\r\n"
    "  4. News\r\n\r\n    An impossible date\r\n\r\n    30 Feb 2021\r\n\r\n"
    "  5. News\r\n\r\n    A bell\x07 in the title\r\n\r\n    1 Aug 2021\r\n\r\n"
    "News, stories and statements on cooperatives\r\n\r\n"
    "  1. News\r\n\r\n    The first story, wrapped over two lines\r\n\r\n    03 August 2021\r\n\r\n"
)


def test_a_messy_archive_publishes_every_readable_entry_once(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(archive=MESSY)
    assert main(["run", "-c", str(config)]) == 0
    titles = [e.title for e in parse(config.parent / "feeds/news.atom").entries]
    assert titles == [
        "The first story, wrapped over two lines",
        "Statement for the day - 3 July 2021",
        "A bell in the title",
    ]
    err = capsys.readouterr().err
    assert re.search(r"archive/listing\.txt:18: skipped entry: no date", err), err
    assert re.search(r"archive/listing\.txt:24: skipped entry: impossible date", err), err
    assert check_rss((config.parent / "feeds/news.rss").read_bytes()) == []


def test_items_per_feed_keeps_the_newest(project: Project) -> None:
    config = project(extra_site="items_per_feed = 3")
    assert main(["run", "-c", str(config)]) == 0
    entries = parse(config.parent / "feeds/news.rss").entries
    assert [e.published_parsed[:3] for e in entries] == [
        (2021, 7, 29),
        (2021, 7, 28),
        (2021, 7, 15),
    ]
    page = lxml.html.fromstring((config.parent / "feeds/news.html").read_bytes())
    assert len(page.xpath("//*[starts-with(@id, '2021-')]")) == 8


def test_configuration_errors_exit_2_before_any_work(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(extra_site="items_per_feed = 'many'")
    assert main(["run", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"coopfeed: error: {config}: [site.items_per_feed]: expected an integer, "
        "got a string 'many'\n"
    )
    assert not (config.parent / "feeds").exists()
    assert not (config.parent / "coopfeed.sqlite3").exists()


def test_check_says_ok(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    config = project()
    assert main(["check", "-c", str(config)]) == 0
    assert "ok, 1 sources" in capsys.readouterr().out


def test_status_after_a_run(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    config = project()
    assert main(["status", "-c", str(config)]) == 0
    assert capsys.readouterr().out == "ilo-cooperatives: never fetched\n"
    main(["run", "-c", str(config)])
    assert main(["status", "-c", str(config)]) == 0
    assert re.match(
        r"ilo-cooperatives: last fetch (\S+ \S+), ok, 10 items, next due \S+ \S+\n",
        capsys.readouterr().out,
    )


def test_a_source_whose_files_are_not_text_fails_alone(project: Project) -> None:
    config = project()
    (config.parent / "archive" / "broken.txt").write_bytes(b"\x00\xff\xfe binary")
    assert main(["run", "-c", str(config)]) == 1
    assert len(parse(config.parent / "feeds/all.rss").entries) == 10


def test_the_console_script_runs_without_a_traceback(project: Project) -> None:
    config = project(extra_site="description = 3")
    result = subprocess.run(
        [sys.executable, "-m", "coopfeed", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        f"coopfeed: error: {config}: [site.description]: expected a string, got an integer 3\n"
    )


def test_a_run_that_publishes_tells_serve_nodes_so(project: Project) -> None:
    """`coopfeed run` moves the output version (which `serve` nodes on the same database
    follow) when it writes files, and leaves it when nothing changed."""
    from coopfeed.config import load_config
    from coopfeed.store import Store
    from coopfeed.store.coordination import output_version

    config = project()
    assert main(["run", "-c", str(config)]) == 0
    store = Store.open(load_config(config).database)
    try:
        first = output_version(store)
        assert first is not None
        assert main(["run", "-c", str(config)]) == 0
        assert output_version(store) == first
        listing = config.parent / "archive" / "listing.txt"
        listing.write_text(listing.read_text(encoding="utf-8").replace("Jordan", "Jordanie"))
        assert main(["run", "-c", str(config)]) == 0
        later = output_version(store)
        assert later is not None and later.tag != first.tag
    finally:
        store.close()


TAMPERED = b"<!-- changed by hand -->\n"


def tamper(path: Path) -> bytes:
    """Change a published file's bytes (not its presence); a publish that renders it
    writes it back, one that trusts nothing changed leaves the tampering."""
    path.write_bytes(path.read_bytes() + TAMPERED)
    return path.read_bytes()


def test_a_publish_with_nothing_changed_renders_nothing(project: Project) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    news = config.parent / "feeds" / "news.rss"
    good = news.read_bytes()
    tampered = tamper(news)
    assert main(["run", "-c", str(config)]) == 0
    assert news.read_bytes() == tampered  # the store and configuration did not change

    # A file gone: everything is published again.
    (config.parent / "feeds" / "all.json").unlink()
    assert main(["run", "-c", str(config)]) == 0
    assert news.read_bytes() == good and (config.parent / "feeds" / "all.json").exists()

    # The configuration changed: published again.
    tamper(news)
    config.write_text(config.read_text().replace("Cooperative news", "Co-op news"))
    assert main(["run", "-c", str(config)]) == 0
    assert b"Co-op news" in news.read_bytes()

    # An item removed (the store changed): published again.
    tamper(news)
    guid = parse(news).entries[0].id
    assert main(["remove", "-c", str(config), guid]) == 0
    assert main(["run", "-c", str(config)]) == 0
    assert guid not in {entry.id for entry in parse(news).entries}
    assert TAMPERED not in news.read_bytes()


def test_with_a_max_age_filter_every_publish_renders(project: Project) -> None:
    """Items age out of a max_age filter with the time alone: no shortcut then."""
    config = project(
        sources='[[sources]]\nname = "ilo"\ntype = "archive"\npath = "archive"\nmax_age = "3650d"\n'
    )
    assert main(["run", "-c", str(config)]) == 0
    news = config.parent / "feeds" / "news.rss"
    good = news.read_bytes()
    tamper(news)
    assert main(["run", "-c", str(config)]) == 0
    assert news.read_bytes() == good


def test_sources_are_fetched_and_stored_in_chunks(project: Project) -> None:
    """Five feeds in chunks of two: every one read and stored, in order."""
    from datetime import UTC, datetime

    from coopfeed.config import load_config
    from coopfeed.pipeline import refresh
    from coopfeed.store import Store

    folder = Path(project()).parent
    sources = ""
    for n in range(5):
        text = (DATA / "feeds" / "rss2.xml").read_text(encoding="utf-8")
        (folder / f"feed{n}.xml").write_text(text)
        sources += f'[[sources]]\nname = "f{n}"\ntype = "feed"\nurl = "feed{n}.xml"\n'
    config = load_config(project(sources=sources))
    store = Store.open(config.database)
    try:
        outcomes = refresh(config, store, config.sources, datetime.now(UTC), chunk=2)
        assert [o.name for o in outcomes] == [f"f{n}" for n in range(5)]
        assert all(o.error is None for o in outcomes)
        assert outcomes[0].ingest.new > 0
        assert all(o.ingest.merged == outcomes[0].ingest.new for o in outcomes[1:])
        assert set(store.source_states()) == {f"f{n}" for n in range(5)}
    finally:
        store.close()


def test_a_run_keeps_its_connections_from_chunk_to_chunk(
    project: Project, http_server: FeedServer
) -> None:
    """Six feeds on one server, fetched two at a time over one connection: a run that
    finds them all unchanged opens that connection once, not once per chunk."""
    from datetime import UTC, datetime

    from coopfeed.config import load_config
    from coopfeed.pipeline import refresh
    from coopfeed.store import Store

    text = (DATA / "feeds" / "rss2.xml").read_text(encoding="utf-8")
    sources = ""
    for n in range(6):
        http_server.set_document(f"/feed{n}.xml", text.replace("<title>", f"<title>{n} ", 1))
        sources += f'[[sources]]\nname = "f{n}"\ntype = "feed"\n'
        sources += f'url = "{http_server.url(f"/feed{n}.xml")}"\n'
    config = load_config(project(sources=sources, tables="[fetch]\nconcurrency = 1\n"))
    store = Store.open(config.database)
    try:
        first = refresh(config, store, config.sources, datetime.now(UTC), chunk=2)
        assert all(o.error is None for o in first) and first[0].ingest.new
        http_server.reset()
        again = refresh(config, store, config.sources, datetime.now(UTC), chunk=2)
        assert [o.not_modified for o in again] == [True] * 6
        assert len(http_server.requests) == 6 and http_server.connections == 1
    finally:
        store.close()


def test_each_source_is_stored_as_its_result_arrives(project: Project) -> None:
    """While the next sources are still being parsed, the ones parsed are stored."""
    from datetime import UTC, datetime

    from coopfeed.config import load_config
    from coopfeed.pipeline import fetch_sources, store_fetched
    from coopfeed.store import Store

    folder = Path(project()).parent
    sources = ""
    for n in range(2):
        (folder / f"feed{n}.xml").write_text((DATA / "feeds" / "rss2.xml").read_text())
        sources += f'[[sources]]\nname = "f{n}"\ntype = "feed"\nurl = "feed{n}.xml"\n'
    config = load_config(project(sources=sources))
    store = Store.open(config.database)
    now = datetime.now(UTC)
    try:
        results = fetch_sources(config, store, config.sources, now)
        stored_before_second: list[int] = []

        def arriving() -> Iterator[Any]:
            yield results[0]
            stored_before_second.append(store.count_items())
            yield results[1]

        sources_given = [source for source, _ in results]
        outcomes = store_fetched(config, store, arriving(), now, sources=sources_given)
        assert [o.name for o in outcomes] == ["f0", "f1"]
        assert stored_before_second[0] > 0 and outcomes[0].ingest.new > 0
    finally:
        store.close()
