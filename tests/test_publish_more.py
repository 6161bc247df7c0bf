"""JSON Feed, index.html, feeds.opml and RFC 5005 archives: real files under tmp_path, read
back with feedparser, lxml and json, checked with the offline validators of feedcheck."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from conftest import BASE
from feedcheck import check_atom, check_atom_rng, check_json_feed, check_opml, check_rss
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from coopfeed.publish import RENDER_CACHE, publish, render_json, render_opml
from coopfeed.publish.archive import newest_first, paginate
from coopfeed.types import Feed, Item, Site

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SCRIPT_TITLE = "Café <script>alert('x')</script> & Co-op"
HUB = "https://hub.example.org/"


def item(n: int, *, day: int | None = None, **fields: object) -> Item:
    """Item ``n``, published on day ``n`` after T0 unless ``day`` says otherwise."""
    published = T0 + timedelta(days=n if day is None else day)
    values: dict[str, object] = {
        "guid": f"tag:coopfeed.example.org,2024:news/{n}",
        "title": f"Story {n}",
        "published": published,
        "updated": published,
        "link": f"{BASE}news.html#s{n}",
        "summary": f"<p>Summary <b>{n}</b></p>",
        "categories": ("News",),
        "anchor": f"s{n}",
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


def items(numbers: range | list[int]) -> tuple[Item, ...]:
    """The items, newest first, as the caller hands them over."""
    return tuple(newest_first(item(n) for n in numbers))


def parse(data: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(io.BytesIO(data))
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def local(out: Path, url: str) -> Path:
    assert url.startswith(BASE), url
    return out / url.removeprefix(BASE)


def links(path: Path) -> dict[str, str]:
    """rel -> href of the feed-level atom:link elements of an RSS or Atom file."""
    root = etree.parse(str(path)).getroot()
    head = root.find("channel") if root.tag == "rss" else root
    return {e.get("rel"): e.get("href") for e in head.findall(f"{ATOM}link")}


def walk(out: Path, slug: str, ext: str) -> tuple[list[str], list[Path]]:
    """Follow prev-archive from the current document: every entry id met, every file read."""
    ids: list[str] = []
    paths: list[Path] = []
    url: str | None = f"{BASE}{slug}.{ext}"
    while url:
        path = local(out, url)
        assert path not in paths, f"prev-archive loops back to {path.name}"
        paths.append(path)
        ids += [entry.id for entry in parse(path.read_bytes()).entries]
        url = links(path).get("prev-archive")
    return ids, paths


def guids(path: Path) -> list[str]:
    root = etree.parse(str(path)).getroot()
    return [guid.text for guid in root.iter("guid")]


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


# --- JSON Feed ---------------------------------------------------------------------------


def test_json_feed_is_valid_with_the_rss_guids(site: Site, tmp_path: Path) -> None:
    news = Feed(
        "news",
        "News",
        (
            item(9, title=SCRIPT_TITLE, authors=("Zoë Ångström", "Ann Lee")),
            item(8, guid="12345", summary=""),  # no URI: Atom gets a urn:uuid, JSON the guid
            item(7, link=None),
            *items(range(6, 0, -1)),
        ),
    )
    publish([news, Feed("all", site.title, news.items)], site, tmp_path)

    for slug in ("news", "all"):
        data = (tmp_path / f"{slug}.json").read_bytes()
        assert check_json_feed(data) == []
        document = json.loads(data)
        assert [entry["id"] for entry in document["items"]] == guids(tmp_path / f"{slug}.rss")
    document = json.loads((tmp_path / "news.json").read_bytes())
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Cooperative news: News"
    assert document["home_page_url"] == f"{BASE}news.html"
    assert document["feed_url"] == f"{BASE}news.json"
    assert document["description"] == site.description
    assert document["language"] == "en"
    assert document["authors"] == [{"name": "Coopfeed editors"}]
    assert "hubs" not in document
    first, second, third = document["items"]
    assert first == {
        "id": "tag:coopfeed.example.org,2024:news/9",
        "url": f"{BASE}news.html#s9",
        "title": SCRIPT_TITLE,
        "content_html": "<p>Summary <b>9</b></p>",
        "date_published": "2024-03-10T09:30:00+00:00",
        "date_modified": "2024-03-10T09:30:00+00:00",
        "authors": [{"name": "Zoë Ångström"}, {"name": "Ann Lee"}],
        "tags": ["News"],
    }
    assert second["id"] == "12345" and second["content_text"] == "Story 8"
    assert "content_html" not in second
    assert "url" not in third
    assert "Zoë".encode() in (tmp_path / "news.json").read_bytes()  # not \u-escaped


def test_json_feed_carries_the_hub(site: Site) -> None:
    feed = Feed("news", "News", items(range(2, 0, -1)))
    document = json.loads(render_json(feed, replace(site, hub=HUB)))
    assert document["hubs"] == [{"type": "WebSub", "url": HUB}]
    assert check_json_feed(render_json(feed, replace(site, hub=HUB))) == []


def test_json_feed_is_deterministic(site: Site) -> None:
    feed = Feed("news", "News", items(range(5, 0, -1)))
    first = render_json(feed, site)
    time.sleep(0.01)
    assert render_json(feed, site) == first
    assert first.endswith(b"}\n")
    empty = render_json(Feed("all", site.title, ()), site)
    assert json.loads(empty)["items"] == [] and check_json_feed(empty) == []


def test_check_json_feed_finds_problems() -> None:
    bad = {
        "version": "https://jsonfeed.org/version/1",
        "title": "",
        "feed_url": "feeds/news.json",
        "hubs": [{"url": "https://hub.example.org/"}],
        "authors": [{}],
        "items": [
            {"id": 1, "content_text": "x"},
            {"id": "a", "url": "/relative", "date_published": "2024-03-01 09:30"},
            {"id": "a", "content_html": "<p>x</p>", "tags": "News", "author": {"name": "A"}},
        ],
    }
    problems = check_json_feed(json.dumps(bad).encode())
    for words in (
        "version",
        "no title",
        "no home_page_url",
        "feed_url is not an absolute URL",
        "hub 1 has no type",
        "author 1 has no name",
        "item 1 has no id string",
        "item 2 url is not an absolute URL",
        "item 2 has neither content_html nor content_text",
        "item 2 date_published is not an RFC 3339",
        "item 3 repeats id",
        "item 3 tags",
        "item 3 has author",
    ):
        assert any(words in problem for problem in problems), (words, problems)
    assert check_json_feed(b"[]") == ["top level is a list, not an object"]
    assert check_json_feed(b"\xff") != []


# --- index.html --------------------------------------------------------------------------


def test_index_links_and_autodiscovers_every_feed(site: Site, tmp_path: Path) -> None:
    news = Feed("news", "News", items(range(8, 0, -1)))
    odd = Feed("odd", SCRIPT_TITLE, (item(20, guid="tag:coopfeed.example.org,2024:odd"),))
    empty = Feed("empty", "Nothing yet", ())
    everything = Feed("all", site.title, tuple(newest_first(news.items + odd.items)))
    feeds = [empty, news, odd, everything]
    publish(feeds, site, tmp_path)
    data = (tmp_path / "index.html").read_bytes()
    page = lxml.html.document_fromstring(data.decode("utf-8"))

    assert data.startswith(b"<!DOCTYPE html>")
    assert page.get("lang") == "en"
    assert page.findtext(".//h1") == "Cooperative news"
    assert page.find(".//script") is None  # the category title is text, not markup
    assert b"&lt;script&gt;" in data
    assert page.find(".//main//table/caption") is not None
    assert [th.get("scope") for th in page.iterfind(".//thead//th")] == ["col"] * 4

    discovered = [
        (e.get("type"), e.get("title"), e.get("href"))
        for e in page.iterfind(".//head/link[@rel='alternate']")
    ]
    expected = []
    for feed in [everything, empty, news, odd]:  # the feed of everything first, then in order
        title = site.title if feed.slug == "all" else f"{site.title}: {feed.title}"
        expected += [
            ("application/rss+xml", f"{title} (RSS)", f"{BASE}{feed.slug}.rss"),
            ("application/atom+xml", f"{title} (Atom)", f"{BASE}{feed.slug}.atom"),
            ("application/feed+json", f"{title} (JSON Feed)", f"{BASE}{feed.slug}.json"),
        ]
    assert discovered == expected
    assert all(local(tmp_path, href).is_file() for _, _, href in discovered)

    rows = page.findall(".//tbody/tr")
    assert len(rows) == 4  # "all" once, not twice
    table = {}
    for row in rows:
        header = row.find("th")
        assert header.get("scope") == "row"
        cells = row.findall("td")
        hrefs = [a.get("href") for a in row.iterfind(".//a")]
        assert all(local(tmp_path, href).is_file() for href in hrefs)
        table[header.text_content()] = (int(cells[0].text_content()), cells[1], hrefs)
    assert list(table) == ["Everything", "Nothing yet", "News", SCRIPT_TITLE]
    count, newest, hrefs = table["News"]
    assert count == 8
    assert newest.find("time").get("datetime") == "2024-03-09T09:30:00Z"
    assert newest.text_content() == "9 March 2024"
    assert hrefs == [f"{BASE}news.{ext}" for ext in ("html", "rss", "atom", "json")]
    assert table["Everything"][0] == 9
    assert table["Nothing yet"][0] == 0
    assert table["Nothing yet"][1].find("time") is None
    assert page.find(".//main//a[@href='http://127.0.0.1:8080/feeds.opml']") is not None


def test_category_pages_link_back_and_autodiscover_json(site: Site, tmp_path: Path) -> None:
    publish([Feed("news", "News", items(range(2, 0, -1)))], site, tmp_path)
    page = lxml.html.document_fromstring((tmp_path / "news.html").read_text("utf-8"))
    types = [e.get("type") for e in page.iterfind(".//head/link[@rel='alternate']")]
    assert types == ["application/rss+xml", "application/atom+xml", "application/feed+json"]
    assert page.find(".//nav/a[@href='index.html']") is not None
    assert page.find(".//header//a[@href='http://127.0.0.1:8080/news.json']") is not None


# --- feeds.opml --------------------------------------------------------------------------


def test_opml_lists_every_feed_once(site: Site, tmp_path: Path) -> None:
    news = Feed("news", "News", items(range(4, 0, -1)))
    other = Feed("odd", SCRIPT_TITLE, (item(1, updated=T0 + timedelta(days=40)),))
    everything = Feed("all", site.title, news.items)
    publish([news, other, everything], site, tmp_path)
    data = (tmp_path / "feeds.opml").read_bytes()

    assert check_opml(data) == []
    assert data == render_opml([news, other, everything], site)
    root = etree.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Cooperative news"
    modified = parsedate_to_datetime(root.findtext("head/dateModified"))
    assert modified == T0 + timedelta(days=40)  # the newest updated, no clock
    assert root.find("head/dateCreated") is None
    outlines = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        f"{BASE}all.rss",
        f"{BASE}news.rss",
        f"{BASE}odd.rss",
    ]
    assert [o.get("htmlUrl") for o in outlines] == [
        f"{BASE}all.html",
        f"{BASE}news.html",
        f"{BASE}odd.html",
    ]
    assert {o.get("type") for o in outlines} == {"rss"}
    assert [o.get("text") for o in outlines] == [
        "Cooperative news",
        "Cooperative news: News",
        f"Cooperative news: {SCRIPT_TITLE}",
    ]
    assert [o.get("title") for o in outlines] == [o.get("text") for o in outlines]
    assert all(local(tmp_path, o.get("xmlUrl")).is_file() for o in outlines)


def test_opml_without_items_has_no_dates(site: Site) -> None:
    data = render_opml([Feed("all", site.title, ())], site)
    assert check_opml(data) == []
    assert etree.fromstring(data).find("head/dateModified") is None
    assert render_opml([Feed("all", site.title, ())], site) == data


def test_check_opml_finds_problems() -> None:
    data = b"""<opml version="2.0"><head><title>t</title><docs>http://opml.org/spec2</docs>
      <dateModified>2024-03-01</dateModified></head><body>
      <outline type="rss" text="a" xmlUrl="feeds/a.rss"/>
      <outline type="rss" text="b" title="b" xmlUrl="http://e.org/b.rss"/>
      <outline type="rss" text="c" title="c" xmlUrl="http://e.org/b.rss"/>
      <outline title="d" xmlUrl="http://e.org/d.rss"/></body></opml>"""
    problems = check_opml(data)
    for words in (
        "undefined element <docs>",
        "head dateModified",
        "outline 1 is of type rss but has no title",
        "outline 1 xmlUrl is not a full URI",
        "outline 3 lists",
        "outline 4 has no text",
        "outline 4 has feed URLs but no type",
    ):
        assert any(words in problem for problem in problems), (words, problems)
    assert check_opml(b'<opml version="1.0"><head/><body/></opml>') != []


# --- RFC 5005 archives -------------------------------------------------------------------


def test_eight_items_three_per_feed(site: Site, tmp_path: Path) -> None:
    news = Feed("news", "News", items(range(8, 0, -1)))
    report = publish([news], site, tmp_path)

    assert [e.id for e in parse((tmp_path / "news.rss").read_bytes()).entries] == [
        item(n).guid for n in (8, 7, 6)
    ]
    assert report.new_pages == {"news": {1: tuple(item(n).guid for n in (1, 2, 3))}}
    assert guids(tmp_path / "news.archive-1.rss") == [item(n).guid for n in (3, 2, 1)]
    assert guids(tmp_path / "news.archive-2.rss") == [item(n).guid for n in (5, 4)]
    assert not (tmp_path / "news.archive-3.rss").exists()
    for ext in ("rss", "atom"):
        ids, paths = walk(tmp_path, "news", ext)
        assert len(ids) == len(set(ids)) == 8
        parsed_ids = {e.id for e in parse((tmp_path / "news.atom").read_bytes()).entries}
        assert parsed_ids <= set(ids)
        assert [p.name for p in paths] == [
            f"news.{ext}",
            f"news.archive-2.{ext}",
            f"news.archive-1.{ext}",
        ]
    assert sorted(walk(tmp_path, "news", "rss")[0]) == sorted(i.guid for i in news.items)


def test_archive_links_and_markers(site: Site, tmp_path: Path) -> None:
    publish([Feed("news", "News", items(range(8, 0, -1)))], site, tmp_path)

    for ext, kind in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
        current = tmp_path / f"news.{ext}"
        first = tmp_path / f"news.archive-1.{ext}"
        second = tmp_path / f"news.archive-2.{ext}"
        assert links(current) == {
            "self": f"{BASE}news.{ext}",
            "prev-archive": f"{BASE}news.archive-2.{ext}",
            **({"alternate": f"{BASE}news.html"} if ext == "atom" else {}),
        }
        assert links(first) == {
            "self": f"{BASE}news.archive-1.{ext}",
            "current": f"{BASE}news.{ext}",
            "next-archive": f"{BASE}news.archive-2.{ext}",
            **({"alternate": f"{BASE}news.html"} if ext == "atom" else {}),
        }
        assert links(second) == {
            "self": f"{BASE}news.archive-2.{ext}",
            "current": f"{BASE}news.{ext}",
            "prev-archive": f"{BASE}news.archive-1.{ext}",
            **({"alternate": f"{BASE}news.html"} if ext == "atom" else {}),
        }
        for path in (current, first, second):
            root = etree.parse(str(path)).getroot()
            head = root.find("channel") if ext == "rss" else root
            markers = head.findall(f"{FH}archive")
            assert len(markers) == (0 if path == current else 1)
            typed = [e for e in head.findall(f"{ATOM}link") if e.get("rel") != "alternate"]
            assert {e.get("type") for e in typed} == {kind}
    # One logical feed: the archives keep the current document's Atom id.
    ids = {etree.parse(str(p)).getroot().findtext(f"{ATOM}id") for p in tmp_path.glob("*.atom")}
    assert ids == {f"{BASE}news.atom"}


def test_every_document_passes_the_offline_validators(site: Site, tmp_path: Path) -> None:
    news = Feed("news", "News", items(range(8, 0, -1)))
    publish([news, Feed("all", site.title, news.items)], replace(site, hub=HUB), tmp_path)

    rss, atom = sorted(tmp_path.glob("*.rss")), sorted(tmp_path.glob("*.atom"))
    assert len(rss) == len(atom) == 6
    for path in rss:
        assert check_rss(path.read_bytes()) == [], path.name
    for path in atom:
        assert check_atom(path.read_bytes()) == [], path.name
        assert check_atom_rng(path.read_bytes()) == [], path.name
    for path in tmp_path.glob("*.json"):
        assert check_json_feed(path.read_bytes()) == [], path.name
    # Archive pages advertise no hub: one subscribes to the current document.
    assert "hub" in links(tmp_path / "news.rss") and "hub" in links(tmp_path / "news.atom")
    assert "hub" not in links(tmp_path / "news.archive-1.rss")
    assert "hub" not in links(tmp_path / "news.archive-2.atom")


def test_archive_dates_come_from_their_items(site: Site, tmp_path: Path) -> None:
    publish([Feed("news", "News", items(range(8, 0, -1)))], site, tmp_path)
    atom = etree.parse(str(tmp_path / "news.archive-1.atom")).getroot()
    assert atom.findtext(f"{ATOM}updated") == "2024-03-04T09:30:00+00:00"  # item 3
    channel = etree.parse(str(tmp_path / "news.archive-2.rss")).getroot().find("channel")
    assert channel.findtext("lastBuildDate") == "Wed, 06 Mar 2024 09:30:00 +0000"  # item 5


def test_full_pages_never_change_as_items_arrive(site: Site, tmp_path: Path) -> None:
    numbers = list(range(8, 0, -1))
    full: dict[int, tuple[str, ...]] = {}
    frozen: dict[str, bytes] = {}
    # New items, a late one with an old date, and a batch bigger than a page.
    arrivals = [[9], [10], [-5], [11, 12, 13, 14, 15, 16, 17], [-6], [18]]
    for batch in [[], *arrivals]:
        numbers += batch
        news = Feed("news", "News", items(numbers))
        report = publish([news], site, tmp_path, full_pages={"news": full})
        for late in [item(n).guid for n in batch if n < 0]:
            # A late item with an old date lands in the current document or in the page
            # that was open (which this publish may then seal), never in a full page.
            for number in full:
                assert late not in guids(tmp_path / f"news.archive-{number}.rss")
            assert late in guids(tmp_path / f"news.archive-{len(full) + 1}.rss")
        for name, data in frozen.items():
            assert (tmp_path / name).read_bytes() == data, f"{name} changed"
            assert name in report.unchanged
        for number, page in report.new_pages.get("news", {}).items():
            assert number not in full and len(page) == site.items_per_feed
            full[number] = page
            for ext in ("rss", "atom"):
                name = f"news.archive-{number}.{ext}"
                frozen[name] = (tmp_path / name).read_bytes()
        for ext in ("rss", "atom"):
            ids, _ = walk(tmp_path, "news", ext)
            assert len(ids) == len(set(ids)) == len(numbers)
    assert len(full) >= 4


def test_a_late_old_item_goes_to_the_open_page(site: Site, tmp_path: Path) -> None:
    report = publish([Feed("news", "News", items(range(8, 0, -1)))], site, tmp_path)
    full = report.new_pages["news"]
    report = publish(
        [Feed("news", "News", items([*range(8, 0, -1), -1]))],
        site,
        tmp_path,
        full_pages={"news": full},
    )
    assert item(-1).guid not in guids(tmp_path / "news.archive-1.rss")
    assert guids(tmp_path / "news.archive-2.rss") == [item(n).guid for n in (5, 4, -1)]
    # The open page is full now but has no successor: it stays open (no next-archive yet).
    assert report.new_pages == {}
    assert "next-archive" not in links(tmp_path / "news.archive-2.rss")


def test_removed_items_leave_their_full_page(site: Site, tmp_path: Path) -> None:
    report = publish([Feed("news", "News", items(range(8, 0, -1)))], site, tmp_path)
    full = report.new_pages["news"]
    remaining = [8, 7, 6, 5, 4, 3, 1]  # the operator removed item 2
    report = publish(
        [Feed("news", "News", items(remaining))], site, tmp_path, full_pages={"news": full}
    )
    assert guids(tmp_path / "news.archive-1.rss") == [item(3).guid, item(1).guid]
    assert report.new_pages == {}
    ids, _ = walk(tmp_path, "news", "atom")
    assert sorted(ids) == sorted(item(n).guid for n in remaining)


def test_removals_that_empty_the_open_page_keep_every_link_working(
    site: Site, tmp_path: Path
) -> None:
    report = publish([Feed("news", "News", items(range(8, 0, -1)))], site, tmp_path)
    full = report.new_pages["news"]
    remaining = [8, 7, 3, 2, 1]  # the current and open pages lost three items
    publish([Feed("news", "News", items(remaining))], site, tmp_path, full_pages={"news": full})

    assert guids(tmp_path / "news.archive-2.rss") == []  # still there: page 1 links to it
    for ext in ("rss", "atom"):
        ids, paths = walk(tmp_path, "news", ext)
        assert sorted(ids) == sorted(item(n).guid for n in remaining)
        for path in paths:
            for rel, href in links(path).items():
                if rel in ("current", "prev-archive", "next-archive"):
                    assert local(tmp_path, href).is_file(), (path.name, rel)
    assert check_rss((tmp_path / "news.archive-2.rss").read_bytes()) == []
    assert check_atom_rng((tmp_path / "news.archive-2.atom").read_bytes()) == []
    # Dated by the pages before it, not by the clock.
    updated = (
        etree.parse(str(tmp_path / "news.archive-2.atom")).getroot().findtext(f"{ATOM}updated")
    )
    assert updated == "2024-03-04T09:30:00+00:00"


def test_a_fresh_store_publishes_the_newest_in_the_current_feed(site: Site) -> None:
    shuffled = [item(n) for n in (3, 9, 1, 7, 5, 2, 8, 4, 6)]
    paging = paginate(Feed("news", "News", tuple(shuffled)), 3, {})
    assert [i.guid for i in paging.current.items] == [item(n).guid for n in (9, 8, 7)]


def test_full_pages_must_be_numbered_from_one(site: Site) -> None:
    feed = Feed("news", "News", items(range(8, 0, -1)))
    with pytest.raises(ValueError, match="numbered"):
        paginate(feed, 3, {2: (item(1).guid,)})
    with pytest.raises(ValueError, match="at least 1"):
        paginate(feed, 0, {})


def test_publishing_is_deterministic_with_archives(site: Site, tmp_path: Path) -> None:
    news = Feed("news", "News", items(range(8, 0, -1)))
    publish([news], site, tmp_path / "a")
    time.sleep(0.01)
    publish([news], site, tmp_path / "b")
    # The render cache records each file's stat status (inode and times): a folder's own.
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert a.pop(RENDER_CACHE) != b.pop(RENDER_CACHE)
    assert a == b


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[list[tuple[str, int]]]]:
    """A page size and publishes, each a list of (add|remove, item number) steps."""
    per_page = draw(st.integers(1, 4))
    steps = st.lists(st.tuples(st.sampled_from(["add", "add", "remove"]), st.integers(0, 40)))
    return per_page, draw(st.lists(steps, min_size=1, max_size=8))


@given(histories())
@settings(max_examples=150, deadline=None)
def test_paging_invariants(history: tuple[int, list[list[tuple[str, int]]]]) -> None:
    """Whatever arrives or goes, in any order: every item in exactly one document, full
    pages keep their items (less removed ones), and the links chain the pages in order."""
    per_page, publishes = history
    present: dict[str, Item] = {}
    full: dict[int, tuple[str, ...]] = {}
    serial = 0
    for steps in publishes:
        for action, day in steps:
            if action == "add":
                serial += 1
                new = item(serial, day=day, guid=f"tag:coopfeed.example.org,2024:{serial}")
                present[new.guid] = new
            elif present:
                present.pop(sorted(present)[day % len(present)])
        paging = paginate(Feed("news", "News", tuple(present.values())), per_page, full)
        documents = [paging.current, *paging.archives]
        seen = [i.guid for document in documents for i in document.items]
        assert sorted(seen) == sorted(present)
        for number, page in full.items():
            kept = [guid for guid in page if guid in present]
            assert sorted(i.guid for i in paging.archives[number - 1].items) == sorted(kept)
        for number, page in paging.sealed.items():
            assert number == len(full) + 1 and len(page) == per_page
            full[number] = page
        assert len(paging.current.items) <= per_page
        if not paging.archives:
            assert paging.current.prev_archive is None
            continue
        assert len(paging.archives) > len(full)  # the newest page is never full yet
        assert paging.current.prev_archive == paging.archives[-1].stem
        for n, document in enumerate(paging.archives, 1):
            assert document.stem == f"news.archive-{n}" and document.current == "news"
            assert document.prev_archive == (f"news.archive-{n - 1}" if n > 1 else None)
            last = n == len(paging.archives)
            assert document.next_archive == (None if last else f"news.archive-{n + 1}")
