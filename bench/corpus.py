"""Seeded, deterministic test data: a seed and sizes go in, files and strings come out.

- :func:`write_corpus` writes F feeds of E entries into a folder: even-numbered feeds are
  RSS 2.0, odd ones Atom 1.0; HTML (links, images, lists, a script now and then) in the
  descriptions; non-ASCII text; several date styles (RFC 822 with a zone name or an offset,
  RFC 3339 with ``Z``, an offset or fractions of a second, ``dc:date``, Atom without
  ``published``, a bare date).  About 10% of the entries repeat a story another feed
  carries, with the title's case and spacing changed (now and then a spelling, for the
  near-duplicate path), their own link and guid, and a date a few hours apart.
- :func:`mutate` rewrites a given fraction of the feeds (three new entries on top, the
  oldest three dropped, one summary edited): what the loopback server then serves changed.
- :func:`archive_text` makes a text archive of N entries in the seed's format
  (``archive/ilo-cooperatives.txt``).

The same seed gives the same bytes on every machine (``random.Random`` seeded with a
string).  ``manifest.json`` in the folder says what is there: every feed's path, and how
many distinct stories the corpus holds (what a store that merges repeats should keep).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

#: Entries are dated before this moment (fixed, so a seed always gives the same bytes,
#: and in the past, so no date is clamped as being in the future).
BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MANIFEST = "manifest.json"
#: Entries per feed that a changed feed gains on top (and loses at the bottom).
NEW_PER_CHANGE = 3

WORDS = (
    "cooperative cooperatives members workers union credit dairy farmers housing energy "
    "solar wind community bank savings loans fair trade coffee cocoa grain harvest market "
    "retail grocery platform digital care health insurance mutual federation alliance "
    "congress assembly board election report annual growth jobs youth women rural urban "
    "water electricity broadband fisheries forestry artisans weavers taxi drivers riders "
    "bakery brewery pharmacy school childcare elderly training skills policy law reform "
    "statute tax relief pandemic recovery climate transition just resilient local regional "
    "national international solidarity economy social enterprise network summit award "
    "launch opens expands merger partnership agreement funding grant study survey data "
    "census week day festival exhibition conference webinar workshop course guide toolkit"
).split()
#: Non-ASCII words: accents, other scripts, an emoji.
FOREIGN = (
    "coopérative Genossenschaft cooperativa kooperatywa družstvo szövetkezet osuuskunta "
    "кооператив συνεταιρισμός 協同組合 合作社 협동조합 تعاونية सहकारी Zürich São Paulo "
    "Montréal Kraków Malmö Ålesund Çanakkale naïve café señora niño €10m 🌱 –"
).split()
PLACES = (
    "Bologna Mondragón Kerala Québec Manchester Nairobi Oaxaca Seoul Lyon Gwangju Cusco "
    "Dhaka Accra Lagos Kampala Tromsø Bilbao Emilia-Romagna Kraków Zürich Montréal"
).split()
#: Spellings that differ by a letter or a hyphen: a variant makes a near duplicate.
VARIANTS = {
    "cooperative": "co-operative",
    "cooperatives": "co-operatives",
    "organisation": "organization",
    "programme": "program",
    "labour": "labor",
}
CATEGORIES = (
    "Agriculture",
    "Housing",
    "Finance",
    "Energy",
    "Retail",
    "Health",
    "Policy",
    "Worker co-ops",
    "Events",
    "Coopératives",
)
HTML_BITS = (
    '<a href="/news/{n}">read more</a>',
    '<img src="images/photo-{n}.jpg" alt="{w}" width="640" height="480">',
    "<strong>{w}</strong>",
    "<em>{w}</em>",
    "<ul><li>{w}</li><li>{w2}</li></ul>",
    '<a href="https://example.org/report-{n}.pdf" onclick="track()">{w} (PDF)</a>',
    "<blockquote>{w} {w2}</blockquote>",
    "<script>alert('{n}')</script>",
    '<span style="color:red">{w}</span>',
    "<br/>",
)
RSS_DATE_STYLES = ("+0000", "GMT", "-0400", "+0200", "no-weekday", "dc:date")
ATOM_DATE_STYLES = ("Z", "+02:00", "fraction", "updated-only", "date-only")


@dataclass(frozen=True, slots=True)
class Entry:
    guid: str
    guid_is_permalink: bool
    title: str
    link: str
    published: datetime
    summary: str
    categories: tuple[str, ...]
    author: str
    title_html: bool = False  # Atom only: the title is type="html" with an <em> in it


@dataclass(slots=True)
class Manifest:
    """What a corpus folder holds (written as manifest.json)."""

    seed: str
    feeds: int
    entries: int
    paths: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    repeats: int = 0  # entries that carry a story an earlier entry carried
    stories: int = 0  # distinct stories: what a store that merges repeats keeps
    rounds: int = 0  # how many times mutate() ran

    def save(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        return cls(**json.loads((folder / MANIFEST).read_text(encoding="utf-8")))

    @property
    def total_entries(self) -> int:
        return self.feeds * self.entries


def feed_path(index: int) -> str:
    """The URL path of feed ``index``: RSS for even numbers, Atom for odd ones; some are
    served as plain ``.xml`` (application/xml) rather than their own media type."""
    rss = index % 2 == 0
    extension = "xml" if index % 10 in (4, 7) else ("rss" if rss else "atom")
    return f"/feeds/{index:05d}.{extension}"


def source_name(index: int) -> str:
    return f"feed-{index:05d}"


# -- the wire: stories several feeds carry -------------------------------------------------


class _Wire:
    """Stories that several feeds carry: which slots carry which story, decided up front
    so each feed can be written on its own."""

    SHARE = 0.2  # of the slots carry a wire story; each story lands in about two slots

    def __init__(self, seed: str, feeds: int, entries: int) -> None:
        self.seed = seed
        self.size = max(1, int(feeds * entries * self.SHARE / 2))
        rng = random.Random(f"{seed}:wire")
        self.slots: dict[tuple[int, int], int] = {}
        self.carried: dict[int, int] = {}
        for feed in range(feeds):
            taken: set[int] = set()
            for slot in range(entries):
                if rng.random() < self.SHARE:
                    story = rng.randrange(self.size)
                    if story not in taken:
                        taken.add(story)
                        self.slots[feed, slot] = story
                        self.carried[story] = self.carried.get(story, 0) + 1

    def story(self, story: int) -> tuple[list[str], datetime]:
        rng = random.Random(f"{self.seed}:story:{story}")
        words = _title_words(rng)
        if rng.random() < 0.5:  # a word with a variant spelling, for near duplicates
            words.insert(rng.randrange(len(words)), rng.choice(list(VARIANTS)))
        published = BASE - timedelta(hours=rng.uniform(0, 24 * 60))
        return words, published

    @property
    def repeats(self) -> int:
        return sum(count - 1 for count in self.carried.values())


def _title_words(rng: random.Random) -> list[str]:
    words = rng.sample(WORDS, rng.randint(5, 9))
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words)), rng.choice(FOREIGN))
    if rng.random() < 0.3:
        words.append(f"in {rng.choice(PLACES)}")
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), "&")
    words[0] = words[0][:1].upper() + words[0][1:]
    return words


def _vary(words: list[str], rng: random.Random) -> str:
    """A carrier's own copy of a wire title: case and spacing changed, now and then a
    variant spelling (which no case folding undoes)."""
    words = list(words)
    if rng.random() < 0.25:
        words = [VARIANTS.get(word, word) for word in words]
    style = rng.randrange(4)
    if style == 0:
        title = " ".join(word.title() if word.isascii() else word for word in words)
    elif style == 1:
        title = " ".join(words).upper()
    elif style == 2:
        title = " ".join(words).lower()
    else:
        title = " ".join(words)
    if rng.random() < 0.5:
        title = "  " + title.replace(" ", "  ", 2) + " \n "
    return title


# -- entries -------------------------------------------------------------------------------


def _entries(seed: str, index: int, count: int, version: int, wire: _Wire | None) -> list[Entry]:
    """Feed ``index``'s entries, newest first, at ``version`` (0 for the original)."""
    rng = random.Random(f"{seed}:feed:{index}")
    hours = math.exp(rng.uniform(0, math.log(24 * 7)))  # one entry every 1 to 168 hours
    start = BASE - timedelta(hours=rng.uniform(0, 48))
    host = f"coop{index:05d}.example.org"
    shift = version * NEW_PER_CHANGE  # a changed feed: new entries on top
    entries = []
    for position in range(count):
        number = position - shift  # numbers below 0 are the entries each change added
        entry_rng = random.Random(f"{seed}:entry:{index}:{number}")
        published = start - timedelta(hours=number * hours + entry_rng.uniform(0, hours / 2))
        story = wire.slots.get((index, number)) if wire is not None and number >= 0 else None
        if story is not None:
            words, when = wire.story(story)  # type: ignore[union-attr]
            title = _vary(words, entry_rng)
            published = when + timedelta(hours=entry_rng.uniform(-6, 6))
        else:
            title = " ".join(_title_words(entry_rng))
        edited = version > 0 and number == 0  # a changed feed also edits its newest entry
        entries.append(_entry(entry_rng, index, number, host, title, published, edited))
    entries.sort(key=lambda e: e.published, reverse=True)
    return entries


