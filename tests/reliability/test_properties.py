"""Property-based tests (hypothesis) of the whole path, not of one function: any archive
and any feed document, however hostile their text, publish only valid files with safe
names inside the output folder; guids do not depend on where a feed is served from, nor
on how an archive listing is laid out.  (The unit properties of the archive parser,
the normalizer, the slugger and the identity keys are in tests/test_*.py.)"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

import pytest
from feedcheck import _is_uri
from helpers import (
    FORBIDDEN,
    all_problems,
    archive_source,
    feed_source,
    json_items,
    stored,
    write_config,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from coopfeed.cli import main
from coopfeed.config import load_config
from coopfeed.pipeline import prepare
from coopfeed.publish.feeds import atom_id
from coopfeed.slug import RESERVED
from coopfeed.sources.archive import parse_archive
from coopfeed.sources.feed import parse_feed

END_TO_END = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

#: What a published file may be called (DESIGN 6 and 9).
SAFE_NAME = re.compile(
    r"(?:[a-z0-9]+(?:-[a-z0-9]+)*(?:\.archive-[0-9]+)?\.(?:rss|atom|json|html)"
    r"|index\.html|feeds\.opml|\.coopfeed-published|\.coopfeed-render)"
)
#: What a run may leave in the project folder besides the output folder.
PROJECT_FILES = {"archive", "config.toml", "feed.xml", "feeds"}

HOSTILE_BITS = [
    "<script>alert(1)</script>",
    "<b>bold</b>",
    "&amp;",
    "&lt;",
    "&#x1b;",
    "&#0;",
    "&nbsp;",
    "\x00",
    "\x07",
    "\x0b",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\ufffe",
    "\uffff",
    "\u202e",
    "\ufeff",
    "javascript:alert(1)",
    "../../etc/passwd",
    "..",
    "/",
    "\\",
    "CON",
    "nul",
    "All",
    "index",
    "feeds",
    "\u00a0",
    "\t",
    "🧑‍🌾",
    "Coopérative",
    "協同組合",
    "%2e%2e%2f",
    "'\"",
]
#: Text of one line: anything Unicode allows in UTF-8 (no surrogates), hostile bits too.
LINE = st.lists(
    st.one_of(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12),
        st.sampled_from(HOSTILE_BITS),
    ),
    min_size=1,
    max_size=6,
).map("".join)
DATES = st.dates(date(1990, 1, 1), date(2025, 12, 31))


@contextmanager
def project() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="coopfeed-property-") as name:
        yield Path(name)


def published_safely(folder: Path) -> None:
    """Only valid files with safe names, all inside feeds/; nothing else written."""
    feeds = folder / "feeds"
    names = sorted(p.name for p in feeds.iterdir())
    assert all(SAFE_NAME.fullmatch(name) for name in names), names
    stems = {name.split(".")[0] for name in names if not name.startswith(".")}
    assert not (stems & RESERVED) - {"all", "index", "feeds"}, stems
    assert "feeds" not in stems or names.count("feeds.opml") == 1
    assert all_problems(feeds) == {}
    left = {p.name for p in folder.iterdir() if not p.name.startswith("coopfeed.sqlite3")}
    assert left <= PROJECT_FILES, left


# -- any archive ------------------------------------------------------------------------


@st.composite
def listings(draw: st.DrawFn) -> str:
    """A listing whose structure is mostly right and whose text is anything."""
    lines = [draw(st.sampled_from(["", "News, stories and statements on cooperatives"])), ""]
    for number in range(1, draw(st.integers(1, 8)) + 1):
        category = draw(LINE).strip() or "x"
        day = draw(DATES)
        lines += [f"  {number}. {category[:70]}", "", f"    {draw(LINE)}", ""]
        lines += [f"    {day.day} {day:%B} {day.year}", ""]
        lines += [f"    {draw(LINE)}" for _ in range(draw(st.integers(0, 3)))] + [""]
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@END_TO_END
@given(listings())
def test_any_archive_publishes_only_valid_files_with_safe_names(listing: str) -> None:
    with project() as folder:
        (folder / "archive").mkdir()
        (folder / "archive" / "listing.txt").write_text(listing, encoding="utf-8")
        config = write_config(folder, archive_source("archive", "archive"))
        # A NUL byte makes the file "not a text file": a source error (DESIGN 3.1).
        assert main(["run", "-c", str(config)]) == (1 if "\x00" in listing else 0)
        rows = stored(folder / "coopfeed.sqlite3", "guid", "title", "summary", "categories")
        if (folder / "feeds").exists():  # (not when the source failed)
            published_safely(folder)
        if rows:
            assert len(json_items(folder / "feeds" / "all.json")) == len(rows)
        for guid, title, summary, categories in rows:
            assert title and not FORBIDDEN.search(title + summary + categories), title
            assert _is_uri(guid) and atom_id(guid) == guid, guid


# -- any feed document ----------------------------------------------------------------------


@st.composite
def feed_documents(draw: st.DrawFn) -> tuple[bytes, int]:
    """An RSS or Atom document with hostile text, raw or escaped, in every field; and how
    many of its entries are well-formed with a distinct guid and a readable title."""
    atom = draw(st.booleans())
    escaped = draw(st.booleans())
    count = draw(st.integers(1, 6))
    entries, readable = [], 0
    for n in range(count):
        title, summary, category, author = (draw(LINE) for _ in range(4))
        title = f"Item {n} {title}"  # readable, whatever follows
        if escaped:
            title, summary, category, author = (
                escape(text.encode("utf-8", "replace").decode("utf-8"))
                for text in (title, summary, category, author)
            )
            readable += 1
        guid = f"urn:x-test:{n}" if draw(st.booleans()) else f"https://feed.example/{n}"
        when = draw(st.sampled_from(["Mon, 02 Aug 2021 08:00:00 +0000", "2024-13-45", ""]))
        if atom:
            entries.append(
                f"<entry><id>{guid}</id><title type='html'>{title}</title>"
                f"<updated>{when}</updated><summary type='html'>{summary}</summary>"
                f"<category term='{escape(category)}'/><author><name>{author}</name></author>"
                "</entry>"
            )
        else:
            entries.append(
                f"<item><guid>{guid}</guid><title>{title}</title><pubDate>{when}</pubDate>"
                f"<description>{summary}</description><category>{category}</category>"
                f"<author>a@b.example ({author})</author></item>"
            )
    if atom:
        text = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{draw(LINE)}</title><id>urn:x-test:feed</id>{''.join(entries)}</feed>"
        )
    else:
        text = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{draw(LINE)}</title><link>https://feed.example/</link>"
            f"<description>d</description>{''.join(entries)}</channel></rss>"
        )
    return text.encode("utf-8", "surrogatepass"), readable if escaped else -1


@END_TO_END
@given(feed_documents())
def test_any_feed_document_publishes_only_valid_files(document: tuple[bytes, int]) -> None:
    body, readable = document
    with project() as folder:
        (folder / "feed.xml").write_bytes(body)
        config = write_config(folder, feed_source("wire", "feed.xml"))
        assert main(["run", "-c", str(config)]) in (0, 1)  # a source error at worst
        rows = stored(folder / "coopfeed.sqlite3")
        if readable >= 0:  # a well-formed document: every readable entry is there
            assert len(rows) == readable, rows
        if (folder / "feeds").exists():
            published_safely(folder)


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration with a feed source and an archive source (for ``prepare``)."""
    sources = feed_source("wire", "https://feed.example/feed.xml") + archive_source("archive", ".")
    return write_config(tmp_path_factory.mktemp("config"), sources)


