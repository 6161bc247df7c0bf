"""The text archive: golden samples, properties of the parser, and reading files."""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coopfeed.sources.archive import parse_archive, read_archive
from coopfeed.types import RawItem

DATA = Path(__file__).parent / "data" / "archive"
SAMPLES = sorted(DATA.glob("*.txt"))
SEED = DATA / "ilo-cooperatives.txt"
GOOD = "  1. News\n\n    A good story\n\n    29 July 2021\n\n    What happened.\n"


def as_json(item: RawItem) -> dict[str, object]:
    """An item as the golden files spell it."""
    assert item.published_date is not None
    return {
        "line": int(item.where.rsplit(":", 1)[1]),
        "category": item.categories[0],
        "title": item.title,
        "date": item.published_date.isoformat(),
        "link": item.link,
        "summary": item.summary,
    }


# Golden samples


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_golden_samples(sample: Path) -> None:
    expected = json.loads(sample.with_suffix(".expected.json").read_text(encoding="utf-8"))
    result = read_archive("golden", sample.name, DATA)
    assert result.error is None
    assert [as_json(item) for item in result.items] == expected["entries"]
    assert list(result.warnings) == expected["warnings"]
    for item in result.items:
        assert item.source == "golden"
        assert item.where.startswith(f"{sample.name}:")
        assert item.key is None
        assert item.summary_is_html is False
        assert len(item.categories) == 1


def test_the_seed_listing() -> None:
    items, warnings = parse_archive(
        SEED.read_text(encoding="utf-8"), source="ilo", filename="archive/ilo.txt"
    )
    assert warnings == []
    assert len(items) == 10
    categories = [item.categories[0] for item in items]
    assert categories.count("News") == 8
    assert categories.count("Spotlight Interviews with Co-operators") == 1
    assert categories.count("International Day of Cooperatives") == 1
    assert items[6].summary is None
    assert all(item.summary for i, item in enumerate(items) if i != 6)
    assert items[0].where == "archive/ilo.txt:3"
    assert items[5].title == (
        "Statement by the ILO Deputy Director-General for Policy for the "
        "International Day of Cooperatives - 3 July 2021"
    )
    assert items[5].published_date == date(2021, 7, 3)


# Rules for ambiguous lines


def parse(text: str) -> tuple[list[RawItem], list[str]]:
    return parse_archive(text, source="s", filename="f.txt")


def titles(text: str) -> list[str | None]:
    return [item.title for item in parse(text)[0]]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("29 July 2021", date(2021, 7, 29)),
        ("3 Aug 2021", date(2021, 8, 3)),
        ("03 August 2021", date(2021, 8, 3)),
        ("02 AUGUST 2021", date(2021, 8, 2)),
        ("1 Sept 2021", date(2021, 9, 1)),
        ("1 sep 2021", date(2021, 9, 1)),
        ("July 29, 2021", date(2021, 7, 29)),
        ("29 Jul. 2021", date(2021, 7, 29)),
        ("3rd July 2021", date(2021, 7, 3)),
        ("3\u00a0July\t2021", date(2021, 7, 3)),
        ("29 February 2024", date(2024, 2, 29)),
    ],
)
def test_date_lines(line: str, expected: date) -> None:
    [item], warnings = parse(f"1. News\n\nA title\n\n{line}\n")
    assert (item.published_date, warnings) == (expected, [])


@pytest.mark.parametrize("line", ["30 Feb 2021", "31 June 2021", "0 July 2021", "29 Feb 2021"])
def test_an_impossible_date_skips_the_entry(line: str) -> None:
    text = f"1. News\n\nBad\n\n{line}\n\n2. News\n\nGood\n\n1 July 2021\n"
    items, warnings = parse(text)
    assert [item.title for item in items] == ["Good"]
    assert warnings == [f"f.txt:1: skipped entry: impossible date '{line}'"]


@pytest.mark.parametrize("line", ["3 \u017fept 2021", "\u212aeb 3, 2021", "29 July", "July 2021"])
def test_lines_that_are_not_dates(line: str) -> None:
    assert parse(f"1. News\n\nA title\n\n{line}\n") == ([], ["f.txt:1: skipped entry: no date"])


def test_a_title_ending_with_a_date_is_a_title() -> None:
    text = "1. News\n\nStatement - 3 July 2021\n\n03 July 2021\n\nSummary.\n"
    [item], _ = parse(text)
    assert (item.title, item.published_date) == ("Statement - 3 July 2021", date(2021, 7, 3))


def test_a_title_that_looks_like_a_header_is_a_title() -> None:
    text = "1. News\n\n2021. A year of growth\n\n29 July 2021\n\n2. News\n\nNext\n\n28 July 2021\n"
    assert titles(text) == ["2021. A year of growth", "Next"]