def _entry(
    rng: random.Random,
    index: int,
    number: int,
    host: str,
    title: str,
    published: datetime,
    edited: bool,
) -> Entry:
    slug = "-".join(word.lower() for word in title.split()[:4] if word.isalnum()) or "story"
    kind = rng.randrange(4)
    if kind == 0:
        guid, permalink = f"https://{host}/news/{number}-{slug}", True
    elif kind == 1:
        guid, permalink = f"tag:{host},2025:entry-{number}", False
    elif kind == 2:
        guid, permalink = f"urn:uuid:{_uuid(rng)}", False
    else:
        guid, permalink = f"post-{number}", False  # a bare id, as many CMSs write
    link = f"https://{host}/news/{number}-{slug}?utm_source=rss&amp;n={number}"
    return Entry(
        guid=guid,
        guid_is_permalink=permalink,
        title=title,
        link=link,
        published=published.replace(microsecond=0),
        summary=_summary(rng, number, edited),
        categories=tuple(rng.sample(CATEGORIES, rng.randint(1, 2))),
        author=rng.choice(("Ana Pérez", "Jürgen Müller", "Amina Diallo", "李雷", "Sam Taylor")),
        title_html=rng.random() < 0.1,
    )


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _summary(rng: random.Random, number: int, edited: bool) -> str:
    """About 1 KB of HTML: paragraphs of words with markup mixed in."""
    paragraphs = []
    for _ in range(rng.randint(2, 3)):
        parts = []
        for _ in range(rng.randint(20, 36)):
            roll = rng.random()
            if roll < 0.08:
                bit = rng.choice(HTML_BITS)
                parts.append(
                    bit.format(n=rng.randrange(10_000), w=rng.choice(WORDS), w2=rng.choice(FOREIGN))
                )
            elif roll < 0.2:
                parts.append(rng.choice(FOREIGN))
            else:
                parts.append(rng.choice(WORDS))
        paragraphs.append(f"<p>{' '.join(parts)}.</p>")
    if edited:
        paragraphs.append("<p><em>Updated:</em> this story has been corrected.</p>")
    if rng.random() < 0.1:
        paragraphs.append("<p>Fish &amp; chips &lt;3 &#8220;quoted&#8221; &nbsp;&copy;</p>")
    return "\n".join(paragraphs)


