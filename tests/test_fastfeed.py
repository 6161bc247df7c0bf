"""The fast path of parse_feed against feedparser: a document goes in, and the SourceResult
must be the same with ``fast=True`` and ``fast=False``.

Every test also says whether the fast path takes the document: the corpus and the plain
documents must be taken (or the fast path is useless), and the documents outside its
subset must not be (``read_feed`` gives None), so that a subset that grows wrongly fails
here rather than in production.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coopfeed.sources import feed
from coopfeed.sources.feed import parse_feed

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "feeds"
SOURCE = "coop-news"
URL = "https://news.example.org/feeds/news.xml"
NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
    ' xmlns:atom="http://www.w3.org/2005/Atom"'
    ' xmlns:wfw="http://wellformedweb.org/commentAPI/"'
    ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
)


def taken(body: bytes, headers: dict[str, str] | None = None) -> bool:
    """Whether the fast path reads ``body`` (after the cleaning both paths share)."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    try:
        data = feed._clean(body, lowered, [])
    except feed._NotAFeed:
        return False
    return feed._read_fast(data) is not None


def assert_same(body: bytes, url: str = URL, headers: dict[str, str] | None = None) -> bool:
    """The fast path gives what feedparser gives; True when it took the document."""
    fast = parse_feed(SOURCE, body, url=url, headers=headers, fast=True)
    slow = parse_feed(SOURCE, body, url=url, headers=headers, fast=False)
    assert fast == slow
    return taken(body, headers)