# -- identity ---------------------------------------------------------------------------------

GUID_TEXT = st.text(
    st.one_of(
        st.sampled_from("abc123/.?#:-_~%@!$&'()*+,;= "),
        st.characters(exclude_categories=["Cs", "Cc"]),
    ),
    min_size=1,
    max_size=30,
)
PLACES = [
    "https://news.example.org/feed.xml",
    "http://127.0.0.1:8080/a/b/c/d/moved.rss",
    "https://other.example/?feed=rss2",
]


def rss_with(guids: list[str], base: str | None, permalink: bool) -> bytes:
    attribute = f' xml:base="{base}"' if base else ""
    flag = "" if permalink else ' isPermaLink="false"'
    items = "".join(
        f"<item{attribute}><guid{flag}>{escape(guid)}</guid><title>Item {n}</title></item>"
        for n, guid in enumerate(guids)
    )
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


@FAST
@given(
    st.lists(GUID_TEXT, min_size=1, max_size=5, unique_by=str.strip),
    st.sampled_from([None, "/blog/", "sub/dir/", "../up/"]),
    st.booleans(),
)
def test_guids_do_not_depend_on_where_the_feed_is_served(
    settings_file: Path, guids: list[str], base: str | None, permalink: bool
) -> None:
    assume(all(guid.strip() for guid in guids))
    config = load_config(settings_file)
    source = config.source("wire")
    body = rss_with(guids, base, permalink)
    found = []
    for url in PLACES:
        result = parse_feed("wire", body, url=url, headers={})
        prepared = prepare(source, result.items, NOW, config.limits, config.tag_authority)
        found.append([(c.key, c.guid) for c in prepared.candidates])
    assert found[0] == found[1] == found[2]
    assert len(found[0]) == len(guids)
    for _, guid in found[0]:
        assert guid.strip() == guid and not FORBIDDEN.search(guid)
        assert _is_uri(atom_id(guid)), guid


