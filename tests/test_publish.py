"""Tests of coopfeed.publish: real files under tmp_path, read back with feedparser and lxml."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from conftest import BASE
from feedcheck import check_atom, check_atom_rng, check_rss
from lxml import etree

from coopfeed.exceptions import PublishError
from coopfeed.publish import (
    PublishReport,
    publish,
    render_atom,
    render_html,
    render_rss,
    sweep_temp_files,
    write_if_changed,
)
from coopfeed.publish.archive import paginate
from coopfeed.publish.files import TEMP_SUFFIX, FileGroup, file_digest, stage
from coopfeed.types import Feed, Item, Site

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SCRIPT_TITLE = "Café <script>alert('x')</script> & Co-op"


@pytest.fixture
def items() -> tuple[Item, ...]:
    """Five items, newest first, as the caller hands them over."""
    return (
        Item(
            guid="tag:coopfeed.example.org,2024-03-01:news/cafe",
            title=SCRIPT_TITLE,
            published=T0,
            updated=T0 + timedelta(days=2),
            link=f"{BASE}news.html#cafe",
            summary="<p>Worker <b>co-ops</b> &amp; more</p>",
            categories=("News",),
            authors=("Zoë Ångström", "Ann Lee"),
            anchor="cafe",
        ),
        Item(
            guid="https://example.org/news/2",
            title="Permalink guid",
            published=T0 - timedelta(days=1),
            updated=T0 - timedelta(days=1),
            link="https://example.org/news/2",
            summary="<p>Second</p>",
            anchor="second",
        ),
        Item(
            guid="12345",
            title="Кооперативы и 協同組合",
            published=T0 - timedelta(days=2),
            updated=T0 - timedelta(days=2),
            link="https://example.org/news/3",
            authors=("Ренат",),
            anchor="third",
        ),
        Item(
            guid="tag:coopfeed.example.org,2021-07-29:news/old",
            title="Older, beyond items_per_feed",
            published=T0 - timedelta(days=300),
            updated=T0 + timedelta(days=30),  # updated later: still not in the feeds
            link=f"{BASE}news.html#old",
            anchor="old",
        ),
        Item(
            guid="tag:coopfeed.example.org,2021-07-01:news/oldest",
            title="Oldest",
            published=T0 - timedelta(days=400),
            updated=T0 - timedelta(days=400),
            link=f"{BASE}news.html#oldest",
            summary="<p>The first one</p>",
            anchor="oldest",
        ),
    )


@pytest.fixture
def feed(items: tuple[Item, ...]) -> Feed:
    return Feed(slug="news", title="News", items=items)


def parse(data: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(io.BytesIO(data))
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --- RSS ---------------------------------------------------------------------------------


def test_rss_reads_back(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    parsed = parse(render_rss(feed, site))

    assert parsed.version == "rss20"
    assert parsed.feed.title == "Cooperative news: News"
    assert parsed.feed.link == f"{BASE}news.html"
    assert parsed.feed.subtitle == site.description
    assert [e.id for e in parsed.entries] == [item.guid for item in items[:3]]
    assert [e.title for e in parsed.entries] == [item.title for item in items[:3]]
    assert [e.link for e in parsed.entries] == [item.link for item in items[:3]]
    assert [a.name for a in parsed.entries[0].authors] == ["Zoë Ångström", "Ann Lee"]  # dc:creator
    assert "authors" not in parsed.entries[1]


def test_rss_structure(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    channel = etree.fromstring(render_rss(feed, site)).find("channel")

    self_link = channel.find(f"{ATOM}link")
    assert self_link.attrib == {
        "href": f"{BASE}news.rss",
        "rel": "self",
        "type": "application/rss+xml",
    }
    assert channel.findtext("link") == f"{BASE}news.html"
    rss_items = channel.findall("item")
    assert [i.find("guid").get("isPermaLink") for i in rss_items] == ["false", "true", "false"]
    assert [i.findtext("guid") for i in rss_items] == [item.guid for item in items[:3]]
    assert [c.text for c in rss_items[0].findall(f"{DC}creator")] == ["Zoë Ångström", "Ann Lee"]
    assert rss_items[1].find(f"{DC}creator") is None
    assert channel.find(".//item/author") is None  # RSS <author> must be an email address
    assert rss_items[0].findtext("description") == items[0].summary
    assert rss_items[0].findtext("title") == SCRIPT_TITLE  # plain text, escaped in the XML
    assert b"&lt;script&gt;" in render_rss(feed, site)


def test_rss_dates_come_from_the_items(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    channel = etree.fromstring(render_rss(feed, site)).find("channel")

    published = [parsedate_to_datetime(i.findtext("pubDate")) for i in channel.iter("item")]
    assert published == [item.published for item in items[:3]]
    assert all(moment.tzinfo is not None for moment in published)
    # The newest `updated` of the items in the feed; items[3] is newer but not included.
    last_build = parsedate_to_datetime(channel.findtext("lastBuildDate"))
    assert last_build == items[0].updated
    assert channel.findtext("lastBuildDate") == "Sun, 03 Mar 2024 09:30:00 +0000"


def test_rss_passes_the_offline_validator(feed: Feed, site: Site) -> None:
    assert check_rss(render_rss(feed, site)) == []


def test_all_feed_is_titled_with_the_site_title(feed: Feed, site: Site) -> None:
    everything = replace(feed, slug="all", title=site.title)
    assert parse(render_rss(everything, site)).feed.title == "Cooperative news"
    assert parse(render_atom(everything, site)).feed.title == "Cooperative news"


# --- Atom --------------------------------------------------------------------------------


def test_atom_reads_back(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    parsed = parse(render_atom(feed, site))

    assert parsed.version == "atom10"
    assert parsed.feed.id == f"{BASE}news.atom"
    assert parsed.feed.title == "Cooperative news: News"
    assert parsed.feed.author == "Coopfeed editors"
    links = {link.rel: link for link in parsed.feed.links}
    assert links["self"].href == f"{BASE}news.atom"
    assert links["self"].type == "application/atom+xml"
    assert links["alternate"].href == f"{BASE}news.html"
    assert [e.title for e in parsed.entries] == [item.title for item in items[:3]]
    assert [e.link for e in parsed.entries] == [item.link for item in items[:3]]
    assert [a.name for a in parsed.entries[0].authors] == ["Zoë Ångström", "Ann Lee"]
    assert parsed.entries[0].summary_detail.type == "text/html"
    assert "authors" not in parsed.entries[1]  # the feed's author covers it


def test_atom_ids(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    entries = etree.fromstring(render_atom(feed, site)).findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]

    assert ids[:2] == [items[0].guid, items[1].guid]
    # "12345" is no URI: the entry gets a urn:uuid derived from the guid alone.
    assert ids[2].startswith("urn:uuid:")
    moved = Feed("other", "Other", (replace(items[2], title="Renamed", link=None),))
    assert etree.fromstring(render_atom(moved, site)).findtext(f"{ATOM}entry/{ATOM}id") == ids[2]


def test_atom_dates_come_from_the_items(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    root = etree.fromstring(render_atom(feed, site))
    entries = root.findall(f"{ATOM}entry")

    updated = [datetime.fromisoformat(e.findtext(f"{ATOM}updated")) for e in entries]
    published = [datetime.fromisoformat(e.findtext(f"{ATOM}published")) for e in entries]
    assert updated == [item.updated for item in items[:3]]
    assert published == [item.published for item in items[:3]]
    assert all(moment.tzinfo is not None for moment in updated + published)
    assert datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == items[0].updated


def test_atom_text_and_html(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    entry = etree.fromstring(render_atom(feed, site)).find(f"{ATOM}entry")

    title = entry.find(f"{ATOM}title")
    assert title.text == SCRIPT_TITLE
    assert title.get("type") in (None, "text")
    summary = entry.find(f"{ATOM}summary")
    assert summary.get("type") == "html"
    assert summary.text == items[0].summary


def test_atom_passes_the_offline_validator(feed: Feed, site: Site) -> None:
    assert check_atom(render_atom(feed, site)) == []


def test_atom_matches_the_relax_ng_schema(feed: Feed, site: Site) -> None:
    assert check_atom_rng(render_atom(feed, site)) == []


def test_entry_without_link_or_summary_has_content(site: Site) -> None:
    bare = Item(guid="tag:coopfeed.example.org,2024:x", title="A & B", published=T0, updated=T0)
    data = render_atom(Feed("news", "News", (bare,)), site)

    content = etree.fromstring(data).find(f"{ATOM}entry/{ATOM}content")
    assert content is not None
    assert content.text == "A & B"
    assert content.get("type") == "text"
    assert check_atom(data) == []
    assert check_atom_rng(data) == []
    assert check_rss(render_rss(Feed("news", "News", (bare,)), site)) == []


# --- Both formats ------------------------------------------------------------------------


def test_items_per_feed_is_respected(feed: Feed, site: Site) -> None:
    for size in (1, 2, 5, 10):
        sized = replace(site, items_per_feed=size)
        assert len(parse(render_rss(feed, sized)).entries) == min(size, 5)
        assert len(parse(render_atom(feed, sized)).entries) == min(size, 5)


def test_rendering_is_deterministic(feed: Feed, site: Site) -> None:
    """Each call builds its own FeedGenerator; any date taken from the clock would differ."""
    first_rss, first_atom = render_rss(feed, site), render_atom(feed, site)
    time.sleep(0.01)
    assert render_rss(feed, site) == first_rss
    assert render_atom(feed, site) == first_atom
    assert render_html(feed, site) == render_html(feed, site)
    # Every date in the output is one of the items' dates.
    item_dates = {d for item in feed.items for d in (item.published, item.updated)}
    rss = etree.fromstring(first_rss)
    rss_dates = [parsedate_to_datetime(e.text) for e in rss.iter("pubDate", "lastBuildDate")]
    atom = etree.fromstring(first_atom)
    atom_dates = [
        datetime.fromisoformat(e.text) for e in atom.iter(f"{ATOM}updated", f"{ATOM}published")
    ]
    assert len(rss_dates) == 4 and len(atom_dates) == 7
    assert set(rss_dates + atom_dates) <= item_dates


def test_empty_feed_is_valid_and_deterministic(site: Site) -> None:
    empty = Feed("all", site.title, ())
    rss, atom = render_rss(empty, site), render_atom(empty, site)

    assert check_rss(rss) == []
    assert check_atom(atom) == []
    assert check_atom_rng(atom) == []
    assert etree.fromstring(atom).findtext(f"{ATOM}updated") == "1970-01-01T00:00:00+00:00"
    assert render_rss(empty, site) == rss


def test_hub_link(feed: Feed, site: Site) -> None:
    hub = "https://hub.example.org/"
    with_hub = replace(site, hub=hub)

    rss = etree.fromstring(render_rss(feed, with_hub))
    atom = etree.fromstring(render_atom(feed, with_hub))
    assert [e.get("href") for e in rss.iterfind(f"channel/{ATOM}link[@rel='hub']")] == [hub]
    assert [e.get("href") for e in atom.iterfind(f"{ATOM}link[@rel='hub']")] == [hub]
    assert rss.findtext("channel/link") == f"{BASE}news.html"  # still the HTML page
    assert check_rss(render_rss(feed, with_hub)) == []
    assert check_atom_rng(render_atom(feed, with_hub)) == []
    assert b'rel="hub"' not in render_rss(feed, site)


def test_guid_equal_to_a_link_that_is_no_url_is_not_a_permalink(site: Site) -> None:
    odd = Item(guid="not a url", title="Odd", published=T0, updated=T0, link="not a url")
    guid = etree.fromstring(render_rss(Feed("news", "News", (odd,)), site)).find(".//guid")
    assert guid.get("isPermaLink") == "false"


def test_dates_are_written_in_utc(site: Site) -> None:
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    local = Item(
        guid="tag:coopfeed.example.org,2024:k",
        title="Nepal",
        published=datetime(2024, 3, 1, 5, 45, tzinfo=kathmandu),
        updated=datetime(2024, 3, 1, 5, 45, tzinfo=kathmandu),
        link=BASE,
    )
    one = Feed("news", "News", (local,))
    rss, atom = render_rss(one, site), render_atom(one, site)
    assert etree.fromstring(rss).findtext(".//pubDate") == "Fri, 01 Mar 2024 00:00:00 +0000"
    assert etree.fromstring(atom).findtext(f"{ATOM}updated") == "2024-03-01T00:00:00+00:00"
    assert check_rss(rss) == [] and check_atom(atom) == []


def test_naive_dates_are_a_bug_upstream(site: Site) -> None:
    naive = Item(guid="g", title="t", published=datetime(2024, 1, 1), updated=T0, link=BASE)
    with pytest.raises(ValueError, match="timezone"):
        render_rss(Feed("news", "News", (naive,)), site)


# --- The offline validator itself --------------------------------------------------------


def test_feedcheck_finds_problems() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title><link>x</link><description>d</description>
      <lastBuildDate>Mon, 03 Mar 2024 09:30:00 +0000</lastBuildDate>
      <item><link>http://e.org/1</link><guid>123</guid><pubDate>3 Mar 24 09:30 GMT</pubDate>
      <author>Ann</author></item></channel></rss>"""
    problems = check_rss(rss)
    assert any("atom:link" in p for p in problems)
    assert any("channel link" in p for p in problems)
    assert any("Mon but 2024-03-03 is a Sun" in p for p in problems)
    assert any("neither title nor description" in p for p in problems)
    assert any("isPermaLink" in p for p in problems)
    assert any("4-digit year" in p for p in problems)
    assert any("email" in p for p in problems)

    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><id>news</id><title>t</title>
      <updated>2024-03-01 09:30:00</updated><entry><id>tag:a.org,2024:1</id><title>e</title>
      <updated>2024-03-01T09:30:00Z</updated></entry></feed>"""
    problems = check_atom(atom)
    assert any("feed id" in p for p in problems)
    assert any("RFC 3339" in p for p in problems)
    assert any("no author" in p for p in problems)
    assert any("self" in p for p in problems)
    assert any("neither an alternate link nor content" in p for p in problems)
    assert check_atom_rng(atom) != []
    assert check_rss(b"<rss") != []


# --- HTML --------------------------------------------------------------------------------


def test_html_page(feed: Feed, site: Site, items: tuple[Item, ...]) -> None:
    data = render_html(feed, site)
    page = lxml.html.document_fromstring(data.decode("utf-8"))

    assert data.startswith(b"<!DOCTYPE html>")
    assert page.get("lang") == "en"
    assert page.find(".//meta[@charset]").get("charset") == "utf-8"
    assert page.findtext(".//h1") == "Cooperative news: News"
    feeds = {e.get("type"): e.get("href") for e in page.iterfind(".//head/link[@rel='alternate']")}
    assert feeds == {
        "application/rss+xml": f"{BASE}news.rss",
        "application/atom+xml": f"{BASE}news.atom",
        "application/feed+json": f"{BASE}news.json",
    }
    assert page.find(".//nav/a").get("href") == "index.html"
    # The newest items_per_feed (3) and the two older ones that link to an anchor here.
    articles = page.findall(".//article")
    assert [a.get("id") for a in articles] == [item.anchor for item in items]
    assert page.find(".//script") is None
    first = page.get_element_by_id("cafe")
    assert first.findtext(".//h2/a") == SCRIPT_TITLE
    assert first.find(".//h2/a").get("href") == items[0].link
    assert first.find(".//time").get("datetime") == "2024-03-01T09:30:00Z"
    assert first.findtext(".//time") == "1 March 2024"
    assert first.find(".//b").text == "co-ops"  # the summary is markup
    assert "Zoë Ångström, Ann Lee" in first.text_content()


def test_an_html_page_holds_the_newest_items_and_every_anchor_linked_to_it(
    feed: Feed, site: Site, items: tuple[Item, ...]
) -> None:
    """all.html: the newest 3; the older items link to news.html, not here."""
    everything = Feed("all", "Everything", items)
    page = lxml.html.document_fromstring(render_html(everything, site).decode("utf-8"))
    assert [a.get("id") for a in page.findall(".//article")] == [i.anchor for i in items[:3]]
    # With a larger items_per_feed every item is there.
    wide = replace(site, items_per_feed=50)
    page = lxml.html.document_fromstring(render_html(everything, wide).decode("utf-8"))
    assert [a.get("id") for a in page.findall(".//article")] == [i.anchor for i in items]


def test_html_refuses_script_links(site: Site) -> None:
    evil = Item(
        guid="g", title="t", published=T0, updated=T0, link="javascript:alert(1)", anchor="a"
    )
    page = lxml.html.document_fromstring(render_html(Feed("news", "News", (evil,)), site))
    assert page.find(".//article//a") is None
    assert page.get_element_by_id("a").findtext(".//h2") == "t"


# --- Files -------------------------------------------------------------------------------


def test_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "news.rss"

    assert write_if_changed(path, b"one") is True
    assert path.read_bytes() == b"one"
    assert path.stat().st_mode & 0o777 == 0o644
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert write_if_changed(path, b"one") is False
    assert path.stat().st_mtime_ns == before
    assert write_if_changed(path, b"two") is True
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news.rss"]  # no temp file left


def test_a_file_group_puts_its_files_in_place_together_in_order(tmp_path: Path) -> None:
    (tmp_path / "same.rss").write_bytes(b"same")
    before = (tmp_path / "same.rss").stat().st_mtime_ns
    group = FileGroup(tmp_path)
    assert group.write(tmp_path / "a.html", b"page") is True
    assert group.write(tmp_path / "same.rss", b"same") is False  # left alone
    assert group.write(tmp_path / "b.rss", b"feed") is True
    assert not (tmp_path / "a.html").exists()  # not before the group is committed
    group.commit()
    assert (tmp_path / "a.html").read_bytes() == b"page"
    assert (tmp_path / "b.rss").read_bytes() == b"feed"
    assert (tmp_path / "b.rss").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.html").stat().st_mtime_ns <= (tmp_path / "b.rss").stat().st_mtime_ns
    assert (tmp_path / "same.rss").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.rss", "same.rss"]


def test_a_file_group_commits_itself_when_full_and_discards_what_is_left(tmp_path: Path) -> None:
    group = FileGroup(tmp_path, max_bytes=10)
    group.write(tmp_path / "a.rss", b"12345")
    group.write(tmp_path / "a.rss", b"67890")  # the same file again: the first goes first
    assert (tmp_path / "a.rss").read_bytes() == b"12345"
    group.write(tmp_path / "b.rss", b"abcdef")  # 11 bytes staged: committed
    assert (tmp_path / "a.rss").read_bytes() == b"67890"
    assert (tmp_path / "b.rss").read_bytes() == b"abcdef"
    group.write(tmp_path / "c.rss", b"x")
    group.discard()
    group.commit()  # nothing left to put in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rss", "b.rss"]


def test_files_staged_elsewhere_join_a_group(tmp_path: Path) -> None:
    """What a worker process that rendered a file does (stage) and the publishing
    process then (add): the bytes never travel between them."""
    (tmp_path / "same.rss").write_bytes(b"same")
    kept = stage(tmp_path / "same.rss", b"same")
    new = stage(tmp_path / "new.rss", b"new")
    assert kept.temp is None and new.temp is not None
    assert new.digest == file_digest(b"new") != kept.digest
    group = FileGroup(tmp_path)
    assert group.add(kept) is False
    assert group.add(new) is True
    with pytest.raises(ValueError, match="twice"):
        group.add(new)
    assert not (tmp_path / "new.rss").exists()
    group.commit()
    assert (tmp_path / "new.rss").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.rss", "same.rss"]


def test_written_files_are_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_if_changed(tmp_path / "a.html", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.html").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_state_and_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "news.rss").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_if_changed(tmp_path / "news.rss", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news.rss"]


def test_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    stale = tmp_path / f".news.rss.abcd1234{TEMP_SUFFIX}"
    fresh = tmp_path / f".news.atom.efgh5678{TEMP_SUFFIX}"
    others = [tmp_path / "news.rss", tmp_path / ".hidden", tmp_path / "notes.tmp"]
    for path in [stale, fresh, *others]:
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in [stale, *others]:
        os.utime(path, (an_hour_ago, an_hour_ago))
    (tmp_path / f".folder{TEMP_SUFFIX}").mkdir()

    assert sweep_temp_files(tmp_path) == 1
    assert not stale.exists()
    assert fresh.exists() and all(path.exists() for path in others)
    assert sweep_temp_files(tmp_path, older_than=0) == 1
    assert not fresh.exists()
    assert (tmp_path / f".folder{TEMP_SUFFIX}").is_dir()
    assert sweep_temp_files(tmp_path / "missing") == 0


# --- publish() ---------------------------------------------------------------------------


def test_publish_writes_then_leaves_files_alone(feed: Feed, site: Site, tmp_path: Path) -> None:
    out = tmp_path / "feeds" / "deep"
    everything = Feed("all", site.title, feed.items)

    report = publish([feed, everything], site, out)
    # 5 items, 3 per feed: the 2 oldest go to an archive page, still open (not full).
    names = [
        f"{slug}.{ext}"
        for slug in ("news", "all")
        for ext in ("html", "archive-1.rss", "archive-1.atom", "rss", "atom", "json")
    ] + ["index.html", "feeds.opml"]
    topics = [f"{BASE}{slug}.{ext}" for slug in ("news", "all") for ext in ("rss", "atom", "json")]
    assert report == PublishReport(
        written=tuple(names), unchanged=(), new_pages={}, changed_feeds=tuple(topics)
    )
    hidden = [".coopfeed-published", ".coopfeed-render"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, *hidden])
    current = paginate(feed, site.items_per_feed, {}).current
    assert (out / "news.rss").read_bytes() == render_rss(feed, site, current)
    assert (out / "news.atom").read_bytes() == render_atom(feed, site, current)
    assert (out / "news.html").read_bytes() == render_html(feed, site)
    assert all((out / name).stat().st_mode & 0o777 == 0o644 for name in names)

    before = {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in names}
    time.sleep(0.01)
    again = publish([feed, everything], site, out)
    assert again == PublishReport(
        written=(), unchanged=tuple(names), new_pages={}, changed_feeds=()
    )
    after = {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in names}
    assert after == before


def test_publish_rewrites_only_what_changed(feed: Feed, site: Site, tmp_path: Path) -> None:
    publish([feed], site, tmp_path)
    # An item beyond items_per_feed changes: only the HTML page and its archive page show it.
    changed = list(feed.items)
    changed[4] = replace(changed[4], title="Oldest, retitled")
    report = publish([replace(feed, items=tuple(changed))], site, tmp_path)
    assert report == PublishReport(
        written=("news.html", "news.archive-1.rss", "news.archive-1.atom"),
        unchanged=("news.rss", "news.atom", "news.json", "index.html", "feeds.opml"),
        new_pages={},
        changed_feeds=(),
    )


def test_files_whose_inputs_did_not_change_are_not_rendered_again(
    feed: Feed, site: Site, tmp_path: Path
) -> None:
    publish([feed], site, tmp_path)
    page = tmp_path / "news.archive-1.rss"
    good = page.read_bytes()
    cache = json.loads((tmp_path / ".coopfeed-render").read_bytes())
    assert set(cache["files"]) == {
        f"news.{ext}" for ext in ("archive-1.rss", "archive-1.atom", "html", "rss", "atom", "json")
    }
    # The cache vouches for a file by its bytes: another file with the bytes it recorded
    # is left as it is (a publish that rendered the page would rewrite it).
    other = good.replace(b"<rss", b"<RSS")
    cache["files"]["news.archive-1.rss"][1] = hashlib.blake2b(other, digest_size=16).hexdigest()
    (tmp_path / ".coopfeed-render").write_text(json.dumps(cache))
    page.write_bytes(other)
    publish([feed], site, tmp_path)
    assert page.read_bytes() == other
    # A file changed by hand: rendered and written again.
    page.write_bytes(other + b"\n")
    publish([feed], site, tmp_path)
    assert page.read_bytes() == good


@pytest.mark.parametrize(
    "cache",
    [b"", b"{not json", b"[1, 2]", b'{"files": {"news.archive-1.rss": 7}}', b'{"files": 1}'],
)
def test_a_missing_or_broken_render_cache_renders_everything(
    feed: Feed, site: Site, tmp_path: Path, cache: bytes
) -> None:
    publish([feed], site, tmp_path)
    page = tmp_path / "news.archive-1.rss"
    good = page.read_bytes()
    page.write_bytes(good.replace(b"<rss", b"<RSS"))
    (tmp_path / ".coopfeed-render").write_bytes(cache)
    publish([feed], site, tmp_path)
    assert page.read_bytes() == good
    (tmp_path / ".coopfeed-render").unlink()
    publish([feed], site, tmp_path)
    assert page.read_bytes() == good


def test_publish_sweeps_stale_temp_files(feed: Feed, site: Site, tmp_path: Path) -> None:
    leftover = tmp_path / f".news.rss.zzzz9999{TEMP_SUFFIX}"
    leftover.write_bytes(b"torn")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    publish([feed], site, tmp_path)
    assert not leftover.exists()


def test_publish_error_names_the_path(feed: Feed, site: Site, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    out = blocker / "feeds"  # under a regular file: NotADirectoryError, even for root

    with pytest.raises(PublishError, match="Not a directory") as caught:
        publish([feed], site, out)
    assert str(out) in str(caught.value)
    assert isinstance(caught.value.__cause__, NotADirectoryError)


def test_publish_error_on_write(feed: Feed, site: Site, tmp_path: Path) -> None:
    (tmp_path / "news.rss").mkdir()
    with pytest.raises(PublishError) as caught:
        publish([feed], site, tmp_path)
    assert str(caught.value) == f"cannot write {tmp_path / 'news.rss'}: Is a directory"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


@pytest.mark.parametrize("slug", ["../x", "a/b", ".hidden", "", "news"])
def test_publish_refuses_unsafe_or_repeated_slugs(
    feed: Feed, site: Site, tmp_path: Path, slug: str
) -> None:
    with pytest.raises(ValueError, match="slug"):
        publish([feed, replace(feed, slug=slug)], site, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written before the bug surfaced
