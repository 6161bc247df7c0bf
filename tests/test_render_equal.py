"""render_rss and render_atom against feedgen: the same bytes (or the same error) for any
Feed, Site and Document, and the escaping of entries against lxml's for every character."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest
from conftest import BASE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from coopfeed.publish.archive import Document, paginate
from coopfeed.publish.feeds import (
    _attribute,
    _encode,
    _Refused,
    _text,
    render_atom,
    render_atom_feedgen,
    render_rss,
    render_rss_feedgen,
)
from coopfeed.types import Feed, Item, Site

HUB = "https://hub.example.org/"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
T = TypeVar("T")
Render = Callable[[Feed, Site, Document | None], bytes]
PAIRS = [(render_rss, render_rss_feedgen), (render_atom, render_atom_feedgen)]


def outcome(render: Render, feed: Feed, site: Site, document: Document | None) -> object:
    """What ``render`` gives: its bytes, or the type and message of what it raised."""
    try:
        return render(feed, site, document)
    except (ValueError, UnicodeError, OverflowError) as error:
        return type(error), str(error)


def assert_same(feed: Feed, site: Site, document: Document | None = None) -> None:
    for fast, reference in PAIRS:
        assert outcome(fast, feed, site, document) == outcome(reference, feed, site, document)


# --- Strategies --------------------------------------------------------------------------

# XML-special, whitespace, non-ASCII (Latin, Cyrillic, CJK, astral), DEL and C1: all valid.
SPECIAL = "&<>\"'\t\n\r ;#%?=/:\u00a0\u2028\u00e9\u00c5\u0436\u5354\U0001f600\x7f\x85]]>"
# What lxml refuses: rare, so that most examples go the fast way.
REFUSED = ["\x00", "\x08", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800"]
CHARS = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + "-._ "),
    st.sampled_from(SPECIAL),
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
)
TEXT = st.text(CHARS, max_size=30)


def rarely(odd: st.SearchStrategy[T], usual: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual``, but ``odd`` one time in 80."""
    return st.integers(0, 79).flatmap(lambda n: odd if n == 0 else usual)


WITH_REFUSED = st.builds("{}{}{}".format, TEXT, st.sampled_from(REFUSED), TEXT)
NAME = rarely(WITH_REFUSED, TEXT)
TITLE = rarely(st.just("") | WITH_REFUSED, st.text(CHARS, min_size=1, max_size=40))
HTML = st.lists(
    st.sampled_from(["<p>", "</p>", "<b>x</b>", "&amp;", "&lt;", "caf\u00e9", "a\r\nb", "\n"])
    | TEXT,
    max_size=8,
).map("".join)

HTTP_URL = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["example.org", "ex.example:8080", "b\u00fccher.example", "[::1]", ""]),
    st.text(st.sampled_from('az09/-_?=&#%~ |[]"<>\u00e9\u5354'), max_size=20),
)
TAG_URI = st.builds(
    "tag:coopfeed.example.org,{}:{}".format,
    st.sampled_from(["2024", "2024-03", "2024-03-01"]),
    st.text(st.sampled_from("az09/-_.,;%#"), max_size=15),
)
URN = st.builds("urn:{}:{}".format, st.sampled_from(["isbn", "uuid", "x"]), TEXT)
GUID = st.one_of(
    HTTP_URL, TAG_URI, URN, st.just(""), TEXT, st.builds("post {}".format, st.integers(0, 99))
)
LINK = st.one_of(st.none(), st.just(""), st.just("#"), HTTP_URL, TEXT)
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=45)), timezone(-timedelta(hours=11, minutes=59))]
)
DATE = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES)


