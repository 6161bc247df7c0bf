"""Hostile feeds through the real pipeline: `coopfeed run` on a config with one good
loopback feed and one hostile source.

Every case must end in a clear per-source error or a sanitized result: the run never
crashes (exit 0, or 1 naming the source, never a traceback), the good source is still
published, every published file stays valid (feedcheck, lxml; no character XML 1.0
forbids, no script), no local file leaks into the output or the store, and time and
memory stay bounded.  Cases that could cost memory run as a subprocess whose peak RSS
is measured; the rest run in-process for speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    SECRET,
    Entry,
    Run,
    all_problems,
    connect,
    coopfeed,
    entries,
    everything,
    feed_source,
    good_feed,
    json_items,
    rss,
    source_state,
    write_config,
)
from httpserver import FeedServer, Reply

from coopfeed.cli import main

MiB = 2**20
GOOD_TITLES = {"good story 1", "good story 2"}


@dataclass
class Outcome:
    """What one run beside the good feed gave."""

    code: int
    stderr: str
    seconds: float
    peak_mib: float | None
    folder: Path

    @property
    def database(self) -> Path:
        return self.folder / "coopfeed.sqlite3"

    @property
    def feeds(self) -> Path:
        return self.folder / "feeds"

    @property
    def error(self) -> str | None:
        value: str | None = source_state(self.database, "hostile").get("last_error")
        return value

    def rows(self, *columns: str) -> list[dict[str, Any]]:
        """The hostile source's stored items (by guid)."""
        names = columns or ("guid", "title", "link", "summary", "published", "first_seen")
        with connect(self.database) as db:
            cursor = db.execute(
                f"SELECT {', '.join(names)} FROM items WHERE source = 'hostile' ORDER BY guid"
            )
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def titles(self) -> list[str]:
        return [row["title"] for row in self.rows("title")]


class Bench:
    """A project folder beside a loopback server: a good feed and a hostile one."""

    def __init__(self, folder: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]):
        self.folder = folder
        self.server = server
        self.capsys = capsys
        self.secret = folder / "secret.txt"
        self.secret.write_text(SECRET, encoding="utf-8")
        self.dtd = folder / "evil.dtd"
        self.dtd.write_text(f'<!ENTITY leak SYSTEM "file://{self.secret}">', encoding="utf-8")
        server.set_document("/good.xml", good_feed())

    def config(self, path: str, *, tables: str = "") -> Path:
        sources = feed_source("good", self.server.url("/good.xml"), category="Good")
        sources += feed_source("hostile", self.server.url(path), category="Hostile")
        return write_config(self.folder, sources, tables=tables)

    def run(self, path: str, *, tables: str = "", separate: bool = False) -> Outcome:
        """`coopfeed run --all` (in-process, or as a measured subprocess)."""
        config = self.config(path, tables=tables)
        args = ["run", "-c", str(config), "--all"]
        if separate:
            done: Run = coopfeed(*args, cwd=self.folder, timeout=90)
            return Outcome(done.code, done.stderr, done.seconds, done.peak_mib, self.folder)
        started = time.monotonic()
        code = main(args)
        seconds = time.monotonic() - started
        return Outcome(code, self.capsys.readouterr().err, seconds, None, self.folder)


