"""The text archive: listing files copied from news pages go in, RawItems and warnings come out.

``parse_archive`` reads one file's text (DESIGN 3.1); ``read_archive`` reads every file a
configured path, folder or glob matches into one SourceResult.  An entry is a header line
``<number>. <category>``, a title (which may wrap), a line holding only a date, an optional
line holding only a URL, and an optional summary of paragraphs up to the next header.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
from datetime import date
from pathlib import Path

from coopfeed.types import RawItem, SourceResult

__all__ = ["parse_archive", "read_archive"]

BLANK, TEXT, HEADER, DATE, URL = range(5)

#: Whitespace in copies from web pages besides spaces: tabs, no-break spaces and BOMs
#: become spaces everywhere; other Unicode whitespace is stripped around a line and
#: separates the parts of a header or date, and is left inside titles and summaries.
_ODD_SPACES = "\t\v\f\u00a0\u202f\ufeff"
_LONE_CR = re.compile("\r(?!\n)")
_RUN_OF_SPACES = re.compile("  +")
_PARAGRAPH_BREAK = re.compile("\n\n+")
_GLOB_MAGIC = re.compile("[*?[]")
#: A header after a blank line may skip this many numbers (entries lost in copying).
_MAX_GAP = 10
#: A heading of more lines than this is matched in one pass over the listing.
_FEW = 4
#: No date line is longer ("September 30th, 2021." has 21 characters).
_LONGEST_DATE = 40

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def _any_case(*words: str) -> str:
    """A regex for any of ``words`` in any ASCII case ("sept", "SEPT", "Sept", but not
    "\u017fept", which ``re.IGNORECASE`` would take; a scoped ASCII flag is slower)."""
    return "|".join("".join(f"[{c}{c.upper()}]" for c in word) for word in words)


_MONTH = f"({_any_case(*sorted(_MONTHS, key=len, reverse=True))})\\.?"
_DAY = f"([0-9]{{1,2}})(?:{_any_case('st', 'nd', 'rd', 'th')})?"
_YEAR = "([0-9]{4})\\.?"
_DATE = rf"{_DAY}\s+{_MONTH},?\s+{_YEAR}|{_MONTH}\s+{_DAY},?\s+{_YEAR}"
#: A date line: the day first (groups 1-3) or the month first (4-6).
_DATE_LINE = re.compile(_DATE)
#: What a whole line may be: (1) a header, whose category is short (a longer line is
#: a title or summary line); a date (2-7); (8) a URL.
_LINE = re.compile(
    rf"([0-9]{{1,6}}\.\s+\S.{{0,79}})|{_DATE}|((?:{_any_case('https', 'http')})://[^\s/?#]+\S*)"
)
#: The kind of a line that ``_LINE`` matches, by the match's ``lastindex``.
_KIND_OF_GROUP = (TEXT, HEADER, TEXT, TEXT, DATE, TEXT, TEXT, DATE, URL)


def parse_archive(text: str, *, source: str, filename: str) -> tuple[list[RawItem], list[str]]:
    """Parse one archive file's text. Returns (items in file order, warnings).

    Never raises: an entry that cannot be read (no date, an impossible date, no
    title) becomes a warning ``"FILE:LINE: skipped entry: REASON"`` instead.
    """
    listing = _Listing(_split_lines(text))
    items: list[RawItem] = []
    warnings: list[str] = []
    for head, end in listing.entries():
        found = listing.entry(head, end, source, f"{filename}:{head + 1}")
        if isinstance(found, RawItem):
            items.append(found)
        else:
            warnings.append(f"{filename}:{head + 1}: skipped entry: {found}")
    if not items and not warnings and any(listing.lines):
        warnings.append(f"{filename}: no archive entries found")
    return items, warnings


def read_archive(source: str, path: str, base_dir: Path) -> SourceResult:
    """Read every file that ``path`` (a file, a folder or a glob, relative to ``base_dir``
    unless absolute) matches.  A file that cannot be read or is not UTF-8 text sets
    ``error`` while the items of the other files are still returned."""
    try:
        files = _matching_files(path, base_dir)
    except (OSError, ValueError) as e:
        return SourceResult(source, error=f"cannot list '{path}': {e}")
    if not files:
        return SourceResult(source, error=f"no files match '{path}'")
    items: list[RawItem] = []
    warnings: list[str] = []
    errors: list[str] = []
    for file in files:
        name = _display_name(file, base_dir)
        text = _read_text(file, name, errors)
        if text is not None:
            found, met = parse_archive(text, source=source, filename=name)
            items.extend(found)
            warnings.extend(met)
    error = "; ".join(errors) or None
    return SourceResult(source, items=tuple(items), warnings=tuple(warnings), error=error)


# Lines


def _split_lines(text: str) -> list[str]:
    """Text -> lines without their line ends, stripped, tabs and no-break spaces made spaces."""
    if "\r" in text and _LONE_CR.search(text):  # a CR of a CRLF goes with the stripping
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char in _ODD_SPACES:  # faster than a regex or translate when (as usual) none occur
        if char in text:
            text = text.replace(char, " ")
    return list(map(str.strip, text.split("\n")))


def _classify(lines: list[str]) -> list[int]:
    """What each line looks like on its own: BLANK, TEXT, HEADER, DATE or URL.

    The hot loop: one comprehension, and no regex for the long lines that only a
    header (a digit) or a URL (an "h") can begin.
    """
    match = _LINE.fullmatch
    return [
        BLANK
        if not line
        else TEXT
        if len(line) > _LONGEST_DATE and line[0] not in "0123456789hH"
        else _KIND_OF_GROUP[found.lastindex or 0]
        if (found := match(line))
        else TEXT
        for line in lines
    ]


def _parse_date(line: str) -> date | None:
    """A DATE line -> its date, or None when it names an impossible day."""
    parts = line.split(" ")
    if len(parts) == 3 and parts[2].isdecimal() and parts[0].isdecimal():  # "29 July 2021"
        day, month, year = parts
    elif len(parts) == 3 and parts[2].isdecimal() and parts[1].rstrip(",").isdecimal():
        month, day, year = parts[0], parts[1].rstrip(","), parts[2]  # "July 29, 2021"
    else:
        found = _DATE_LINE.fullmatch(line)
        assert found is not None, line
        day, month, year = found.group(1, 2, 3) if found[1] else found.group(5, 4, 6)
    try:
        return date(int(year), _MONTHS[month.lower().rstrip(".,")], int(day))
    except (KeyError, ValueError):
        return None


def _positions(lines: list[str], line: str, start: int) -> list[int]:
    """Where ``line`` occurs in ``lines`` after index ``start``."""
    found: list[int] = []
    with contextlib.suppress(ValueError):
        while True:
            found.append(lines.index(line, found[-1] + 1 if found else start + 1))
    return found


def _tidy(text: str) -> str:
    """Runs of spaces inside a line made one."""
    return _RUN_OF_SPACES.sub(" ", text) if "  " in text else text


# Entries


class _Listing:
    """One file's lines: where its entries are, and what each holds.

    Which header-like lines start an entry (rather than being a title or summary
    line such as "2021. A year of growth"): one where the current entry still needs
    its title and whose next line (blank and URL lines aside) is a date is a title;
    any other starts an entry when it follows a blank line and continues the
    numbering (skipping at most ``_MAX_GAP`` numbers), or when a date line follows
    it before the next header-like line and it follows a blank line or the previous
    header's number.
    Lines before the first entry are the page's heading; where the same lines recur
    (pages pasted together) they count as blank lines.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.kinds = _classify(lines)
        self.categories: dict[str, tuple[str]] = {}
        #: ``_parse_date``, remembered: a listing has several entries a day.
        self.date = functools.cache(_parse_date)

    def entries(self) -> list[tuple[int, int]]:
        """(header index, end index) of every entry, in file order."""
        heads: list[int] = []
        number = 0
        content = -1  # the current entry's first line that is not blank or a URL
        index = -1
        kinds, lines = self.kinds, self.lines
        last = len(kinds) - 1
        with contextlib.suppress(ValueError):
            while True:
                index = kinds.index(HEADER, index + 1)
                line = lines[index]
                found = int(line[: line.index(".")])
                if (  # the usual header, decided here; _starts_entry decides the others
                    content < index
                    and (index == 0 or not lines[index - 1])
                    and 0 < found - number <= _MAX_GAP
                ) or self._starts_entry(index, content, found - number):
                    if not heads:
                        self._drop_heading(index)
                    heads.append(index)
                    number = found
                    content = index + 1  # _next_line(index, (BLANK, URL)), inlined
                    while content < last and (kinds[content] == BLANK or kinds[content] == URL):
                        content += 1
                    content = min(content, last)
        return list(zip(heads, [*heads[1:], len(lines)], strict=False))

    def _drop_heading(self, first: int) -> None:
        """Blank out the lines after ``first`` that repeat a text line before it."""
        lines, kinds = self.lines, self.kinds
        heading = {lines[i] for i in range(first) if kinds[i] == TEXT}
        if len(heading) > _FEW:  # a long preamble: one pass over the lines
            repeats = [i for i in range(first, len(lines)) if lines[i] in heading]
        else:  # a heading line or two: list.index is faster than any loop
            repeats = [i for line in heading for i in _positions(lines, line, first)]
        for index in repeats:
            lines[index], kinds[index] = "", BLANK

    def _starts_entry(self, index: int, content: int, step: int) -> bool:
        if content >= index and self.kinds[self._next_line(index, (BLANK, URL))] == DATE:
            return False  # a title, due here, that looks like a header
        after_blank = index == 0 or not self.lines[index - 1]
        if after_blank and 0 < step <= _MAX_GAP:
            return True
        return (after_blank or step == 1) and self._date_comes_first(index)

    def _next_line(self, index: int, skip: tuple[int, ...]) -> int:
        """The index of the first line after ``index`` whose kind is not in ``skip``
        (the last line's when there is none)."""
        kinds = self.kinds
        for following in range(index + 1, len(kinds)):
            if kinds[following] not in skip:
                return following
        return len(kinds) - 1

    def _date_comes_first(self, index: int) -> bool:
        """Is the next date line before the next header-like line (but for one that
        would be this entry's title)?"""
        kinds = self.kinds
        first = self._next_line(index, (BLANK, URL))
        if kinds[first] == HEADER:
            return kinds[self._next_line(first, (BLANK, URL))] == DATE
        for following in range(first, len(kinds)):
            if kinds[following] == DATE or kinds[following] == HEADER:
                return kinds[following] == DATE
        return False

    def entry(self, head: int, end: int, source: str, where: str) -> RawItem | str:
        """The entry from line ``head`` up to ``end`` as a RawItem, or why it cannot be read.

        The title is the lines between the header and the first date line, the
        summary the lines after it.
        """
        lines, kinds = self.lines, self.kinds
        try:
            at = kinds.index(DATE, head + 1, end)
        except ValueError:
            return "no date"
        published = self.date(lines[at])
        if published is None:
            return f"impossible date '{lines[at]}'"
        link = self._take_link(head + 1, at, end) if URL in kinds[head + 1 : end] else None
        title = " ".join(filter(None, lines[head + 1 : at]))
        if not title:
            return "no title"
        return RawItem(
            source=source,
            title=_tidy(title),
            where=where,
            link=link,
            summary=self._summary(at + 1, end),
            published_date=published,
            categories=self._category(head),
        )

    def _take_link(self, start: int, at: int, end: int) -> str | None:
        """The first URL line among the title's lines, else the summary's first line
        if it is a URL line; that line is blanked out."""
        try:
            index = self.kinds.index(URL, start, at)
        except ValueError:
            index = next((i for i in range(at + 1, end) if self.lines[i]), at)
            if self.kinds[index] != URL:
                return None
        link, self.lines[index], self.kinds[index] = self.lines[index], "", BLANK
        return link

    def _summary(self, start: int, end: int) -> str | None:
        """The lines of each paragraph joined with spaces, the paragraphs with blank lines."""
        lines = self.lines[start:end]
        found = list(filter(None, lines))
        if len(found) == 1:  # the usual one-line paragraph: no copies
            text = found[0]
        elif not found:
            return None
        else:
            text = "\n".join(lines).strip("\n")
            text = "\n\n".join([p.replace("\n", " ") for p in _PARAGRAPH_BREAK.split(text)])
        return _tidy(text)

    def _category(self, head: int) -> tuple[str]:
        """The header's category, as ``RawItem.categories``."""
        text = self.lines[head].split(".", 1)[1]
        category = self.categories.get(text)
        if category is None:
            category = self.categories[text] = (_tidy(text.strip()),)
        return category