# -- documents -----------------------------------------------------------------------------


def _rss_date(when: datetime, style: str) -> str:
    if style == "GMT":
        return format_datetime(when, usegmt=True)
    if style in ("-0400", "+0200"):
        hours = -4 if style == "-0400" else 2
        return format_datetime(when.astimezone(_zone(hours)))
    if style == "no-weekday":
        return when.strftime("%d %b %Y %H:%M:%S +0000")
    return format_datetime(when)  # "+0000"


def _atom_date(when: datetime, style: str) -> str:
    if style == "+02:00":
        return when.astimezone(_zone(2)).isoformat()
    if style == "fraction":
        return when.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def rss_document(index: int, entries: list[Entry], style: str) -> str:
    host = f"coop{index:05d}.example.org"
    items = []
    for entry in entries:
        guid_attribute = "" if entry.guid_is_permalink else ' isPermaLink="false"'
        if style == "dc:date":
            date = f"<dc:date>{entry.published.strftime('%Y-%m-%dT%H:%M:%SZ')}</dc:date>"
        else:
            date = f"<pubDate>{_rss_date(entry.published, style)}</pubDate>"
        if index % 4 == 0:
            description = f"<description><![CDATA[{entry.summary}]]></description>"
        else:
            description = f"<description>{escape(entry.summary)}</description>"
        categories = "".join(f"<category>{escape(c)}</category>" for c in entry.categories)
        items.append(
            f"""<item>
<title>{escape(entry.title)}</title>
<link>{entry.link}</link>
<guid{guid_attribute}>{escape(entry.guid)}</guid>
{date}
<dc:creator>{escape(entry.author)}</dc:creator>
{categories}
{description}
</item>"""
        )
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n' if index % 3 else ""
    return f"""{declaration}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>Cooperative news {index} – {escape(FOREIGN[index % len(FOREIGN)])}</title>
<link>https://{host}/</link>
<description>News from cooperative {index}</description>
<language>en</language>
<lastBuildDate>{format_datetime(BASE)}</lastBuildDate>
{chr(10).join(items)}
</channel>
</rss>
"""


