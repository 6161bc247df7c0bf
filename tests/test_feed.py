"""parse_feed: real feed documents from tests/data/feeds/parse/ go in, SourceResults come out.

Every ``NAME.xml`` there has a hand-checked ``NAME.expected.json`` beside it: the URL and
headers it is parsed with (when not the defaults), and the error, warnings and RawItems
expected.  Documents too big for a file, or that must point at a temporary file, are
made here.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
import tracemalloc
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coopfeed.sources.feed import parse_feed
from coopfeed.types import RawItem, SourceResult

DATA = Path(__file__).parent / "data" / "feeds" / "parse"
SOURCE = "coop-news"
DOCUMENTS = sorted(path.stem for path in DATA.glob("*.xml"))


def default_url(name: str) -> str:
    return f"https://news.example.org/feeds/{name}.xml"


def item_as_json(item: RawItem) -> dict[str, Any]:
    """A RawItem as JSON values: dates in ISO 8601, tuples as lists."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(RawItem):
        value = getattr(item, field.name)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        values[field.name] = value
    return values


def result_as_json(result: SourceResult) -> dict[str, Any]:
    return {
        "error": result.error,
        "warnings": list(result.warnings),
        "items": [item_as_json(item) for item in result.items],
    }


def parse_document(name: str) -> tuple[dict[str, Any], SourceResult]:
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    body = (DATA / f"{name}.xml").read_bytes()
    url = expected.get("url", default_url(name))
    return expected, parse_feed(SOURCE, body, url=url, headers=expected.get("headers"))


def parse(body: bytes, url: str = "https://news.example.org/feed.xml", **kw: Any) -> SourceResult:
    return parse_feed(SOURCE, body, url=url, **kw)


def everything(result: SourceResult) -> str:
    """Every string of a result, for asserting what never appears in it."""
    return json.dumps(result_as_json(result), ensure_ascii=False)


# -- golden pairs ----------------------------------------------------------------------


def test_every_document_has_its_expected_result() -> None:
    assert len(DOCUMENTS) >= 20
    missing = [name for name in DOCUMENTS if not (DATA / f"{name}.expected.json").exists()]
    assert missing == []


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_gives_the_expected_result(name: str) -> None:
    expected, result = parse_document(name)
    got = result_as_json(result)
    assert got["error"] == expected["error"]
    assert got["warnings"] == expected["warnings"]
    assert len(got["items"]) == len(expected["items"])
    for got_item, expected_item in zip(got["items"], expected["items"], strict=True):
        assert got_item == expected_item


# -- formats and fields ------------------------------------------------------------------


def items_of(name: str) -> tuple[RawItem, ...]:
    _, result = parse_document(name)
    assert result.ok, result.error
    return result.items


def test_rss2_html_entities_and_non_ascii() -> None:
    first, second, third, fourth = items_of("rss20-coop-news")
    assert first.title == "Worker co-ops grow 12% in 2023 &amp; plan more"  # escaped plain text
    assert first.summary is not None and first.summary.startswith("<p>A new survey")  # content
    assert first.authors == ("Maria Keller",)
    assert first.categories == ("Worker cooperatives", "Statistics")
    assert first.published == datetime(2024, 1, 16, 7, 0, tzinfo=UTC)
    assert (
        second.title == "<em>Coopérative</em> laitière de Zürich: „Genossenschaft“ feiert 100 Jahre"
    )
    assert second.link == "https://news.example.org/2024/01/zurich-dairy"  # relative, resolved
    assert second.key == "coop-news-4711"
    assert second.authors == ("Jürg Müller",)
    assert third.key is None
    assert third.link == "https://news.example.org/2024/01/housing-qa?utm_source=rss&id=7"
    assert fourth.link == fourth.key  # a permalink guid is the link
    assert all(item.title_is_html and item.summary_is_html for item in (first, second))


def test_rss1_and_rss091() -> None:
    statement, day = items_of("rss10-rdf")
    assert statement.key == "https://coop.example.net/press/2023-12-01-statement"
    assert statement.categories == ("Press release",)
    assert statement.published == datetime(2023, 12, 1, 13, 30, tzinfo=UTC)
    assert day.title == "Co-op Day \u2013 what members said"
    assert day.published is None and day.published_date == date(2023, 11, 20)
    agenda, cafe = items_of("rss091")
    assert agenda.key is None and agenda.link == "http://cu.example.com/notes/agm.html"
    assert cafe.title == "Café cooperative joins the network"  # ISO-8859-1 document