@st.composite
def archive_entries(draw: st.DrawFn) -> list[tuple[str, str, date]]:
    word = st.text(st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=8)
    words = st.lists(word, min_size=1, max_size=6).map(" ".join)
    entries = draw(
        st.lists(
            st.tuples(st.sampled_from(["News", "Press release", "Housing"]), words, DATES),
            min_size=1,
            max_size=6,
            unique_by=lambda e: (e[0], e[1].casefold(), e[2]),
        )
    )
    return [(c, "A" + t, d) for c, t, d in entries]  # a letter first: never a header or date


def lay_out(entries: list[tuple[str, str, date]], style: int) -> str:
    """The same entries, laid out in one of several ways a copy from a web page can take."""
    blocks = []
    for number, (category, title, day) in enumerate(entries, 1):
        if style == 0:
            blocks.append(
                f"  {number}. {category}\n\n    {title}\n\n    {day.day} {day:%B} {day.year}\n"
            )
        elif style == 1:
            spaced = title.replace(" ", "  \t")
            blocks.append(
                f"{number}.\t{category}  \r\n{spaced}\r\n{day:%d} {day:%b} {day.year}\r\n\r\n"
            )
        else:  # pages pasted together: numbering restarts, a heading repeats
            blocks.append(
                f"\u00a0{number % 2 + 1}. {category}\n\n{title}\n"
                f"{day:%B} {day.day}, {day.year}\n\nA summary.\n"
            )
    heading = "News, stories and statements on cooperatives\n\n"
    return ("\ufeff" if style == 1 else "") + heading + "\n".join(blocks)


@FAST
@given(archive_entries())
def test_archive_guids_do_not_depend_on_how_the_listing_is_laid_out(
    settings_file: Path, entries: list[tuple[str, str, date]]
) -> None:
    config = load_config(settings_file)
    source = config.source("archive")
    found = []
    for style in range(3):
        for order in (entries, entries[::-1]):
            items, warnings = parse_archive(lay_out(order, style), source="archive", filename="a")
            assert warnings == []
            prepared = prepare(source, items, NOW, config.limits, config.tag_authority)
            assert prepared.skipped == ()
            found.append(sorted((c.key, c.guid, c.anchor) for c in prepared.candidates))
    assert all(keys == found[0] for keys in found)
    assert len({guid for _, guid, _ in found[0]}) == len(entries)