def atom_document(index: int, entries: list[Entry], style: str) -> str:
    host = f"coop{index:05d}.example.org"
    base = f' xml:base="https://{host}/"' if index % 4 == 1 else ""
    items = []
    for entry in entries:
        if style == "date-only":
            dates = f"<published>{entry.published.date().isoformat()}</published>"
        elif style == "updated-only":
            dates = ""
        else:
            dates = f"<published>{_atom_date(entry.published, style)}</published>"
        updated = _atom_date(entry.published + timedelta(minutes=30), style)
        if entry.title_html:
            words = entry.title.split(" ")
            words[-1] = f"<em>{words[-1]}</em>"
            title = f'<title type="html">{escape(" ".join(words))}</title>'
        else:
            title = f"<title>{escape(entry.title)}</title>"
        categories = "".join(
            f"<category term={quoteattr(c.lower())} label={quoteattr(c)}/>"
            for c in entry.categories
        )
        items.append(
            f"""<entry>
{title}
<link rel="alternate" type="text/html" href="{entry.link}"/>
<id>{escape(entry.guid)}</id>
{dates}
<updated>{updated}</updated>
<author><name>{escape(entry.author)}</name></author>
{categories}
<summary type="html">{escape(entry.summary)}</summary>
</entry>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"{base}>
<title>Coopérative {index} news</title>
<link rel="alternate" href="https://{host}/"/>
<link rel="self" href="https://{host}/feed.atom"/>
<id>tag:{host},2025:feed</id>
<updated>{_atom_date(BASE, "Z")}</updated>
{chr(10).join(items)}
</feed>
"""


def feed_document(seed: str, index: int, count: int, version: int, wire: _Wire | None) -> bytes:
    """Feed ``index`` at ``version`` as the bytes the server serves."""
    style_rng = random.Random(f"{seed}:style:{index}")
    entries = _entries(seed, index, count, version, wire)
    if index % 2 == 0:
        text = rss_document(index, entries, style_rng.choice(RSS_DATE_STYLES))
    else:
        text = atom_document(index, entries, style_rng.choice(ATOM_DATE_STYLES))
    return text.encode("utf-8")


# -- the folder ----------------------------------------------------------------------------


def write_corpus(folder: Path, *, feeds: int, entries: int, seed: str) -> Manifest:
    """Write ``feeds`` feeds of ``entries`` entries under ``folder`` and its manifest."""
    wire = _Wire(seed, feeds, entries)
    manifest = Manifest(seed=seed, feeds=feeds, entries=entries)
    for index in range(feeds):
        path = feed_path(index)
        target = folder / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(feed_document(seed, index, entries, 0, wire))
        manifest.paths.append(path)
        manifest.versions.append(0)
    manifest.repeats = wire.repeats
    manifest.stories = feeds * entries - wire.repeats
    manifest.save(folder)
    return manifest


def mutate(folder: Path, fraction: float) -> list[int]:
    """Change ``fraction`` of the feeds (at least one), chosen by the seed and the round;
    returns their indexes.  Each gains NEW_PER_CHANGE new entries, loses as many old ones,
    and its newest older entry's summary is edited.  The manifest counts the new stories."""
    manifest = Manifest.load(folder)
    manifest.rounds += 1
    rng = random.Random(f"{manifest.seed}:mutate:{manifest.rounds}")
    count = max(1, round(manifest.feeds * fraction))
    changed = sorted(rng.sample(range(manifest.feeds), min(count, manifest.feeds)))
    wire = _Wire(manifest.seed, manifest.feeds, manifest.entries)
    for index in changed:
        manifest.versions[index] += 1
        data = feed_document(manifest.seed, index, manifest.entries, manifest.versions[index], wire)
        (folder / manifest.paths[index].lstrip("/")).write_bytes(data)
    manifest.stories += len(changed) * NEW_PER_CHANGE
    manifest.save(folder)
    return changed


def corpus_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "feeds").iterdir())