def test_atom_xml_base_resolves_links_and_gives_the_content_base() -> None:
    platform, essay, plain = items_of("atom10-xmlbase")
    assert platform.link == "https://news.example.org/blog/2024/02/platform-coops.html"
    assert platform.base_url == "https://news.example.org/blog/2024/02/"
    assert platform.summary is not None and 'href="../../coops/riders"' in platform.summary
    assert platform.categories == ("Platform cooperatives", "labour")
    assert platform.authors == ("Aiko Tanaka", "Lars Ølstad")
    assert platform.published == datetime(2024, 2, 9, 14, 20, tzinfo=UTC)
    assert platform.updated == datetime(2024, 2, 10, 7, 55, tzinfo=UTC)
    assert essay.title == "Why &lt;co-ops&gt; matter: 3 &lt; 5"  # text title, escaped
    assert essay.base_url == "https://news.example.org/blog/"
    assert plain.summary == "Members voted 120 &lt; 200 &amp; the motion failed.\nSecond line."


def test_dates_in_many_styles() -> None:
    items = {item.key: item for item in items_of("rss20-dates")}
    utc = {key: item.published for key, item in items.items()}
    assert utc["d1"] == datetime(2024, 1, 3, 4, 45, tzinfo=UTC)
    assert utc["d2"] == datetime(2024, 1, 3, 18, 15, tzinfo=UTC)
    assert utc["d3"] == datetime(2024, 1, 3, 10, 15, tzinfo=UTC)
    assert utc["d6"] == datetime(2024, 1, 3, 10, 15, tzinfo=UTC)  # naive: UTC, not local time
    assert utc["d7"] == datetime(2024, 1, 3, 23, 0, tzinfo=UTC)  # updated stands in
    assert items["d5"].published_date == date(2024, 1, 3)
    assert items["d8"].updated == datetime(2024, 1, 5, 10, 0, tzinfo=UTC)
    assert utc["d9"] is None and utc["d10"] is None
    assert all(moment is None or moment.tzinfo is UTC for moment in utc.values())


def test_impossible_dates_become_none() -> None:
    items = {item.title: item for item in items_of("dates-impossible")}
    allowed = {"Year 9999", "Compact ISO date"}
    for title, item in items.items():
        if title not in allowed:
            assert (item.published, item.published_date, item.updated) == (None, None, None), title
    assert items["Year 9999"].published == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert items["Compact ISO date"].published_date == date(2024, 1, 15)


def test_titles_and_summaries_come_out_right_after_normalize() -> None:
    from coopfeed.normalize import normalize

    now = datetime(2026, 1, 1, tzinfo=UTC)
    items = items_of("rss20-coop-news") + items_of("atom10-xmlbase")
    done = [normalize(item, now=now, timezone="UTC") for item in items]
    titles = [n.title for n in done if n is not None]
    assert titles == [
        "Worker co-ops grow 12% in 2023 & plan more",
        "Coopérative laitière de Zürich: „Genossenschaft“ feiert 100 Jahre",
        "Housing co-ops: Q&A with the federation's new chair",
        "Cooperativas de crédito en América Latina — informe 2024",
        "Platform co-ops & the gig economy",
        "Why <co-ops> matter: 3 < 5",
        "Plain-text content with <tags> in it",
    ]
    summaries = " ".join(n.summary for n in done if n is not None)
    assert "script" not in summaries and "onclick" not in summaries
    assert 'href="https://news.example.org/surveys/2023"' in summaries
    assert 'href="https://news.example.org/blog/coops/riders"' in summaries
    assert 'href="https://news.example.org/blog/notes#1"' in summaries


# -- identity ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["guids-relative", "atom10-relative-ids"])
def test_keys_do_not_depend_on_the_feed_url(name: str) -> None:
    body = (DATA / f"{name}.xml").read_bytes()
    at_a = parse(body, url="http://a.example/x/feed.xml")
    at_b = parse(body, url="http://b.example/y/deeper/feed.xml")
    keys = [item.key for item in at_a.items]
    assert keys == [item.key for item in at_b.items]
    assert "dup" in keys and "12345" in keys


def test_raw_guids_are_kept_as_written() -> None:
    dup, numbered, not_permalink, relative, absolute = items_of("guids-relative")
    assert (dup.key, dup.link) == ("dup", None)  # a non-URL guid is no link
    assert numbered.key == "12345"
    assert numbered.link == "https://news.example.org/feeds/story/12345.html"
    assert (not_permalink.key, not_permalink.link) == ("post:77", "https://news.example.org/abs/77")
    assert relative.key == "../archive/9"
    assert absolute.key == absolute.link == "https://guids.example.org/p/5"