def test_numbered_lines_in_a_summary_stay_in_the_summary() -> None:
    text = (
        "5. News\n\nFirst\n\n29 July 2021\n\nThree points:\n\n1. Members\n\n2. Democracy\n\n"
        "2021. A year of growth\n\n6. News\n\nSecond\n\n28 July 2021\n"
    )
    items, warnings = parse(text)
    assert [item.title for item in items] == ["First", "Second"]
    assert items[0].summary == (
        "Three points:\n\n1. Members\n\n2. Democracy\n\n2021. A year of growth"
    )
    assert warnings == []


def test_a_header_that_skips_numbers_or_goes_back_still_starts_an_entry() -> None:
    text = "".join(
        f"{number}. News\n\nEntry {number}\n\n{day} July 2021\n\n"
        for day, number in enumerate([21, 22, 25, 11, 12], 1)
    )
    assert titles(text) == ["Entry 21", "Entry 22", "Entry 25", "Entry 11", "Entry 12"]


def test_an_entry_without_a_date_does_not_swallow_the_next() -> None:
    text = "1. News\n\nNo date\n\nIts summary.\n\n2. News\n\nDated\n\n1 July 2021\n"
    items, warnings = parse(text)
    assert [item.title for item in items] == ["Dated"]
    assert warnings == ["f.txt:1: skipped entry: no date"]


def test_an_entry_without_a_title_is_skipped() -> None:
    items, warnings = parse("1. News\n\n1 July 2021\n\nA summary.\n")
    assert (items, warnings) == ([], ["f.txt:1: skipped entry: no title"])


def test_entries_without_blank_lines() -> None:
    text = "1. News\nFirst\n29 July 2021\nSummary\n2. News\nSecond\n28 July 2021\n"
    items, _ = parse(text)
    assert [(item.title, item.summary) for item in items] == [
        ("First", "Summary"),
        ("Second", None),
    ]


def test_a_recurring_heading_is_dropped() -> None:
    text = (
        "Cooperative news\nPage one\n\n1. News\n\nFirst\n\n1 July 2021\n\nSummary.\n\n"
        "Cooperative news\n\n1. News\n\nSecond\n\n2 July 2021\n"
    )
    items, _ = parse(text)
    assert [(item.title, item.summary) for item in items] == [
        ("First", "Summary."),
        ("Second", None),
    ]


def test_links() -> None:
    text = (
        "1. News\n\nAfter the title\nhttps://example.org/a\n\n1 July 2021\n\n"
        "2. News\n\nAfter the date\n\n2 July 2021\n\nHTTP://EXAMPLE.ORG/B?x=1\n\nSummary.\n\n"
        "3. News\n\nIn the summary\n\n3 July 2021\n\nSummary.\n\nhttps://example.org/c\n\n"
        "4. News\n\nNot alone on its line\n\n4 July 2021\n\nSee https://example.org/d\n"
    )
    items, _ = parse(text)
    assert [(item.link, item.summary) for item in items] == [
        ("https://example.org/a", None),
        ("HTTP://EXAMPLE.ORG/B?x=1", "Summary."),
        (None, "Summary.\n\nhttps://example.org/c"),
        (None, "See https://example.org/d"),
    ]


def test_a_control_character_in_a_title_is_kept() -> None:
    assert titles("1. News\n\nA bell\x07 and\x00 a NUL\n\n1 July 2021\n") == [
        "A bell\x07 and\x00 a NUL"
    ]


def test_text_without_entries() -> None:
    assert parse("") == ([], [])
    assert parse("Just some text\n") == ([], ["f.txt: no archive entries found"])


# Properties

FRAGMENTS = [
    "1. News",
    "2. News",
    "2021. A year",
    "29 July 2021",
    "30 Feb 2021",
    "July 29, 2021",
    "https://example.org/",
    "A title",
    "News, stories",
    "",
    "  ",
    "\t",
    "\u00a0",
    "\ufeff",
    "\x07",
]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    items, warnings = parse(text)
    assert all(isinstance(item, RawItem) for item in items)
    assert all(isinstance(warning, str) for warning in warnings)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(FRAGMENTS), max_size=3).map(" ".join),
        max_size=40,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_never_raises_on_lines_that_look_like_entries(lines: list[str], newline: str) -> None:
    items, warnings = parse(newline.join(lines))
    for item in items:
        assert item.title and item.published_date and item.categories[0]
    assert all(warning.startswith("f.txt:") for warning in warnings)