@st.composite
def items(draw: st.DrawFn) -> Item:
    guid = draw(GUID)
    link = draw(LINK | st.just(guid))  # guid == link: a permalink, if it is a URL
    published = draw(DATE)
    return Item(
        guid=guid,
        title=draw(TITLE),  # rarely empty: feedgen refuses, or RSS omits it
        published=published,
        updated=draw(DATE | st.just(published)),
        link=link,
        summary=draw(st.just("") | HTML | NAME),
        categories=tuple(draw(st.lists(NAME, max_size=3))),
        authors=tuple(draw(st.lists(NAME, max_size=3))),
    )


SITES = st.builds(
    Site,
    title=rarely(st.just(""), st.sampled_from(["Cooperative news", "Caf\u00e9 & <Co-op>"]) | TEXT),
    description=st.sampled_from(["", "News, stories & statements", "a\r\nb"]) | TEXT,
    base_url=st.sampled_from([BASE, "https://coop.example/feeds/", "http://h/a b/"]),
    author=st.sampled_from(["", "Coopfeed editors", "Zo\u00eb & \u00c5ngstr\u00f6m"]),
    items_per_feed=st.integers(1, 6),
    hub=st.sampled_from(["", HUB, "https://hub.example/?a=1&b=2"]),
    language=st.sampled_from(["", "en", "de-CH", "x&y"]),
)
SLUG = st.sampled_from(["all", "news", "co-ops", "caf\u00e9"])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Feed, Site, Document | None]:
    site = draw(SITES)
    feed = Feed(draw(SLUG), draw(TITLE), tuple(draw(st.lists(items(), max_size=8))))
    kind = draw(st.sampled_from(["current", "paged", "document"]))
    if kind == "current":
        return feed, site, None
    if kind == "paged":
        paging = paginate(feed, site.items_per_feed, {})
        documents = [paging.current, *paging.archives]
        return feed, site, documents[draw(st.integers(0, len(documents) - 1))]
    stem = st.none() | st.sampled_from([feed.slug, f"{feed.slug}.archive-1", "x&y <z>"])
    document = Document(
        stem=draw(st.sampled_from([feed.slug, f"{feed.slug}.archive-2"])),
        items=feed.items[: draw(st.integers(0, len(feed.items)))],
        archive=draw(st.booleans()),
        current=draw(stem),
        prev_archive=draw(stem),
        next_archive=draw(stem),
        updated=draw(st.none() | DATE),
    )
    return feed, site, document


@given(cases())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_document_renders_as_feedgen_renders_it(
    case: tuple[Feed, Site, Document | None],
) -> None:
    assert_same(*case)


# --- Examples ----------------------------------------------------------------------------