def test_duplicate_guids_are_all_returned_with_a_warning() -> None:
    _, result = parse_document("duplicate-guids")
    assert [item.key for item in result.items] == ["story-1", "story-2", "story-1", "story-1"]
    assert len(result.warnings) == 1
    assert "2 entries repeat a guid" in result.warnings[0] and "'story-1'" in result.warnings[0]
    assert result.warnings[0].startswith(f"{SOURCE}: ")


# -- not a feed, or not a whole one ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        (b"", None, "empty body"),
        (b"  \r\n\t ", None, "empty body"),
        (b"\xef\xbb\xbf\n", None, "empty body"),
        ((DATA / "html-page.xml").read_bytes(), None, "not a feed: got an HTML page"),
        (
            b"<p>Moved</p>",
            {"Content-Type": "text/html; charset=utf-8"},
            "not a feed: got an HTML page",
        ),
        (b"Service unavailable", None, "not a feed: no RSS, RDF or Atom document found"),
        (
            b"<?xml version='1.0'?><config><item>1</item></config>",
            None,
            "not a feed: no RSS, RDF or Atom document found",
        ),
        (b"<rss version='2.0'><channel><title>cut", None, "no entries: not well-formed XML"),
    ],
)
def test_what_is_not_a_feed_is_an_error(
    body: bytes, headers: Mapping[str, str] | None, error: str
) -> None:
    result = parse(body, headers=headers)
    assert result.items == ()
    assert result.error is not None and result.error.startswith(error)
    assert "\n" not in result.error


def test_an_exception_inside_feedparser_is_a_one_line_error() -> None:
    _, result = parse_document("georss-bad-srsname")  # feedparser's int("oops") on srsName
    assert result.error == "not a feed: ValueError: invalid literal for int() with base 10: 'oops'"


def test_a_well_formed_feed_without_entries_is_ok_with_a_warning() -> None:
    for name in ("zero-items-rss", "zero-entries-atom"):
        _, result = parse_document(name)
        assert result.ok and result.items == ()
        assert result.warnings == (f"{SOURCE}: {default_url(name)}: the feed has no entries",)


def test_truncated_document_keeps_its_complete_entries() -> None:
    _, result = parse_document("truncated")
    assert result.ok
    assert [item.key for item in result.items] == [
        "https://cut.example.org/1",
        "https://cut.example.org/2",
    ]
    (warning,) = result.warnings
    assert warning.startswith(f"{SOURCE}: {default_url('truncated')}: not well-formed XML")
    assert "dropped 1 incomplete entry" in warning


# -- hostile documents ---------------------------------------------------------------------------


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("SECRET-MARKER-7f3a", encoding="utf-8")
    return path


def xxe_documents(secret: Path) -> dict[str, bytes]:
    """External entities, a parameter entity and an external DTD, all aimed at ``secret``."""
    uri = secret.as_uri()
    dtd = secret.with_name("evil.dtd")
    dtd.write_text(f'<!ENTITY leak SYSTEM "{uri}">\n<!ENTITY inline "SECRET-MARKER-7f3a">\n')
    item = "<item><title>leak:&leak;&xxe;&inline;</title><guid>&xxe;</guid>"
    item += "<link>&xxe;</link><description>&xxe;&leak;</description></item>"
    rss = f'<rss version="2.0"><channel><title>t &xxe;</title>{item}</channel></rss>'
    prolog = '<?xml version="1.0"?>\n'
    documents = {
        "system entity": f'{prolog}<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{uri}">\n]>\n{rss}',
        "one line": f'{prolog}<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>{rss}',
        "public entity": f'<!DOCTYPE rss [<!ENTITY xxe PUBLIC "-//X//Y" "{uri}">]>{rss}',
        "parameter entity": (
            f'{prolog}<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{dtd.as_uri()}">\n%p;\n]>\n{rss}'
        ),
        "external dtd": f'{prolog}<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n{rss}',
        "body is a path": str(secret),
        "body is a file URL": uri,
    }
    return {name: text.encode() for name, text in documents.items()}


def test_external_entities_never_read_a_local_file(secret_file: Path) -> None:
    for name, body in xxe_documents(secret_file).items():
        result = parse(body)
        assert "SECRET-MARKER" not in everything(result), name
        assert result.error is not None or result.items, name


def test_xxe_documents_still_give_their_entries(secret_file: Path) -> None:
    body = xxe_documents(secret_file)["system entity"]
    result = parse(body)
    (item,) = result.items
    assert item.title is not None and item.title.startswith("leak:")
    assert any("ignored the document's entity declarations" in w for w in result.warnings)