def rss(items: str, channel: str = "", root: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" {NAMESPACES}{root}>
<channel><title>Co-op news</title><link>https://news.example.org/</link>
<description>News</description>{channel}
{items}
</channel></rss>""".encode()


def atom(entries: str, feed_extra: str = "", root: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"{root}>
<title>Co-op news</title><id>tag:news.example.org,2024:feed</id>
<updated>2024-01-05T10:00:00Z</updated>
<link rel="self" href="https://news.example.org/feed.atom"/>{feed_extra}
{entries}
</feed>""".encode()


# -- the repository's documents and the bench corpus ----------------------------------------


def _documents() -> list[Path]:
    return sorted([*DATA.glob("*.xml"), *(DATA / "parse").glob("*.xml")])


@pytest.mark.parametrize("path", _documents(), ids=lambda path: path.name)
def test_every_sample_document_gives_the_same_result(path: Path) -> None:
    expected = path.with_name(f"{path.stem}.expected.json")
    url, headers = URL, None
    if expected.exists():
        values = json.loads(expected.read_text(encoding="utf-8"))
        url = values.get("url", f"https://news.example.org/feeds/{path.stem}.xml")
        headers = values.get("headers")
    assert_same(path.read_bytes(), url, headers)


def test_plain_sample_documents_take_the_fast_path() -> None:
    for name in ("rss2.xml", "atom.xml", "parse/rss20-coop-news.xml", "parse/rss20-dates.xml"):
        assert taken((DATA / name).read_bytes()), name


def _corpus_module() -> ModuleType:
    name = "coopfeed_bench_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "corpus.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("seed", ["coopfeed", "a", "b"])
def test_bench_corpus_gives_the_same_results_and_takes_the_fast_path(
    seed: str, tmp_path: Path
) -> None:
    corpus = _corpus_module()
    manifest = corpus.write_corpus(tmp_path, feeds=60, entries=20, seed=seed)
    fast = 0
    for path in manifest.paths:
        body = (tmp_path / path.lstrip("/")).read_bytes()
        fast += assert_same(body, f"https://coop.example.org{path}")
    assert fast >= 0.9 * len(manifest.paths)


# -- the rules, one document each -----------------------------------------------------------

ITEM = "<item><title>A title</title><link>https://news.example.org/a</link>{}</item>"

TAKEN_RSS = {
    "guid before link": "<item><guid>https://news.example.org/g</guid><link>https://news.example.org/l</link></item>",
    "link before guid": "<item><link>https://news.example.org/l</link><guid>https://news.example.org/g</guid></item>",
    "guid equal to link": "<item><guid>https://news.example.org/g</guid><link>https://news.example.org/g</link></item>",
    "guid only": "<item><title>t</title><guid>https://news.example.org/g</guid></item>",
    "guid not a url": "<item><title>t</title><guid>12345</guid></item>",
    "guid not a permalink": ITEM.format('<guid isPermaLink="false">tag:x,2024:1</guid>'),
    "guid permalink True": '<item><guid isPermaLink="True">https://n.example/g</guid></item>',
    "empty guid then link": "<item><guid></guid><link>https://news.example.org/l</link></item>",
    "empty link then guid": "<item><link/><guid>https://news.example.org/g</guid></item>",
    "relative link": "<item><title>t</title><link>/2024/01/story?a=1&amp;b=2</link></item>",
    "link with escaped entity": "<item><link>https://n.example/?a=1&amp;amp;b=2&amp;c;</link></item>",
    "link with extra slashes": "<item><link>https:////n.example/a</link><guid>http:///n.example/g</guid></item>",
    "author with email": ITEM.format("<author>jane@example.org (Jane Doe)</author>"),
    "author email only": ITEM.format("<author>jane@example.org</author>"),
    "author angle email": ITEM.format("<author>Jane &lt;jane@example.org&gt;</author>"),
    "dc:creator": ITEM.format("<dc:creator>Jürg Müller</dc:creator>"),
    "two creators": ITEM.format("<dc:creator>Ana</dc:creator><dc:creator>Sam</dc:creator>"),
    "creator and author": ITEM.format("<author>a@b.org (A)</author><dc:creator> </dc:creator>"),
    "html title": "<item><title>&lt;b&gt;Bold&lt;/b&gt; news</title></item>",
    "html title with entity": "<item><title>Fish &amp;amp; chips</title></item>",
    "title with script": "<item><title>&lt;script&gt;x&lt;/script&gt; y</title></item>",
    "title with less-than": "<item><title>3 &lt; 5 &amp; co</title></item>",
    "title with unknown entity": "<item><title>AT&amp;T &amp;foo; bar</title></item>",
    "cdata title": "<item><title><![CDATA[<i>Italic</i> &amp; more]]></title></item>",
    "cdata description": ITEM.format(
        "<description><![CDATA[AT&T &amp; &nbsp; <b>bold</b> <script>x</script>]]></description>"
    ),
    "escaped description": ITEM.format(
        "<description>&lt;p&gt;Hi &amp;amp; bye&lt;/p&gt;</description>"
    ),
    "empty elements": "<item><title/><description></description><guid/><pubDate/>"
    "<category/></item>",
    "whitespace title": "<item><title>  \n </title><title>Second</title><link>https://a.example/</link></item>",
    "two titles": "<item><title>First</title><title>Second</title></item>",
    "no dates": ITEM.format(""),
    "date only": ITEM.format("<dc:date>2024-01-03</dc:date>"),
    "rfc 822 without zone": ITEM.format("<pubDate>Wed, 03 Jan 2024 10:00:00</pubDate>"),
    "rfc 822": ITEM.format("<pubDate>Wed, 03 Jan 2024 10:00:00 GMT</pubDate>"),
    "impossible date": ITEM.format("<pubDate>2024-02-30T10:00:00Z</pubDate>"),
    "pubDate and dc:date": ITEM.format(
        "<pubDate>Tue, 02 Jan 2024 10:00:00 +0100</pubDate><dc:date>2024-01-04T08:00:00Z</dc:date>"
    ),
    "two pubDates": ITEM.format(
        "<pubDate>Tue, 02 Jan 2024 10:00:00 +0100</pubDate><pubDate>bogus</pubDate>"
    ),
    "description then content": ITEM.format(
        "<description>short</description>"
        "<content:encoded>&lt;p&gt;long text&lt;/p&gt;</content:encoded>"
    ),
    "content then description": ITEM.format(
        "<content:encoded>&lt;p&gt;long text&lt;/p&gt;</content:encoded>"
        "<description>short</description>"
    ),
    "two descriptions": ITEM.format(
        "<description>first</description>"
        "<description>second &lt;b&gt;longer&lt;/b&gt;</description>"
    ),
    "three descriptions": ITEM.format(
        "<description>a</description><description>bb</description><description>c</description>"
    ),
    "categories": ITEM.format(
        '<category>News</category><category domain="x">News</category><category>News</category>'
        '<category domain="y"/><dc:subject>Sub</dc:subject><category> </category>'
    ),
    "harmless extras": ITEM.format(
        "<comments>/c</comments><wfw:commentRss>/c/feed</wfw:commentRss>"
        '<slash:comments>3</slash:comments><enclosure url="/a.mp3" length="1" type="audio/mpeg"/>'
    ),
    "mojibake and c1": ITEM.format(
        "<description>CafÃ© &#x80; &#150; Ã</description><dc:creator>MÃ¼ller</dc:creator>"
    ),
    "non-ascii": "<item><title>協同組合 🌱 Ålesund\u00a0</title><guid>https://n.example/é</guid></item>",
    "duplicate guids": "<item><guid>dup</guid></item><item><guid>dup</guid></item>",
    "item without children": "<item/>",
    "text in item": "<item>stray text<title>t</title> more</item>",
    "comment in title": "<item><title>Co<!-- x -->op</title></item>",
}


@pytest.mark.parametrize("items", TAKEN_RSS.values(), ids=TAKEN_RSS.keys())
def test_rss_rules(items: str) -> None:
    assert assert_same(rss(items))


TAKEN_RSS_CHANNELS = {
    "no items": ("", ""),
    "ttl": ("<ttl>60</ttl>", ITEM.format("")),
    "sy": (
        "<sy:updatePeriod> Daily </sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
        ITEM.format(""),
    ),
    "ttl and sy": (
        "<ttl>600</ttl><sy:updatePeriod>hourly</sy:updatePeriod>",
        ITEM.format("") + "<ttl>5</ttl>",
    ),
    "channel extras": (
        "<language>en</language><image><url>/i.png</url><title>I</title><link>/</link></image>"
        '<atom:link rel="self" href="https://n.example/feed"/><category>News</category>'
        "<pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate><lastBuildDate>x</lastBuildDate>"
        '<skipHours><hour>1</hour></skipHours><cloud domain="x" port="80"/>',
        ITEM.format(""),
    ),
}


@pytest.mark.parametrize(
    "channel, items", TAKEN_RSS_CHANNELS.values(), ids=TAKEN_RSS_CHANNELS.keys()
)
def test_rss_channel_rules(channel: str, items: str) -> None:
    assert assert_same(rss(items, channel))


def test_rss_with_xml_base_on_the_root() -> None:
    item = "<item><link>2024/a</link><guid>b</guid><description>x</description></item>"
    assert assert_same(rss(item, root=' xml:base="https://other.example/blog/"'))
    assert assert_same(rss(item, root=' xml:base="/blog/"'))


ENTRY = "<entry><title>A</title><id>tag:n.example,2024:{}</id>{}</entry>"

TAKEN_ATOM = {
    "link alternate": ENTRY.format(1, '<link rel="alternate" type="text/html" href="/a"/>'),
    "link without rel": ENTRY.format(1, '<link href="https://n.example/a"/>'),
    "two alternates": ENTRY.format(
        1, '<link href="/first"/><link rel="alternate" href="/second"/>'
    ),
    "alternate not html": ENTRY.format(
        1, '<link rel="alternate" type="application/pdf" href="/a"/>'
    ),
    "self only": ENTRY.format(1, '<link rel="self" href="/a"/>'),
    "rel in capitals": ENTRY.format(1, '<link rel="ALTERNATE" type="TEXT/HTML" href="/a"/>'),
    "id before link": '<entry><id>https://n.example/id</id><link href="/l"/></entry>',
    "link before id": '<entry><link href="/l"/><id>https://n.example/id</id></entry>',
    "id only": "<entry><id>https://n.example/id</id></entry>",
    "id not a url": "<entry><id>12345</id><title>t</title></entry>",
    "title html": '<entry><title type="html">&lt;em&gt;Hi&lt;/em&gt; &amp;amp; co</title></entry>',
    "title text with markup": '<entry><title type="text">&lt;em&gt;Hi&lt;/em&gt;</title></entry>',
    "title default with markup": "<entry><title>3 &lt; 5 &lt;b&gt;x&lt;/b&gt;</title></entry>",
    "summary and longer content": ENTRY.format(
        1, '<summary>short</summary><content type="html">&lt;p&gt;longer&lt;/p&gt;</content>'
    ),
    "content and longer summary": ENTRY.format(
        1, '<content type="html">c</content><summary type="html">much longer summary</summary>'
    ),
    "content first": ENTRY.format(1, "<content>text &lt; x</content><summary>s</summary>"),
    "two summaries": ENTRY.format(
        1, '<summary>one</summary><summary type="html">two two</summary>'
    ),
    "content text": ENTRY.format(1, '<content type="text">a &lt;b&gt; c</content>'),
    "authors": ENTRY.format(
        1,
        "<author><name>Aiko</name><email>a@n.example</email></author>"
        "<author><email>b@n.example</email></author><author><uri>/u</uri></author>"
        "<author></author><author>Loose text</author>",
    ),
    "author name with mojibake": ENTRY.format(1, "<author><name>MÃ¼ller</name></author>"),
    "author email first": ENTRY.format(1, "<author><email>e@x.org</email><name>N</name></author>"),
    "categories": ENTRY.format(
        1,
        '<category term="coops" label="Co-ops"/><category term="x"/><category term="x"/>'
        '<category label="L"/><category scheme="s"/><category term="t">Text</category>',
    ),
    "dates": ENTRY.format(
        1, "<published>2024-01-03</published><updated>2024-01-04T10:00:00+02:00</updated>"
    ),
    "updated only": ENTRY.format(1, "<updated>2024-01-04T10:00:00.123Z</updated>"),
    "bad dates": ENTRY.format(1, "<published>0000-00-00</published><updated>20240104</updated>"),
    "empty entry": "<entry/>",
}


@pytest.mark.parametrize("entries", TAKEN_ATOM.values(), ids=TAKEN_ATOM.keys())
def test_atom_rules(entries: str) -> None:
    assert assert_same(atom(entries))


def test_atom_with_xml_base_on_the_root() -> None:
    entry = ENTRY.format("x", '<link href="2024/a"/><summary>s</summary>') + (
        "<entry><id>dup</id><title>t</title></entry><entry><id>dup</id></entry>"
    )
    assert assert_same(atom(entry, root=' xml:base="https://n.example/blog/"'))
    assert assert_same(atom(entry, root=' xml:base="/blog/"'))
    assert assert_same(atom(entry, root=' xml:lang="en" xml:base="javascript:alert(1)"'))


FALLBACKS = {
    "xhtml content": atom(
        ENTRY.format(
            1, '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>'
        )
    ),
    "xhtml title": atom('<entry><title type="xhtml">x</title></entry>'),
    "content with src": atom(ENTRY.format(1, '<content src="/a.html"/>')),
    "other content type": atom(ENTRY.format(1, '<content type="text/plain">x</content>')),
    "xml:base on an entry": atom('<entry xml:base="/x/"><id>a</id></entry>'),
    "xml:base on a link": atom(ENTRY.format(1, '<link xml:base="/x/" href="a"/>')),
    "base attribute on the root": rss(ITEM.format(""), root=' base="https://x.example/"'),
    "xml:base on the channel title": rss(ITEM.format(""), '<title xml:base="/x/">t</title>'),
    "link without href": atom(ENTRY.format(1, '<link rel="enclosure"/>')),
    "unknown element in an item": rss(ITEM.format("<source url='x'>s</source>")),
    "unknown namespace in an item": rss(
        ITEM.format('<media:thumbnail xmlns:media="http://search.yahoo.com/mrss/" url="x"/>')
    ),
    "itunes summary": rss(
        ITEM.format(
            '<itunes:summary xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">s</itunes:summary>'
        )
    ),
    "element in other case": rss("<item><Title>t</Title></item>"),
    "attribute in other case": rss(ITEM.format('<guid ISPERMALINK="false">g</guid>')),
    "xml:lang on a title": rss('<item><title xml:lang="de">t</title></item>'),
    "unknown element in an entry": atom(ENTRY.format(1, "<rights>r</rights>")),
    "unknown element in the channel": rss(
        ITEM.format(""), "<textInput><title>t</title></textInput>"
    ),
    "item outside the channel": rss("").replace(b"</channel></rss>", b"</channel><item/></rss>"),
    "attribute on an item": rss('<item rdf:about="x"><title>t</title></item>'),
    "markup in a description": rss(ITEM.format("<description><p>hi</p></description>")),
    "ttl with an attribute": rss(ITEM.format(""), '<ttl unit="m">5</ttl>'),
    "rss 0.91": rss(ITEM.format("")).replace(b'version="2.0"', b'version="0.91"'),
    "rss 1.0 namespace": rss(ITEM.format(""), root=' xmlns:rss1="http://purl.org/rss/1.0/"'),
    "xlink namespace": atom(ENTRY.format(1, ""), root=' xmlns:xl="http://www.w3.org/1999/xlink"'),
    "doctype": b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY x "y">]>\n'
    + rss(ITEM.format("<description>&x;</description>")).split(b"\n", 1)[1],
    "entity reference": rss(ITEM.format("<description>a&nbsp;b</description>")),
    "processing instruction": rss(ITEM.format("")).replace(
        b"<rss", b'<?xml-stylesheet href="s.xsl" type="text/xsl"?>\n<rss', 1
    ),
    "not well-formed": rss(ITEM.format("<description>a & b</description>")),
    "rdf": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    b' xmlns="http://purl.org/rss/1.0/"><channel/><item><title>t</title></item></rdf:RDF>',
    "atom 0.3": b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title>t</title></entry></feed>',
}