# Files


def _matching_files(path: str, base_dir: Path) -> list[Path]:
    """The files ``path`` names: itself, the regular files in it (sorted, not hidden), or
    the regular files its glob matches (sorted)."""
    full = Path(path) if os.path.isabs(path) else base_dir / path
    if full.is_dir():
        return [f for f in sorted(full.iterdir()) if not f.name.startswith(".") and f.is_file()]
    if full.exists():
        return [full]
    if not _GLOB_MAGIC.search(path):
        return []
    if os.path.isabs(path):
        matches = [Path(m) for m in glob.glob(path)]
    else:
        matches = [base_dir / m for m in glob.glob(path, root_dir=base_dir)]
    return sorted(m for m in matches if m.is_file())


def _display_name(file: Path, base_dir: Path) -> str:
    """The file as messages name it: relative to ``base_dir`` when under it."""
    file = Path(os.path.normpath(file))
    base = Path(os.path.normpath(base_dir))
    return file.relative_to(base).as_posix() if file.is_relative_to(base) else str(file)


def _read_text(file: Path, name: str, errors: list[str]) -> str | None:
    """The file's text, or None with a message added to ``errors``.

    Only UTF-8 is read (with or without a BOM): guessing a legacy encoding would
    publish mangled titles whose identities change once the file is fixed.
    """
    if not file.is_file():
        errors.append(f"{name}: not a regular file")
        return None
    try:
        data = file.read_bytes()
    except OSError as e:
        errors.append(f"{name}: cannot read ({e.strerror or e})")
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        errors.append(f"{name}: not a text file (NUL byte at byte {nul})")
        return None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        errors.append(f"{name}: not a text file (invalid UTF-8 at byte {bom + e.start})")
        return None