def bounded(body: bytes) -> tuple[SourceResult, float, int]:
    """Parse, returning the result, the seconds and the peak bytes allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, time.perf_counter() - started, peak


def test_billion_laughs_is_harmless() -> None:
    levels = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 16)
    )  # 10**15 laughs
    body = (DATA / "billion-laughs.xml").read_bytes().replace(b"]>", levels.encode() + b"]>", 1)
    result, seconds, peak = bounded(body.replace(b"&lol9;", b"&lol15;"))
    assert seconds < 2 and peak < 50_000_000
    assert [item.key for item in result.items] == [
        "https://lol.example.org/good",
        "https://lol.example.org/bomb",
    ]
    assert "lollol" not in everything(result)


@pytest.mark.parametrize("one_line", [False, True])
def test_quadratic_blowup_is_harmless(one_line: bool) -> None:
    value = "A" * 200_000
    separator = "" if one_line else "\n"
    body = (
        f'<?xml version="1.0"?>{separator}<!DOCTYPE rss [{separator}<!ENTITY a "{value}">'
        f'{separator}]>{separator}<rss version="2.0"><channel><title>t</title>'
        f"<item><title>Quadratic</title><guid>q</guid><description>{'&a;' * 50_000}"
        "</description></item></channel></rss>"
    ).encode()  # would expand to 10 GB
    result, seconds, peak = bounded(body)
    assert seconds < 2 and peak < 50_000_000
    assert [item.key for item in result.items] == ["q"]
    assert len(everything(result)) < 2 * len(body)


def test_a_few_small_entities_are_still_expanded() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY coop "Co-operative">\n'
        b'<!ENTITY nbsp "&#160;">\n]>\n<rss version="2.0"><channel><title>t</title>'
        b"<item><title>&coop;&nbsp;news</title><guid>e</guid></item></channel></rss>"
    )
    result = parse(body)
    assert [item.title for item in result.items] == ["Co-operative\u00a0news"]
    assert result.warnings == ()


def test_an_article_about_entities_is_left_alone() -> None:
    article = '<![CDATA[<p>Never write <!ENTITY xxe SYSTEM "file:///etc/passwd"> in a feed.</p>]]>'
    body = '<rss version="2.0"><channel><item><title>XXE explained</title><guid>x</guid>'
    body += f"<description>{article}</description></item></channel></rss>"
    result = parse(body.encode())
    assert result.warnings == ()
    assert [item.summary for item in result.items] == [article[9:-3]]


@pytest.mark.parametrize(
    "reference",
    ["&#xD800;", "&#xDFFF;", "&#55296;", "&#x110000;", "&#xFFFFFFFF;", "&#99999999999999999999;"],
)
def test_character_references_feedparser_raises_on_become_replacement_characters(
    reference: str,
) -> None:
    body = (
        f'<rss version="2.0"><channel><item><title>a{reference}b</title><guid>g{reference}</guid>'
    )
    body += f"<link>https://x.example/{reference}</link></item></channel></rss>"
    result = parse(body.encode())
    assert result.ok, result.error
    (item,) = result.items
    assert item.title == "a\ufffdb"


def test_control_characters_do_not_lose_the_entries() -> None:
    items = items_of("control-chars")
    assert [item.key for item in items] == ["ctl-\x1b1", "ctl-2"]
    assert items[0].title is not None and items[0].title.startswith("NUL")
    assert items[1].title == "Clean item after the dirty one"


# -- encodings ----------------------------------------------------------------------------------


ENCODED_TITLES = [
    "Coopérative Zürich – „Genossenschaft“ ©",
    "Kooperativ Ålesund ÆØÅ",
]


@pytest.mark.parametrize(
    "name",
    [
        "utf8-declared-latin1",  # header and declaration both say ISO-8859-1
        "cp1252-declared",
        "utf16-bom",
        "utf8-text-xml-no-charset",  # text/xml without charset: us-ascii by RFC 3023
    ],
)
def test_text_decodes_without_mojibake(name: str) -> None:
    _, result = parse_document(name)
    assert [item.title for item in result.items] == ENCODED_TITLES
    assert result.warnings == ()


def test_latin1_declared_or_lying() -> None:
    for name in ("latin1-declared", "latin1-declared-utf8"):
        titles = [item.title for item in items_of(name)]
        assert titles == ["Coopérative Zürich ©", "Kooperativ Ålesund ÆØÅ"], name


def test_one_bad_byte_does_not_turn_the_document_into_cp1252() -> None:
    _, result = parse_document("utf8-one-bad-byte")
    assert [item.title for item in result.items] == [
        ENCODED_TITLES[0],
        "Kooperativ \ufffdlesund ÆØÅ",
    ]
    assert result.warnings == (
        f"{SOURCE}: {default_url('utf8-one-bad-byte')}: "
        "1 invalid UTF-8 sequence(s) replaced with U+FFFD",
    )


def test_koi8r_declared_in_the_document_only() -> None:
    (item,) = items_of("koi8r-declared")
    assert item.title == 'Кооператив "Заря" открыл магазин'


def test_a_header_charset_agreeing_with_the_bytes_is_used() -> None:
    body = (DATA / "cp1252-declared.xml").read_bytes().replace(b"windows-1252", b"utf-8")
    result = parse(body, headers={"Content-Type": "application/rss+xml; charset=windows-1252"})
    assert [item.title for item in result.items] == ENCODED_TITLES
    assert result.warnings == ()


# -- properties ----------------------------------------------------------------------------------

TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>{prolog}
<rss version="2.0"><channel><title>Fuzz</title><link>https://fuzz.example.org/</link>
<item><title>Before</title><guid>before</guid></item>
<item><title>{title}</title><guid>{guid}</guid><link>https://fuzz.example.org/{guid}</link>
<pubDate>{date}</pubDate><description>{description}</description></item>
<item><title>After</title><guid>after</guid></item>
</channel></rss>"""