# Letters and safe punctuation only: no run of these starts a header, a date or a
# URL line, or equals a heading line (which have a comma).
WORD = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters) | st.characters(categories=["Lu", "Ll"]),
    st.text(
        st.one_of(
            st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=0x24F),
            st.sampled_from(".-'!?()&\u2019\x07"),
        ),
        max_size=10,
    ),
)
WORDS = st.lists(WORD, min_size=1, max_size=12)
HEADINGS = ["News, stories and statements on cooperatives", "Cooperatives, page 2"]
DATE_STYLES = [
    lambda d: f"{d.day} {d:%B} {d.year}",
    lambda d: f"{d.day:02d} {d:%B} {d.year}",
    lambda d: f"{d.day} {d:%b} {d.year}",
    lambda d: f"{d.day:02d} {d:%B} {d.year}".upper(),
    lambda d: f"{d.day} {'Sept' if d.month == 9 else f'{d:%b}'} {d.year}",
    lambda d: f"{d:%B} {d.day}, {d.year}",
    lambda d: f"{d.day} {d:%b}. {d.year}",
]


@dataclass
class Entry:
    category: list[str]
    title: list[str]
    published: date
    style: int
    link: str | None
    link_after_date: bool
    summary: list[list[str]]


ENTRIES = st.builds(
    Entry,
    category=st.lists(WORD, min_size=1, max_size=4),
    title=WORDS,
    published=st.dates(date(1900, 1, 1), date(2100, 12, 31)),
    style=st.integers(0, len(DATE_STYLES) - 1),
    link=st.none() | st.from_regex(r"https://example\.org/[a-z0-9/?=&%-]{0,20}", fullmatch=True),
    link_after_date=st.booleans(),
    summary=st.lists(WORDS, max_size=3),
)


class Renderer:
    """Writes entries as a messy listing, noting each header's line number."""

    def __init__(self, draw: st.DrawFn):
        self.draw = draw
        self.lines: list[str] = []

    def blank(self, least: int = 1) -> None:
        for _ in range(self.draw(st.integers(least, least + 2))):
            self.lines.append(self.draw(st.sampled_from(["", "", " ", "\t", "\u00a0 "])))

    def wrapped(self, words: list[str]) -> None:
        """Words over one to three lines, with noisy spaces and indentation."""
        cuts = sorted(self.draw(st.sets(st.integers(1, len(words)), max_size=2)) - {len(words)})
        space = st.sampled_from([" ", " ", "  ", "\t", "\u00a0", "\u202f"])
        indent = st.sampled_from(["", "  ", "    ", "\t", "\u00a0 "])
        for start, end in zip([0, *cuts], [*cuts, len(words)], strict=True):
            line = "".join(word + self.draw(space) for word in words[start:end]).rstrip(" ")
            self.lines.append(self.draw(indent) + line + self.draw(st.sampled_from(["", " "])))

    def entry(self, number: int, entry: Entry) -> int:
        self.blank()
        line = len(self.lines) + 1
        self.lines.append(f"  {number}. {' '.join(entry.category)}")
        self.blank(least=0)
        self.wrapped(entry.title)
        if entry.link and not entry.link_after_date:
            self.lines.append(entry.link)
        self.blank(least=0)
        self.lines.append("    " + DATE_STYLES[entry.style](entry.published))
        if entry.link and entry.link_after_date:
            self.blank(least=0)
            self.lines.append(entry.link)
        for index, paragraph in enumerate(entry.summary):
            self.blank(least=0 if index == 0 else 1)
            self.wrapped(paragraph)
        return line


@st.composite
def listings(draw: st.DrawFn) -> tuple[str, list[Entry], list[int]]:
    """A listing of one to three pages, its entries and their header lines."""
    pages = draw(st.lists(st.lists(ENTRIES, min_size=1, max_size=5), min_size=1, max_size=3))
    heading = draw(st.sampled_from([None, *HEADINGS]))
    renderer = Renderer(draw)
    entries: list[Entry] = []
    lines: list[int] = []
    for page in pages:
        if heading is not None:
            renderer.blank(least=0)
            renderer.lines.append(heading)
        for number, entry in enumerate(page, 1):
            lines.append(renderer.entry(number, entry))
            entries.append(entry)
    renderer.blank(least=0)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + newline.join(renderer.lines), entries, lines


@settings(max_examples=200, deadline=None)
@given(listings())
def test_every_well_formed_entry_comes_back(listing: tuple[str, list[Entry], list[int]]) -> None:
    text, entries, lines = listing
    items, warnings = parse_archive(text, source="gen", filename="gen.txt")
    assert warnings == []
    assert [as_json(item) for item in items] == [
        {
            "line": line,
            "category": " ".join(entry.category),
            "title": " ".join(entry.title),
            "date": entry.published.isoformat(),
            "link": entry.link,
            "summary": "\n\n".join(" ".join(p) for p in entry.summary) or None,
        }
        for entry, line in zip(entries, lines, strict=True)
    ]


