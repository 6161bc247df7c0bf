"""Publishing from the store: items read without their summaries, files rendered again
by the store's content digests, summaries loaded only for the files rendered."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from coopfeed.cli import main
from coopfeed.config import load_config
from coopfeed.pipeline import build_feeds, publish_all, refresh
from coopfeed.publish import RENDER_CACHE, publish
from coopfeed.store import Store
from coopfeed.types import Item

Project = Callable[..., Path]
NOW = datetime(2026, 11, 29, tzinfo=UTC)
SMALL_PAGES = "items_per_feed = 2\n"  # the seed's 10 items make archive pages


def published(folder: Path) -> dict[str, bytes]:
    """Every published file (not the hidden ones) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_files_from_the_store_are_those_its_whole_items_make(project: Project) -> None:
    config = load_config(project(extra_site=SMALL_PAGES))
    assert main(["run", "-c", str(config.file)]) == 0  # publishes from the store
    store = Store.open(config.database)
    try:
        everything = store.published_items()
        slim = store.published(summaries=False)
        assert slim.items == [replace(item, summary="") for item in everything]
        assert not slim.complete and store.published().complete
        whole = config.output_dir.parent / "whole"
        feeds = build_feeds(config, everything, NOW)
        publish(feeds, config.site, whole, full_pages=store.archive_pages())
    finally:
        store.close()
    files = published(config.output_dir)
    assert files == published(whole)
    assert any(name.endswith(".archive-1.rss") for name in files)
    # The summaries were loaded for the files that show them.
    summarized = [item.summary for item in everything if item.summary]
    assert len(summarized) >= 5
    pages = [data for name, data in files.items() if name.endswith(".html")]
    assert all(any(summary.encode() in page for page in pages) for summary in summarized)


def test_an_edited_summary_rewrites_the_files_that_show_it_and_no_other(
    project: Project,
) -> None:
    path = project(extra_site=SMALL_PAGES)
    config = load_config(path)
    assert main(["run", "-c", str(path)]) == 0
    listing = config.file.parent / "archive" / "listing.txt"
    old = "ILO officials held a kick-off meeting"
    text = listing.read_text(encoding="utf-8")
    assert text.count(old) == 1
    listing.write_text(text.replace(old, "ILO staff held a first meeting"), encoding="utf-8")
    before = published(config.output_dir)
    store = Store.open(config.database)
    try:
        refresh(config, store, config.sources, NOW)
        report = publish_all(config, store, NOW)
    finally:
        store.close()
    after = published(config.output_dir)
    showing = {name for name, data in after.items() if b"ILO staff held a first meeting" in data}
    assert showing and all(old.encode() in before[name] for name in showing)
    assert set(report.written) == showing
    assert {name for name in after if after[name] != before[name]} == showing


def test_a_file_rewritten_with_its_size_and_times_kept_is_rendered_again(
    project: Project,
) -> None:
    """The render cache trusts a file by its stat status; the change time, which no
    program can set back, tells a file rewritten by hand from the one written."""
    path = project()
    config = load_config(path)
    assert main(["run", "-c", str(path)]) == 0
    page = config.output_dir / "news.html"
    good = page.read_bytes()
    st = page.stat()
    page.write_bytes(good.replace(b"<html", b"<HTML"))
    os.utime(page, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert page.stat().st_size == st.st_size and page.stat().st_mtime_ns == st.st_mtime_ns
    (config.output_dir / "all.json").unlink()  # so that the run publishes
    assert (config.output_dir / RENDER_CACHE).exists()
    assert main(["run", "-c", str(path)]) == 0
    assert page.read_bytes() == good


def test_feeds_are_built_by_category_with_their_filters(project: Project) -> None:
    sources = """
[[sources]]
name = "plain"
type = "archive"
path = "archive"

[[sources]]
name = "picky"
type = "archive"
path = "archive"
exclude = { title = "(?i)webinar" }
"""
    tables = '[filters."Energy"]\nexclude = { summary = "(?i)sponsored" }\n'
    config = load_config(project(sources=sources, tables=tables))

    def item(guid: str, source: str, categories: tuple[str, ...], **fields: str) -> Item:
        return Item(
            guid=guid,
            title=fields.get("title", guid),
            published=NOW,
            updated=NOW,
            link=None,
            summary=fields.get("summary", ""),
            categories=categories,
            source=source,
            anchor=guid,
        )

    stored = [
        item("a", "plain", ("housing",)),
        item("b", "plain", ("Housing", "Energy")),
        item("c", "picky", ("Housing",), title="A webinar"),  # hidden by its source
        item("d", "plain", ("Energy",), summary="Sponsored"),  # hidden in its only category
        item("e", "plain", ("Energy", "Housing"), summary="sponsored"),  # Energy hides it
        item("f", "picky", ("Energy",)),
        item("g", "plain", ()),
    ]
    feeds = {feed.slug: feed for feed in build_feeds(config, stored, NOW)}
    guids = {slug: [one.guid for one in feed.items] for slug, feed in feeds.items()}
    assert guids == {
        "housing": ["a", "b", "e"],
        "energy": ["b", "f"],
        "uncategorized": ["g"],
        "all": ["a", "b", "e", "f", "g"],
    }
    # Categories that make one slug: the feed takes the least of their names.
    assert feeds["housing"].title == "Housing"
    assert feeds["energy"].title == "Energy"
    # An item without a link links to its anchor on its first shown category's page.
    assert feeds["all"].items[2].link == "http://127.0.0.1:8080/housing.html#e"
    assert feeds["all"].items[1].link == "http://127.0.0.1:8080/housing.html#b"
