"""RawItem -> Normalized: text, HTML, dates and categories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urljoin

from hypothesis import given
from hypothesis import strategies as st

from coopfeed.normalize import (
    Limits,
    Normalized,
    _joins_as_is,
    clean_text,
    normalize,
    plain_text,
    sanitize_html,
)
from coopfeed.types import RawItem

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
XML_FORBIDDEN = set(range(0x09)) | {0x0B, 0x0C} | set(range(0x0E, 0x20)) | {0xFFFE, 0xFFFF}


DEFAULT_LIMITS = Limits()


def norm(raw: RawItem, tz: str = "UTC", limits: Limits = DEFAULT_LIMITS) -> Normalized | None:
    return normalize(
        raw,
        now=NOW,
        timezone=tz,
        default_category="News",
        limits=limits,
    )


def test_archive_dates_get_noon_in_the_source_timezone() -> None:
    item = norm(RawItem("s", "T", published_date=date(2021, 7, 29)), tz="Europe/Zurich")
    assert item is not None
    assert item.published == datetime(2021, 7, 29, 10, 0, tzinfo=UTC)
    assert item.updated == item.published
    assert item.day == date(2021, 7, 29)


def test_missing_date_is_the_time_seen_and_future_dates_are_clamped() -> None:
    assert norm(RawItem("s", "T")).published == NOW  # type: ignore[union-attr]
    future = norm(RawItem("s", "T", published=NOW + timedelta(days=400)))
    assert future is not None and future.published == NOW


def test_naive_and_offset_datetimes_become_utc() -> None:
    naive = norm(RawItem("s", "T", published=datetime(2024, 1, 1, 12)), tz="Europe/Zurich")
    assert naive is not None and naive.published == datetime(2024, 1, 1, 11, tzinfo=UTC)
    offset = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=5)))
    item = norm(RawItem("s", "T", published=offset))
    assert item is not None and item.published == datetime(2024, 1, 1, 7, tzinfo=UTC)


def test_titles_are_one_line_of_plain_text() -> None:
    raw = RawItem("s", "  Caf\u0065\u0301 \t<b>co-op</b> &amp;\x07 more\n", title_is_html=True)
    item = norm(raw)
    assert item is not None and item.title == "Caf\u00e9 co-op & more"


def test_archive_titles_keep_ampersands_and_angle_brackets_as_text() -> None:
    item = norm(RawItem("s", "AT&amp;T <b>"))
    assert item is not None and item.title == "AT&amp;T <b>"


def test_plain_summary_becomes_escaped_paragraphs() -> None:
    item = norm(RawItem("s", "T", summary="One & <two>\nwrapped\n\nSecond"))
    assert item is not None
    assert item.summary == "<p>One &amp; &lt;two&gt; wrapped</p><p>Second</p>"


def test_html_summary_is_sanitized_and_links_made_absolute() -> None:
    html = (
        '<p onclick="x()">Hi <script>alert(1)</script><a href="/a">a</a>'
        '<a href="javascript:evil()">b</a><img src="data:image/png;base64,AA"></p>'
    )
    item = norm(
        RawItem("s", "T", summary=html, summary_is_html=True, base_url="https://coop.example/news/")
    )
    assert item is not None
    assert "script" not in item.summary and "onclick" not in item.summary
    assert "javascript:" not in item.summary and "data:" not in item.summary
    assert 'href="https://coop.example/a"' in item.summary


def test_categories_keep_the_source_labels_and_take_the_default() -> None:
    item = norm(RawItem("s", "T", categories=("press  release", "", "<b>Press</b> release")))
    assert item is not None and item.categories == ("press release", "Press release")
    bare = norm(RawItem("s", "T"))
    assert bare is not None and bare.categories == ("News",)


def test_limits_truncate_huge_fields() -> None:
    item = norm(
        RawItem("s", "x" * 5000, summary="y" * 10_000), limits=Limits(title=100, summary=500)
    )
    assert item is not None and len(item.title) == 100 and item.title.endswith("\u2026")
    assert len(item.summary) < 600


def test_links_must_be_http() -> None:
    assert norm(RawItem("s", "T", link="javascript:alert(1)")).link is None  # type: ignore[union-attr]
    assert norm(RawItem("s", "T", link=" https://x.example/a ")).link == "https://x.example/a"  # type: ignore[union-attr]


def test_an_empty_title_is_no_item() -> None:
    assert norm(RawItem("s", " \x00\x07 ")) is None


@given(st.text())
def test_clean_text_leaves_nothing_xml_forbids(text: str) -> None:
    cleaned = clean_text(text)
    assert not any(ord(ch) in XML_FORBIDDEN or 0xD800 <= ord(ch) <= 0xDFFF for ch in cleaned)
    cleaned.encode("utf-8")


@given(st.text(), st.booleans())
def test_plain_text_is_one_clean_line(text: str, decode: bool) -> None:
    line = plain_text(text, decode_html=decode, limit=200)
    assert "\n" not in line and line == line.strip() and len(line) <= 200
    assert clean_text(line) == line


@given(st.text())
def test_sanitize_never_lets_script_through(text: str) -> None:
    out = sanitize_html(f"<script>{text}</script><a href='javascript:{text}'>x</a>", None, 10_000)
    assert "<script" not in out.lower() and "javascript:" not in out.lower()


_URL_PIECES = st.sampled_from(
    ["http", "https", "HTTP", "ftp", "mailto", ":", "//", "/", "?", "#", ";", "[", "]", "::1",
     "a.org", "B.example", ":8080", "@", "x=1", "&", " ", "\t", "é", "%20", "..", ".", "", "=",
     "news", "\x7f"]
)  # fmt: skip
_BASES = st.sampled_from(
    ["https://a.org/news/", "http://a.org/x?y", "https://b.example", "http://[::1]:8080/p;q"]
)


@given(st.lists(_URL_PIECES, max_size=12).map("".join), _BASES)
def test_a_link_said_to_join_as_is_is_what_joining_gives(url: str, base: str) -> None:
    """The shortcut that skips urljoin (most links in summaries are absolute) holds
    exactly where urljoin gives the link back unchanged, for any base."""
    if _joins_as_is(url):
        assert urljoin(base, url) == url


@given(st.sampled_from(["http://", "https://"]), st.lists(_URL_PIECES, max_size=10).map("".join))
def test_absolute_links_mostly_take_the_shortcut(scheme: str, rest: str) -> None:
    url = scheme + "a.org/" + rest
    if _joins_as_is(url):  # a base of the same scheme: urljoin takes the link apart
        assert urljoin(scheme + "b.example/", url) == url
    elif url.isascii() and url.isprintable() and not set(" ;[]") & set(url):
        # What the shortcut leaves to urljoin: an empty query or fragment.
        assert url.endswith(("?", "#")) or "?#" in url


def test_summary_links_are_joined_as_urljoin_joins_them() -> None:
    links = [
        ("href", "/news/1"),
        ("href", "https://a.org/2?x=1#f"),  # the shortcut
        ("src", "pic.png"),
        ("href", "https://b.example/?"),  # urljoin drops the empty query
        ("href", "http://c.example/x?"),  # another scheme: urljoin leaves it
        ("href", "HTTPS://d.example/x"),  # urljoin lowercases the scheme
    ]
    fragment = "".join(
        f'<p><a {name}="{value}">x</a><img {name}="{value}"></p>' for name, value in links
    )
    base = "https://a.org/news/"
    out = sanitize_html(fragment, base, 10_000)
    for name, value in links:
        assert f'{name}="{urljoin(base, value)}"' in out
    assert 'href="https://a.org/news/1"' in out and 'href="https://b.example/"' in out