# Reading files


def project(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_a_folder_is_every_regular_file_in_it_sorted(tmp_path: Path) -> None:
    base = project(
        tmp_path,
        {
            "archive/b.txt": GOOD.replace("A good story", "B").encode(),
            "archive/a.txt": GOOD.replace("A good story", "A").encode(),
            "archive/.hidden.swp": b"\x00\x01",
            "archive/sub/c.txt": GOOD.encode(),
        },
    )
    result = read_archive("ilo", "archive", base)
    assert result.error is None
    assert [(item.title, item.where) for item in result.items] == [
        ("A", "archive/a.txt:1"),
        ("B", "archive/b.txt:1"),
    ]
    assert all(item.source == "ilo" for item in result.items)


def test_a_glob_and_a_single_file(tmp_path: Path) -> None:
    base = project(
        tmp_path,
        {"archive/2021.txt": GOOD.encode(), "archive/2022.txt": GOOD.encode(), "notes.md": b"x"},
    )
    assert [i.where for i in read_archive("s", "archive/*.txt", base).items] == [
        "archive/2021.txt:1",
        "archive/2022.txt:1",
    ]
    assert [i.where for i in read_archive("s", "archive/2022.txt", base).items] == [
        "archive/2022.txt:1"
    ]


def test_a_file_outside_the_base_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    base = project(tmp_path, {"elsewhere/x.txt": b"1. News\n\n1 July 2021\n", "base/y": b""})
    result = read_archive("s", str(tmp_path / "elsewhere" / "x.txt"), tmp_path / "base")
    assert result.warnings == (f"{base / 'elsewhere' / 'x.txt'}:1: skipped entry: no title",)


@pytest.mark.parametrize("pattern", ["missing.txt", "missing/*.txt", "empty"])
def test_no_matching_files_is_an_error(tmp_path: Path, pattern: str) -> None:
    (tmp_path / "empty").mkdir()
    result = read_archive("s", pattern, tmp_path)
    assert (result.items, result.error) == ((), f"no files match '{pattern}'")


def test_files_that_are_not_text_fail_the_source_but_not_the_others(tmp_path: Path) -> None:
    base = project(
        tmp_path,
        {
            "archive/a.txt": GOOD.encode(),
            "archive/b.bin": b"\x00\xff\xfe binary",
            "archive/c.txt": "1. News\n\nCaf\u00e9\n".encode("cp1252") + b"\n1 July 2021\n",
            "archive/d.txt": b"\xef\xbb\xbf" + GOOD.encode(),
        },
    )
    result = read_archive("s", "archive", base)
    assert result.error == (
        "archive/b.bin: not a text file (NUL byte at byte 0); "
        "archive/c.txt: not a text file (invalid UTF-8 at byte 12)"
    )
    assert [item.where for item in result.items] == ["archive/a.txt:1", "archive/d.txt:1"]
    assert not result.ok


def test_warnings_name_each_file(tmp_path: Path) -> None:
    base = project(
        tmp_path,
        {
            "archive/a.txt": b"1. News\n\nNo date\n\n2. News\n\nDated\n\n1 July 2021\n",
            "archive/b.txt": b"Heading\n\n1. News\n\nT\n\n30 Feb 2021\n",
        },
    )
    result = read_archive("s", "archive/*.txt", base)
    assert result.warnings == (
        "archive/a.txt:1: skipped entry: no date",
        "archive/b.txt:3: skipped entry: impossible date '30 Feb 2021'",
    )
    assert [item.title for item in result.items] == ["Dated"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_path_that_is_not_a_regular_file_is_an_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    result = read_archive("s", "pipe", tmp_path)
    assert result.error == "pipe: not a regular file"


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_file_that_fails_to_read_fails_alone(tmp_path: Path) -> None:
    base = project(tmp_path, {"archive/a.txt": GOOD.encode()})
    (base / "archive" / "b.txt").symlink_to("/proc/self/mem")  # reading it fails (EIO)
    result = read_archive("s", "archive", base)
    assert result.error == "archive/b.txt: cannot read (Input/output error)"
    assert [item.where for item in result.items] == ["archive/a.txt:1"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_fails_alone(tmp_path: Path) -> None:
    base = project(tmp_path, {"archive/a.txt": GOOD.encode(), "archive/b.txt": GOOD.encode()})
    (base / "archive" / "b.txt").chmod(0)
    try:
        result = read_archive("s", "archive", base)
    finally:
        (base / "archive" / "b.txt").chmod(0o644)
    assert result.error == "archive/b.txt: cannot read (Permission denied)"
    assert [item.where for item in result.items] == ["archive/a.txt:1"]