def item(n: int, **fields: object) -> Item:
    published = T0 + timedelta(days=n, microseconds=n)
    values: dict[str, object] = {
        "guid": f"tag:coopfeed.example.org,2024:news/{n}",
        "title": f"Story {n} \u2013 Caf\u00e9 <b>&</b>",
        "published": published,
        "updated": published + timedelta(hours=n),
        "link": f"{BASE}news.html#s{n}",
        "summary": f"<p>Summary <b>{n}</b> &amp; more</p>",
        "categories": ("News", "Co-ops & more"),
        "authors": ("Zo\u00eb \u00c5ngstr\u00f6m",) * (n % 3),
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


NEWS = Feed("news", "News", tuple(item(n) for n in range(8, 0, -1)))


def test_empty_feed(site: Site) -> None:
    assert_same(Feed("all", site.title, ()), site)
    assert_same(Feed("news", "News", ()), replace(site, hub=HUB, language=""))
    assert render_atom(Feed("news", "News", ()), site).endswith(b"</subtitle>\n</feed>\n")


def test_archive_pages_and_the_current_document(site: Site) -> None:
    paging = paginate(NEWS, site.items_per_feed, {})
    assert len(paging.archives) == 2
    for document in (paging.current, *paging.archives):
        assert_same(NEWS, site, document)
        assert_same(NEWS, replace(site, hub=HUB), document)
    assert b"<fh:archive/>" in render_rss(NEWS, site, paging.archives[0])
    assert b"<fh:archive/>" in render_atom(NEWS, site, paging.archives[0])


def test_an_empty_archive_page_dated_by_the_pages_before_it(site: Site) -> None:
    empty = Document("news.archive-3", (), archive=True, current="news", updated=T0)
    assert_same(NEWS, site, empty)


def test_hub(site: Site) -> None:
    for hub in (HUB, "https://hub.example/?a=1&b=2"):
        assert_same(NEWS, replace(site, hub=hub))
    assert b'<atom:link href="https://hub.example.org/" rel="hub"/>' in render_rss(
        NEWS, replace(site, hub=HUB)
    )


def test_items_of_every_shape(site: Site) -> None:
    odd = (
        item(1, link=None, summary=""),  # Atom: the title as text content
        item(2, link=None),  # Atom: the summary as content
        item(3, summary=""),
        item(4, guid="https://example.org/4", link="https://example.org/4"),  # permalink
        item(5, guid="not a url", link="not a url"),  # not a permalink
        item(6, guid="urn:isbn:0451450523", link="https://b\u00fccher.example/a b|c"),
        item(7, guid="post 7", link="#", authors=("", "Ann"), categories=("",)),
        item(8, published=datetime(9, 1, 2, tzinfo=UTC), updated=datetime(9999, 1, 1, tzinfo=UTC)),
        item(9, title="a\r\nb\tc ]]> \"q\" 'a' \x7f\x85 \U0001f600", summary="x\ry"),
    )
    assert_same(Feed("news", "News", odd), replace(site, items_per_feed=20))


def test_documents_feedgen_refuses_or_writes_oddly_are_left_to_it(site: Site) -> None:
    untitled = replace(site, title="")
    assert_same(Feed("all", "", (item(1),)), untitled)  # no feed title: feedgen raises
    assert_same(NEWS, site, Document("news", (item(1, title=""),)))  # RSS: no <title>
    assert_same(NEWS, site, Document("news", (item(1, title="", summary=""),)))
    for refused in ("\x00", "\x0c", "\ufffe", "\ud800"):
        assert_same(NEWS, site, Document("news", (item(1, summary=f"a{refused}b"),)))
        assert_same(NEWS, site, Document("news", (item(1, categories=(refused,)),)))
    with pytest.raises(ValueError, match="XML compatible"):
        render_atom(NEWS, site, Document("news", (item(1, title="\x1b"),)))


# --- Escaping: what libxml2 writes, character by character --------------------------------


def _lxml_text(text: str) -> bytes:
    element = etree.Element("a")
    element.text = text
    data: bytes = etree.tostring(element, encoding="UTF-8")
    return data[3:-4]  # <a>...</a>


def _lxml_attribute(value: str) -> bytes:
    data: bytes = etree.tostring(etree.Element("a", b=value), encoding="UTF-8")
    return data[6:-3]  # <a b="..."/>


def _accepted(text: str) -> bool:
    try:
        etree.Element("a").text = text
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def _refused(text: str) -> bool:
    try:
        _encode(text)
    except _Refused:
        return True
    return False


def test_every_character_is_escaped_as_lxml_escapes_it() -> None:
    accepted = [chr(c) for c in range(0x110000) if 0xD800 > c or c > 0xDFFF]
    accepted = [c for c in accepted if c >= "\x20" or c in "\t\n\r"]
    accepted.remove("\ufffe")
    accepted.remove("\uffff")
    for start in range(0, len(accepted), 4096):
        chunk = "".join(accepted[start : start + 4096])
        assert _encode(_text(chunk)) == _lxml_text(chunk)
        assert _encode(_attribute(chunk)) == _lxml_attribute(chunk)


def test_what_lxml_refuses_is_refused() -> None:
    for code in range(0x10000):  # astral characters: all accepted, escaped above
        character = chr(code)
        assert _refused(f"a{character}b") != _accepted(character), hex(code)