character_references = st.one_of(
    st.integers(0, 0x10FFFF * 2).map(lambda n: f"&#x{n:X};"),
    st.integers(0, 2**40).map(lambda n: f"&#{n};"),
    st.integers(0xD800, 0xDFFF).map(lambda n: f"&#x{n:x};"),
)
markup_bits = st.sampled_from(
    [
        "&",
        "<",
        ">",
        "]]>",
        "<![CDATA[",
        "&amp;",
        "&nbsp;",
        "&lol;",
        "<b>",
        "</item>",
        "\x00",
        "\x1b",
        "\ufffe",
        "\x85",
        "\ud800",
        "<!ENTITY x 'y'>",
        "<!DOCTYPE x>",
        "javascript:",
        "+2500",
        "9999",
    ]
)
fuzz_text = st.lists(
    st.one_of(st.text(max_size=20), character_references, markup_bits), max_size=6
).map("".join)
declarations = st.sampled_from(
    [
        '<!ENTITY a "x">',
        '<!ENTITY a "&a;">',
        "<!ENTITY b '&#xD800;'>",
        '<!ENTITY c "C:\\data">',
        '<!ENTITY % p "x">',
        '<!ENTITY d SYSTEM "file:///etc/hostname">',
        '<!ENTITY e "' + "E" * 5000 + '">',
        "<!ENTITY",
        '"',
        "]>",
    ]
)
prologs = st.lists(st.one_of(declarations, fuzz_text), max_size=4).map(
    lambda parts: "\n<!DOCTYPE rss [\n" + "\n".join(parts) + "\n]>" if parts else ""
)
fields = st.fixed_dictionaries(
    {"title": fuzz_text, "guid": fuzz_text, "date": fuzz_text, "description": fuzz_text}
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(result: SourceResult) -> None:
    assert isinstance(result, SourceResult)
    assert result.error is None or (result.items == () and "\n" not in result.error)
    for item in result.items:
        assert item.source == SOURCE
        assert item.published is None or item.published.tzinfo is UTC
        assert item.updated is None or item.updated.tzinfo is UTC


@FAST
@given(st.binary(max_size=2_000))
def test_never_raises_on_arbitrary_bytes(body: bytes) -> None:
    check(parse(body))


@FAST
@given(fields, prologs, st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_never_raises_on_arbitrary_text_in_a_feed(
    values: dict[str, str], prolog: str, encoding: str
) -> None:
    references = "&a;&b;&c;&d;&e;" * 20  # uses of the entities the prolog may declare
    text = TEMPLATE.format(**values, prolog=prolog).replace("Before<", f"Before{references}<")
    body = text.encode(encoding, "surrogatepass" if "utf" in encoding else "replace")
    check(parse(body, headers={"content-type": f"text/xml; charset={encoding}"}))


@FAST
@given(fields)
def test_escaped_text_never_loses_an_entry(values: dict[str, str]) -> None:
    escaped = {
        name: html.escape(value.encode("utf-8", "replace").decode("utf-8"))
        for name, value in values.items()
    }
    result = parse(TEMPLATE.format(**escaped, prolog="").encode("utf-8", "replace"))
    check(result)
    assert len(result.items) == 3
    assert (result.items[0].key, result.items[-1].key) == ("before", "after")
    assert (result.items[0].title, result.items[-1].title) == ("Before", "After")