@pytest.mark.parametrize("body", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_documents_outside_the_subset_fall_back(body: bytes) -> None:
    assert not assert_same(body)


# -- documents from a small grammar -----------------------------------------------------------

TEXTS = (
    "",
    "  ",
    "Co-op news",
    "Coopérative Zürich 協同組合 🌱",
    "&amp;",
    "a &amp; b",
    "&lt;b&gt;bold&lt;/b&gt;",
    "&lt;script&gt;x&lt;/script&gt;",
    "AT&amp;T &amp;nbsp;",
    "3 &lt; 5",
    "CafÃ©",
    "&#x80;&#150;",
    "\u00a0nbsp\u00a0",
    " \n spaced \t ",
    "https://n.example/a?x=1&amp;y=2",
    "/relative/path",
    "12345",
    "jane@example.org (Jane)",
    "Wed, 03 Jan 2024 10:00:00 GMT",
    "Wed, 03 Jan 2024 10:00:00",
    "2024-01-03",
    "2024-01-03T10:00:00+02:00",
    "2024-02-30",
)
text = st.builds(lambda parts: "".join(parts), st.lists(st.sampled_from(TEXTS), max_size=3))


def _raw(xml_text: str) -> str:
    """Escaped text as a CDATA section (the entities left as they are, for once)."""
    return f"<![CDATA[{xml_text}]]>"


body_text = st.one_of(text, text.map(_raw))

RSS_ELEMENTS = (
    "title",
    "link",
    "description",
    "guid",
    'guid isPermaLink="false"',
    "pubDate",
    "dc:date",
    "author",
    "dc:creator",
    "category",
    'category domain="d"',
    "dc:subject",
    "content:encoded",
    "comments",
)
ATOM_ELEMENTS = (
    "title",
    'title type="html"',
    'title type="text"',
    "id",
    "published",
    "updated",
    "summary",
    'summary type="html"',
    "content",
    'content type="html"',
)


def _element(spec: str, value: str) -> str:
    name = spec.split(" ")[0]
    return f"<{spec}>{value}</{name}>"


rss_item = st.lists(st.builds(_element, st.sampled_from(RSS_ELEMENTS), body_text), max_size=8).map(
    lambda elements: "<item>" + "".join(elements) + "</item>"
)

atom_link = st.builds(
    lambda rel, kind, href: f"<link{rel}{kind} href={quoteattr(href)}/>",
    st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="related"']),
    st.sampled_from(["", ' type="text/html"', ' type="application/pdf"']),
    st.sampled_from(["/a", "https://n.example/b", "", "c?x=1&y=2"]),
)
atom_author = st.lists(
    st.builds(_element, st.sampled_from(["name", "email", "uri"]), st.sampled_from(TEXTS).map(str)),
    max_size=3,
).map(lambda parts: "<author>" + "".join(parts) + "</author>")
atom_category = st.builds(
    lambda term, label: f"<category{term}{label}/>",
    st.sampled_from(["", ' term="t"', ' term="News"']),
    st.sampled_from(["", ' label="Label"', ' label="t"']),
)
atom_entry = st.lists(
    st.one_of(
        st.builds(_element, st.sampled_from(ATOM_ELEMENTS), body_text),
        atom_link,
        atom_author,
        atom_category,
    ),
    max_size=8,
).map(lambda elements: "<entry>" + "".join(elements) + "</entry>")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(rss_item, max_size=3), ttl=st.sampled_from(["", "<ttl>30</ttl>"]))
def test_generated_rss_documents(items: list[str], ttl: str) -> None:
    assert assert_same(rss("".join(items), ttl))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(atom_entry, max_size=3),
    root=st.sampled_from(["", ' xml:base="https://n.example/x/"', ' xml:base="/y/"']),
)
def test_generated_atom_documents(entries: list[str], root: str) -> None:
    assert assert_same(atom("".join(entries), root=root))


def test_a_parse_error_in_the_fast_path_is_a_fallback() -> None:
    assert not taken(b"<rss version='2.0'><channel><item></channel></rss>")