@pytest.fixture
def bench(
    tmp_path: Path, http_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> Iterator[Bench]:
    yield Bench(tmp_path, http_server, capsys)


def contained(outcome: Outcome, error: str | None, *, seconds: float = 10) -> None:
    """What every hostile case must show."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.seconds < seconds, outcome.seconds
    if error is None:
        assert outcome.code == 0, outcome.stderr
        assert outcome.error is None
    else:
        assert outcome.code == 1, outcome.stderr
        assert outcome.error is not None and error in outcome.error, outcome.error
        assert f"source 'hostile' ({outcome.folder}" not in outcome.stderr  # not a path dump
        assert "1 of 2 sources failed: hostile" in outcome.stderr
    assert GOOD_TITLES <= {e.title for e in entries(outcome.feeds / "all.rss")}
    assert GOOD_TITLES <= {e.title for e in entries(outcome.feeds / "good.rss")}
    assert all_problems(outcome.feeds) == {}
    wal = outcome.database.with_name(outcome.database.name + "-wal")
    assert SECRET.encode() not in everything(outcome.feeds, outcome.database, wal)


# -- documents ----------------------------------------------------------------------------

E = Entry


def one(title: str, *, prolog: str = "", **fields: Any) -> bytes:
    return rss([E("https://hostile.example/1", title, **fields)], prolog=prolog)


def billion_laughs() -> bytes:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)).replace(
        "&lol0;", "lol"
    )
    return one("laugh &lol9; end", prolog=f"<!DOCTYPE rss [{levels}]>")


def quadratic_blowup() -> bytes:
    prolog = '<!DOCTYPE rss [<!ENTITY a "' + "A" * 100_000 + '">]>'
    return one("q" + "&a;" * 30_000, prolog=prolog)


def html_page() -> bytes:
    return (
        b"<!DOCTYPE html><html><head><title>Not a feed</title></head><body><p>Hi</p></body></html>"
    )


@dataclass
class Case:
    """One hostile document served at /hostile.xml (``body`` may use the bench)."""

    id: str
    body: Callable[[Bench], bytes]
    error: str | None = None  # a part of the source's error, None for a sanitized result
    check: Callable[[Outcome], None] = lambda outcome: None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def kept_titles(*titles: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.titles() == sorted(titles)

    return check


def cut_to(outcome: Outcome, limit: int) -> None:
    [title] = outcome.titles()
    assert len(title) == limit and title.endswith("\u2026"), title[:80]


def no_leak_title(outcome: Outcome) -> None:
    [title] = outcome.titles()
    assert title.startswith("leak:") and SECRET not in title


CASES = [
    Case("billion-laughs", lambda b: billion_laughs(), check=kept_titles("laugh &lol9; end")),
    Case(
        "quadratic-blowup",
        lambda b: quadratic_blowup(),
        check=lambda o: cut_to(o, 1000),
    ),
    Case(
        "xxe-system-file",
        lambda b: one(
            "leak:&xxe;", prolog=f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{b.secret}">]>'
        ),
        check=no_leak_title,
    ),
    Case(
        "xxe-parameter-entity",
        lambda b: one(
            "leak:&leak;", prolog=f'<!DOCTYPE rss [<!ENTITY % ext SYSTEM "file://{b.dtd}"> %ext;]>'
        ),
        check=no_leak_title,
    ),
    Case(
        "xxe-external-dtd",
        lambda b: one("leak:&leak;", prolog=f'<!DOCTYPE rss SYSTEM "file://{b.dtd}">'),
        check=no_leak_title,
    ),
    Case(
        "xxe-public-dtd-over-http",
        lambda b: one(
            "leak:&leak;",
            prolog=f'<!DOCTYPE rss PUBLIC "-//x//y" "{b.server.url("/evil.dtd")}" '
            f'[<!ENTITY ext SYSTEM "{b.server.url("/evil.txt")}">]>',
        ),
        check=lambda o: no_leak_title(o),
    ),
    Case("body-is-a-local-path", lambda b: str(b.secret).encode(), error="not a feed"),
    Case("body-is-etc-passwd", lambda b: b"/etc/passwd\n", error="not a feed"),
    Case("body-is-a-file-url", lambda b: b.secret.as_uri().encode(), error="not a feed"),
    Case("html-page", lambda b: html_page(), error="HTML page", content_type="text/html"),
    Case("html-page-as-xml", lambda b: html_page(), error="HTML page"),
    Case("empty-body", lambda b: b"", error="empty body"),
    Case("whitespace-body", lambda b: b" \r\n\t ", error="empty body"),
    Case("json-not-xml", lambda b: b'{"items": []}', error="not a feed"),
    Case("binary-garbage", lambda b: bytes(range(256)) * 4, error="not a feed"),
    Case("zero-entries", lambda b: rss([]), check=kept_titles()),
    Case(
        "truncated-document",
        lambda b: (
            rss([E("https://h.example/1", "one"), E("https://h.example/2", "two")])
            + b"<item><title>thr"
        ),
        check=kept_titles("one", "two"),
    ),
    Case(
        "truncated-mid-entry",
        lambda b: rss(
            [E("https://h.example/1", "one"), E("https://h.example/2", "two"), E("x", "three")]
        ).split(b"three")[0],
        check=kept_titles("one", "two"),
    ),
    Case(
        "charrefs-feedparser-raises-on",
        lambda b: one(
            "a&#xD800;b&#x110000;c&#xFFFFFFFF;d&#55296;e&#99999999999;f",
            description="x&#xDFFF;y",
            extra="<category>c&#xD800;</category>",
        ),
        check=kept_titles("a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_document_is_contained(bench: Bench, case: Case) -> None:
    bench.server.set_document("/evil.dtd", f'<!ENTITY leak "{SECRET}-over-http">')
    bench.server.set_document("/evil.txt", SECRET)
    bench.server.set_document(
        "/hostile.xml", case.body(bench), content_type=case.content_type, headers=case.headers
    )
    outcome = bench.run("/hostile.xml")
    contained(outcome, case.error)
    case.check(outcome)
    assert bench.server.count("/evil.dtd") == bench.server.count("/evil.txt") == 0


# -- fetching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [204, 301, 400, 401, 403, 404, 410, 418, 429, 500, 502, 503, 599],
)
def test_an_http_error_is_the_sources_error(bench: Bench, status: int) -> None:
    outcome = bench.run(f"/status/{status}")
    contained(outcome, "empty body" if status == 204 else f"HTTP {status}")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/loop", "redirect loop"),
        ("/redirect/9", "too many redirects"),
        ("/redirect-to?url=file:///etc/passwd", "unsupported URL scheme 'file'"),
        ("/truncated-body", "protocol error"),
        ("/encoding/zstd/rss2.xml", "unsupported content-encoding"),
        ("/encoding/gzip/rss2.xml", "could not decode"),
    ],
)
def test_a_broken_transfer_is_the_sources_error(bench: Bench, path: str, error: str) -> None:
    contained(bench.run(path), error)


def test_a_redirect_to_a_local_file_reads_nothing(bench: Bench) -> None:
    outcome = bench.run(f"/redirect-to?url={bench.secret.as_uri()}")
    contained(outcome, "unsupported URL scheme 'file'")


# -- time and memory (subprocesses, measured) ----------------------------------------------


def test_a_gzip_bomb_stops_at_the_cap(bench: Bench) -> None:
    outcome = bench.run("/gzip-bomb", tables='[fetch]\nmax_body_size = "8MiB"', separate=True)
    contained(outcome, "body larger than 8 MiB (decompressed)", seconds=20)
    assert outcome.peak_mib is not None and outcome.peak_mib < 250


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_refused(bench: Bench, chunked: bool) -> None:
    path = f"/huge?size={64 * MiB}" + ("&chunked=1" if chunked else "")
    outcome = bench.run(path, tables='[fetch]\nmax_body_size = "4MiB"', separate=True)
    contained(outcome, "body larger than 4 MiB", seconds=20)
    assert outcome.peak_mib is not None and outcome.peak_mib < 250


def test_a_slow_drip_hits_the_deadline(bench: Bench) -> None:
    outcome = bench.run("/drip?interval=0.5", tables='[fetch]\ndeadline = "2s"', separate=True)
    contained(outcome, "timed out after 2 s (deadline)", seconds=15)


def big_description(size: int) -> Callable[[Any], Reply]:
    """An RSS item whose description holds ``size`` bytes of escaped HTML, streamed, then
    an item with a 2 MiB title."""
    head = rss([E("https://hostile.example/big", "Big one", description="@@")]).split(b"@@")[0]
    tail = (
        b"</description></item>"
        + E("https://hostile.example/long", "Long " * (2 * MiB // 5)).xml().encode()
        + b"</channel></rss>"
    )
    chunk = escape("<p>Cooperatives &amp; <b>more</b>.</p> ").encode() * 2000
    count = size // len(chunk)

    def reply(request: Any) -> Reply:
        def chunks() -> Iterator[bytes]:
            yield head
            for _ in range(count):
                yield chunk
            yield tail

        length = len(head) + count * len(chunk) + len(tail)
        return Reply(200, chunks(), {"Content-Type": "application/rss+xml"}, length)

    return reply


def test_a_100_mb_description_and_a_2_mb_title_are_cut_to_the_limits(bench: Bench) -> None:
    bench.server.route("/big.xml", big_description(100 * MiB))
    tables = (
        '[fetch]\nmax_body_size = "128MiB"\ndeadline = "60s"\n[limits]\ntitle = 300\nsummary = 5000'
    )
    outcome = bench.run("/big.xml", tables=tables, separate=True)
    contained(outcome, None, seconds=60)
    assert outcome.peak_mib is not None and outcome.peak_mib < 800
    rows = {row["guid"]: row for row in outcome.rows()}
    big, long = rows["https://hostile.example/big"], rows["https://hostile.example/long"]
    assert big["summary"].startswith("<p>Cooperatives &amp; <b>more</b>.</p>")
    assert len(big["summary"]) <= 5000 and len(long["title"]) == 300
    assert long["title"].endswith("\u2026")
    for item in json_items(outcome.feeds / "hostile.json"):
        assert len(item["title"]) <= 300 and len(item.get("content_html", "")) <= 5000


@pytest.mark.parametrize(
    "body",
    [billion_laughs, quadratic_blowup],
    ids=["billion-laughs", "quadratic-blowup"],
)
def test_entity_bombs_stay_small(bench: Bench, body: Callable[[], bytes]) -> None:
    bench.server.set_document("/bomb.xml", body())
    outcome = bench.run("/bomb.xml", separate=True)
    contained(outcome, None, seconds=20)
    assert outcome.peak_mib is not None and outcome.peak_mib < 250
    assert all(len(title) <= 1000 for title in outcome.titles())


# -- what the items become -----------------------------------------------------------------

NOW_SLACK = 120  # seconds: "first seen" is the time of the run


def first_seen_dated(outcome: Outcome) -> dict[str, int]:
    """guid -> published, for items dated the time they were first seen."""
    return {r["guid"]: r["published"] for r in outcome.rows() if r["published"] == r["first_seen"]}


IMPOSSIBLE_DATES = [
    "2024-13-45",
    "2024-02-30",
    "0000-00-00",
    "1700000000",
    "99999999999999999999",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "9999-12-31T23:59:59Z",
    "Mon, 01 Jan 2024 00:00:00 +2500",
    "2024-01-01T00:00:00+25:00",
    "Sun, 31 Feb 2021 10:00:00 GMT",
    "Mon, 01 Jan 2024 25:61:61 GMT",
    "-2024-01-01",
    "2024-W01",
    "yesterday",
    "",
]


def test_impossible_dates_become_the_time_first_seen(bench: Bench) -> None:
    body = rss(
        E(f"https://h.example/{i}", f"Dated {i}", date=d) for i, d in enumerate(IMPOSSIBLE_DATES)
    )
    bench.server.set_document("/dates.xml", body)
    before = datetime.now(UTC).timestamp()
    outcome = bench.run("/dates.xml")
    contained(outcome, None)
    rows = outcome.rows()
    assert len(rows) == len(IMPOSSIBLE_DATES)
    for row in rows:
        assert row["published"] == row["first_seen"], row
        assert before - 1 <= row["published"] <= before + NOW_SLACK, row
    atom = {e.title: e.published_parsed for e in entries(outcome.feeds / "hostile.atom")}
    assert all(moment.tm_year == datetime.now(UTC).year for moment in atom.values())


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2024-01-03T10:00:00", "2024-01-03T10:00:00+00:00"),
        ("2024-01-03 10:00:00", "2024-01-03T10:00:00+00:00"),
        ("Wed, 03 Jan 2024 10:00:00", "2024-01-03T10:00:00+00:00"),
        ("03 Jan 2024 10:00:00", "2024-01-03T10:00:00+00:00"),
        ("2024-01-03T10:00:00.123456", "2024-01-03T10:00:00+00:00"),
        ("2024-01-03T10:00:00-05:00", "2024-01-03T15:00:00+00:00"),
        ("Wed, 03 Jan 2024 10:00:00 +1400", "2024-01-02T20:00:00+00:00"),
    ],
)
def test_naive_and_offset_timestamps_become_utc(bench: Bench, written: str, expected: str) -> None:
    bench.server.set_document("/naive.xml", one("Naive", date=written))
    outcome = bench.run("/naive.xml")
    contained(outcome, None)
    [item] = [i for i in json_items(outcome.feeds / "hostile.json")]
    assert item["date_published"] == expected


CONTROL = "\x00\x0b\x1b\x7f\x85\x9f\ufffe\uffff"
REFERENCES = "&#x1B;&#x7F;&#x85;&#xFFFE;&#x0B;"


def test_control_characters_in_any_field_are_removed(bench: Bench) -> None:
    body = rss(
        [
            E(
                f"https://h.example/1{CONTROL}",
                f"Ti{CONTROL}tle",
                f"https://h.example/a{CONTROL}",
                description=escape(f"<p>Sum{CONTROL}mary</p>"),
                extra=f"<category>Cat{CONTROL}</category>"
                f"<author>a@b.example (Ann{CONTROL})</author>",
            ),
            E(
                f"https://h.example/2{REFERENCES}",
                f"Re{REFERENCES}fs",
                description=escape(f"<p>Sum{REFERENCES}mary</p>") + f"and{REFERENCES}",
                extra=f"<category>Cat{REFERENCES}</category>",
            ),
            E("plain-3\x1b", "After the dirty ones"),
        ],
        title=f"Chan{CONTROL}nel",
    )
    bench.server.set_document("/control.xml", body)
    outcome = bench.run("/control.xml")
    contained(outcome, None)  # no forbidden character anywhere in the output
    rows = outcome.rows()
    # As HTML says (titles are read as HTML), a reference to 0x85 is "…" (windows-1252).
    assert [row["title"] for row in rows] == ["Title", "Re\u2026fs", "After the dirty ones"]
    assert [row["guid"] for row in rows] == [
        "https://h.example/1",
        "https://h.example/2\u2026",
        "tag:coopfeed.example.org,2026:hostile/plain-3",
    ]
    assert rows[0]["summary"] == "<p>Summary</p>"
    assert rows[1]["summary"].startswith("<p>Su")  # C1 &#x85; is U+2026 in HTML
    terms = {tag.term for e in entries(outcome.feeds / "all.rss") for tag in e.get("tags", [])}
    assert "Cat" in terms and (outcome.feeds / "cat.rss").is_file()


def test_lone_surrogates_are_removed(bench: Bench) -> None:
    text = rss([E("https://h.example/1", "a@b", description="c@d")]).replace(
        b"@", "\ud800".encode("utf-8", "surrogatepass")
    )
    bench.server.set_document("/surrogates.xml", text)
    outcome = bench.run("/surrogates.xml")
    contained(outcome, None)
    [row] = outcome.rows()
    assert row["title"] == "a\ufffdb" and row["summary"] == "c\ufffdd"


ENCODED = ["Coopérative Zürich – „Genossenschaft“ ©", "Kooperativ Ålesund ÆØÅ"]


def encoded(declaration: str | None, encoding: str, titles: list[str] = ENCODED) -> bytes:
    prolog = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else ""
    items = "".join(
        f"<item><guid>g{n}</guid><title>{t}</title></item>" for n, t in enumerate(titles)
    )
    text = f'{prolog}<rss version="2.0"><channel><title>c</title><link>https://e.example/</link><description>d</description>{items}</channel></rss>'
    return text.encode(encoding)


@pytest.mark.parametrize(
    ("body", "content_type", "titles"),
    [
        (encoded("iso-8859-1", "utf-8"), None, ENCODED),
        (encoded("utf-8", "cp1252"), None, ENCODED),
        (encoded(None, "cp1252"), "application/rss+xml", ENCODED),
        (encoded("windows-1252", "cp1252"), "text/xml; charset=utf-8", ENCODED),
        (encoded("utf-8", "utf-8"), "text/xml; charset=iso-8859-1", ENCODED),
        (encoded(None, "utf-8"), "text/xml", ENCODED),
        (encoded("utf-16", "utf-16"), "text/xml; charset=utf-8", ENCODED),
        (encoded("utf-16", "utf-16-le"), None, ENCODED),
        (encoded("x-no-such-charset", "utf-8"), None, ENCODED),
        (encoded("koi8-r", "koi8-r", ["Кооператив", "Заря"]), None, ["Кооператив", "Заря"]),
        (
            encoded("utf-8", "shift_jis", ["協同組合", "ニュース"]),
            "text/xml; charset=shift_jis",
            ["協同組合", "ニュース"],
        ),
        (
            encoded("utf-8", "utf-8").replace("Å".encode(), b"\xc5", 1),
            None,
            [ENCODED[0], "Kooperativ \ufffdlesund ÆØÅ"],
        ),
    ],
    ids=[
        "utf8-declared-latin1",
        "cp1252-declared-utf8",
        "cp1252-undeclared",
        "cp1252-header-says-utf8",
        "utf8-header-says-latin1",
        "utf8-undeclared",
        "utf16-bom-header-says-utf8",
        "utf16le-without-bom",
        "unknown-charset",
        "koi8r",
        "shift-jis-declared-utf8",
        "utf8-with-one-bad-byte",
    ],
)
def test_wrong_or_missing_encodings_store_no_mojibake(
    bench: Bench, body: bytes, content_type: str | None, titles: list[str]
) -> None:
    bench.server.set_document("/encoded.xml", body, content_type=content_type)
    outcome = bench.run("/encoded.xml")
    contained(outcome, None)
    stored = outcome.titles()
    assert sorted(stored) == sorted(titles)
    for title in stored:
        assert not any(mark in title for mark in ("Ã", "â€", "Â", "Ð")), title


def test_html_and_scripts_become_plain_text_and_safe_html(bench: Bench) -> None:
    evil = (
        '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">js</a> '
        '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data</a> '
        '<a href=" JaVaScRiPt:alert(1)">spaced</a> <a href="&#106;avascript:alert(1)">ref</a> '
        '<img src="x.png" onerror="alert(1)"><iframe src="https://evil.example/"></iframe>'
        "<style>body{display:none}</style><svg onload=alert(1)></svg>"
        '<form action="javascript:x"><input></form><object data="x"></object>'
        '<a href="/relative">relative</a> <a href="vbscript:msgbox(1)">vb</a></p>'
    )
    body = rss(
        [
            E(
                "https://h.example/1",
                escape("<script>alert('t')</script>Hello <b>bold</b> &amp; co"),
                "javascript:alert(1)",
                description=escape(evil),
            ),
            E(
                "https://h.example/2",
                "<![CDATA[<img src=x onerror=alert(1)>Picture]]>",
                "data:text/html;base64,PHNjcmlwdD4=",
                description=f"<![CDATA[{evil}]]>",
            ),
            E("https://h.example/3", "Spaced link", " javascript:alert(1)"),
            E("https://h.example/4", "Referenced link", "&#106;avascript:alert(1)"),
            E("https://h.example/5", "Relative link", "/news/5"),
        ]
    )
    bench.server.set_document("/scripts.xml", body)
    outcome = bench.run("/scripts.xml")
    contained(outcome, None)  # html_problems: no script, no on*, no javascript:/data: link
    rows = outcome.rows()
    assert [r["title"] for r in rows] == [
        "Hello bold & co",
        "Picture",
        "Spaced link",
        "Referenced link",
        "Relative link",
    ]
    assert [r["link"] for r in rows] == [None, None, None, None, bench.server.url("/news/5")]
    for row in rows:
        summary = row["summary"].lower()
        for bad in (
            "<script",
            "onclick",
            "onerror",
            "onload",
            "javascript:",
            "data:",
            "vbscript:",
            "<iframe",
            "<style",
            "<form",
            "<object",
        ):
            assert bad not in summary, (bad, row["summary"])
    assert f'href="{bench.server.url("/relative")}"' in rows[0]["summary"]
    for data in (
        (outcome.feeds / "hostile.rss").read_bytes(),
        (outcome.feeds / "all.atom").read_bytes(),
    ):
        assert b"javascript:" not in data.lower() and b"onerror" not in data.lower()


def test_entries_without_guid_or_link_get_stable_guids_and_working_links(bench: Bench) -> None:
    body = rss(
        [
            E(None, "No id, dated"),
            E(None, "No id, undated", date=None),
            E(None, "No id, a link", "https://h.example/3"),
            E("", "Empty id"),
        ]
    )
    bench.server.set_document("/anonymous.xml", body)
    first = bench.run("/anonymous.xml")
    contained(first, None)
    before = {e.id: e.link for e in entries(first.feeds / "hostile.rss")}
    assert len(before) == 4
    assert all(guid.startswith("tag:coopfeed.example.org,") for guid in before)
    for guid, link in before.items():
        if "h.example" not in guid:
            assert link.startswith("http://127.0.0.1:8080/hostile.html#"), link
    bench.server.set_document("/anonymous.xml", body + b" ")  # a new body: parsed again
    again = bench.run("/anonymous.xml")
    contained(again, None)
    assert {e.id: e.link for e in entries(again.feeds / "hostile.rss")} == before
    assert len(again.rows()) == 4


def test_duplicate_guids_in_one_feed_make_one_item(bench: Bench) -> None:
    body = rss(
        [
            E("dup", "First copy"),
            E("dup", "Second copy"),
            E("https://h.example/a", "A"),
            E("https://h.example/a", "A again", date="Tue, 03 Aug 2021 08:00:00 +0000"),
            E("dup", "Third copy"),
        ]
    )
    bench.server.set_document("/dups.xml", body)
    outcome = bench.run("/dups.xml")
    contained(outcome, None)  # feedcheck: no repeated id in RSS, Atom or JSON Feed
    assert outcome.titles() == ["A", "First copy"]
    assert "repeat a guid" in outcome.stderr


def test_zero_entries_later_delete_nothing(bench: Bench) -> None:
    bench.server.set_document(
        "/later.xml", rss([E("https://h.example/1", "Kept one"), E("k2", "Kept two")])
    )
    contained(bench.run("/later.xml"), None)
    for body, error in [
        (rss([]), None),
        (html_page(), "HTML page"),
        (b"", "empty body"),
        (rss([E("https://h.example/9", "half")])[:-40], "no entries: not well-formed XML"),
        (b"<rss version='2.0'><channel><title>t</title></channel></rss>", None),
    ]:
        bench.server.set_document("/later.xml", body)
        outcome = bench.run("/later.xml")
        contained(outcome, error)
        titles = {e.title for e in entries(outcome.feeds / "hostile.rss")}
        assert {"Kept one", "Kept two"} <= titles


GUIDS = [
    "dup",
    "12345",
    "post 7",
    "../up/1",
    "/root/2",
    "?p=3",
    "#frag-4",
    "./here/5",
    "a:b",
    "tag:x",
]


def moving_feed(base: str | None) -> bytes:
    attr = f' xml:base="{base}"' if base else ""
    items = "".join(
        f"<item{attr if n % 2 else ''}><guid isPermaLink='{'true' if n % 3 else 'false'}'>"
        f"{escape(g)}</guid><title>Moving {n}</title>"
        f"<pubDate>Mon, 02 Aug 2021 0{n % 10}:00:00 +0000</pubDate></item>"
        for n, g in enumerate(GUIDS)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>m</title>'
        f"<link>https://m.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def test_non_url_guids_stay_the_same_when_the_feed_moves(bench: Bench) -> None:
    bench.server.set_document("/a/feed.xml", moving_feed("/blog/"))
    first = bench.run("/a/feed.xml")
    contained(first, None)
    before = {e.title: e.id for e in entries(first.feeds / "hostile.rss")}
    assert len(before) == len(GUIDS)
    for guid in before.values():
        assert "127.0.0.1" not in guid and "localhost" not in guid
    moved = bench.server.url("/x/y/z/moved.xml", host="localhost")
    bench.server.set_document("/x/y/z/moved.xml", moving_feed("/blog/") + b"\n")
    config = bench.folder / "config.toml"  # the operator edits the URL
    config.write_text(
        config.read_text().replace(bench.server.url("/a/feed.xml"), moved), encoding="utf-8"
    )
    code = main(["run", "-c", str(config), "--all"])
    assert code == 0, bench.capsys.readouterr().err
    after = {e.title: e.id for e in entries(first.feeds / "hostile.rss")}
    assert after == before
    assert len(first.rows()) == len(GUIDS)


@pytest.mark.parametrize(
    "title",
    ["&lt;a" * 250_000, "&lt;" * 1_000_000, "&lt;script&gt;" * 80_000, "&amp;" * 400_000],
    ids=["unclosed-tags", "angle-brackets", "unclosed-scripts", "ampersands"],
)
def test_a_megabyte_of_markup_in_a_title_takes_linear_time(bench: Bench, title: str) -> None:
    bench.server.set_document("/markup.xml", one("Start " + title + " end"))
    outcome = bench.run("/markup.xml", separate=True)
    contained(outcome, None, seconds=20)
    assert all(len(t) <= 1000 for t in outcome.titles())