# -- the text archive ----------------------------------------------------------------------

_MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()


def _archive_date(day: datetime, rng: random.Random) -> str:
    month = _MONTH_NAMES[day.month - 1]
    style = rng.random()
    if style < 0.6:
        return f"{day.day:02d} {month} {day.year}"  # the seed's style: "29 July 2021"
    if style < 0.8:
        return f"{month} {day.day}, {day.year}"
    if style < 0.9:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10 * (day.day // 10 != 1), "th")
        return f"{day.day}{suffix} {month} {day.year}"
    return f"{day.day} {month[:3]} {day.year}"


def archive_text(entries: int, *, seed: str) -> str:
    """A listing of ``entries`` entries in the seed's format, newest first: a header line
    ``N. Category``, a title (now and then wrapped over two lines), a date line, sometimes
    a URL line, and zero to two summary paragraphs."""
    rng = random.Random(f"{seed}:archive")
    categories = ("News", "Spotlight Interviews with Co-operators", "Statements", "Events")
    lines = ["News, stories and statements on cooperatives", ""]
    day = datetime(2021, 7, 29, tzinfo=UTC)
    for number in range(1, entries + 1):
        if rng.random() < 0.4:
            day -= timedelta(days=rng.randint(1, 3))
        lines += [f"  {number}. {rng.choice(categories)}", ""]
        title = " ".join(_title_words(rng))
        if rng.random() < 0.1:
            cut = title.rfind(" ", 0, len(title) // 2 + 1)
            lines += [f"    {title[:cut]}", f"    {title[cut + 1 :]}", ""]
        else:
            lines += [f"    {title}", ""]
        lines += [f"    {_archive_date(day, rng)}", ""]
        if rng.random() < 0.2:
            lines += [f"    https://www.ilo.org/coop/news/{number}", ""]
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
            lines += [f"    {words[:1].upper()}{words[1:]}.", ""]
    return "\n".join(lines) + "\n"
