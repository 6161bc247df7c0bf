"""Finding the stored item that is the same story as a new one, by title (DESIGN 5.1).

An item from another source is the same story when its title key is equal and its date
within ``same_title_window``, or when its title is a near duplicate (trigram Jaccard
similarity, :mod:`coopfeed.dedupe`) and its date within ``near_duplicate_window``.  Of
several such items the answer is the oldest (lowest id) with an equal title, else the
oldest near duplicate.

Comparing a title with every item in its window costs too much once windows hold
thousands of items, so :class:`TitleIndex` keeps, in memory, the title keys of the items
of the days it has loaded, filed so that a search compares only a few of them.  Both
ways it files them are exact:

- By signatures, for thresholds of at least :data:`SIGNATURES_FROM`: a few dictionary
  lookups a search.  If a key with ``b`` trigrams and any key similar enough to it
  differ in at most ``k`` trigrams (:func:`differ`), deal the trigrams into ``k + 1``
  parts by their hash; each differing trigram upsets one part, so the two keys have at
  least one part equal (the pigeonhole principle, as in Arasu et al.'s PartEnum).  Each
  key is filed under a signature of each of its parts, and a search looks up its own
  parts, dealt the same ways, for the sizes that could be similar enough
  (:func:`partner_sizes`).  Below that threshold keys are dealt into so many parts that
  most are empty, and keys with the same part empty all find each other.
- By trigram, per day: two trigram sets with Jaccard similarity at least ``t`` share at
  least ``ceil(t * |A|)`` of the ``|A|`` trigrams of the first, so any
  ``|A| - ceil(t * |A|) + 1`` of its trigrams include one the other has.  A search
  counts, in the days of its window, the keys that have the rarest ones.

The index lives as long as its store and follows other writers by reading the rows
added since it last looked (item ids only grow while the store's lock serializes
writers, and a stored title key and date never change).  Before a batch, it loads the
days the batch will search where that pays (:meth:`TitleIndex.prepare`): days with few
items, and days that enough of its candidates search, within :data:`MAX_INDEXED` items.  A
candidate whose window is not all loaded asks the database.  From a threshold of
:data:`SIGNATURES_FROM` it looks up its parts' signatures in ``title_parts``
(:func:`search_parts`), where every stored key is filed as in memory (at the end of a
run, or by the first search that finds keys not filed: :func:`file_parts`).  Below it,
one query filtered by date, length and the key's rarest trigrams
(:func:`search_database`, :meth:`TitleIndex.rarest`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import Connection, and_, case, func, insert, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from coopfeed.dedupe import (
    SIGNATURES_FROM,
    MatchPolicy,
    _could_share,
    codes,
    near_duplicate,
    part_count,
    partner_parts,
    parts_of_items,
    signatures,
    trigrams,
)
from coopfeed.store.schema import (
    driver_rows,
    insert_tuples,
    items,
    items_in_chunks,
    meta,
    title_parts,
)
from coopfeed.workers import Workers

log = logging.getLogger(__name__)

#: The most items the index holds (about 2 KB an item, its title key included).
MAX_INDEXED = 250_000
DAY = 86_400
#: How many trigrams a database search takes beyond the least it must: a near duplicate
#: then has ``EXTRA + 1`` of them, which few other titles in the window have.
EXTRA = 6
#: A day with at most this many items is loaded whenever a candidate searches it; a
#: bigger one when at least LOAD_DEMAND candidates search it (indexing a row costs
#: about as much as reading it in fifty queries).
SMALL_DAY = 200
LOAD_DEMAND = 50
#: With ``title_parts`` (:func:`uses_parts`) a search of the database costs about as
#: much as indexing 20 rows (0.7 ms against 35 µs), and would search about 5 days at
#: once: a bigger day is loaded when at most this many rows per candidate searching it.
ROWS_PER_SEARCH = 4


def order(item_id: int) -> tuple[int, int]:
    """Stored items (positive ids) by id, then the batch's new ones (negative
    provisional ids -1, -2, ...) in the order they came: oldest first."""
    return (0, item_id) if item_id > 0 else (1, -item_id)


def _day(timestamp: int) -> int:
    return timestamp // DAY


def _how_many(size: int, threshold: float) -> int:
    # ceil(t * size), without float noise making 0.85 * 20 = 17.000000000000004 into 18
    need = math.ceil(threshold * size - 1e-9)
    return size - need + 1


@dataclass(slots=True)
class _Key:
    """A title key's trigrams, their hashes and its signatures per part count, kept
    from the search of a candidate for filing it when it is stored next."""

    text: str
    grams: frozenset[str]
    codes: list[int]
    signed: dict[int, list[int]]

    def signatures(self, parts: int) -> list[int]:
        found = self.signed.get(parts)
        if found is None:
            found = self.signed[parts] = signatures(self.codes, parts)
        return found


class TitleIndex:
    """Title keys and dates of stored items, filed to find near duplicates; see the
    module's docstring."""

    def __init__(self, last_id: int) -> None:
        self.last_id = last_id  # rows up to this id are in (for the loaded days)
        # day -> how many stored items it holds, once asked (kept up to date with the
        # items this index is told of; a day where another writer stored is asked again).
        self._day_sizes: dict[int, int] = {}
        self.clear()

    def clear(self) -> None:
        """Forget every row (``last_id`` stays: loading days reads up to it)."""
        self.days: set[int] = set()  # days loaded from the database (all their rows)
        self._last: _Key | None = None  # the key searched or filed last
        self._ids: list[int] = []  # position -> item id (provisional ids are negative)
        self._keys: list[str] = []
        self._published: list[int] = []
        self._sizes: list[int] = []  # how many trigrams each key has
        self._positions: dict[int, int] = {}  # item id -> position
        self._by_key: dict[str, list[int]] = defaultdict(list)
        # trigram -> items with it, all days: made when first asked (titles filed by
        # signature never are), then kept up to date.
        self._counts: Counter[str] | None = None
        # The keys are filed for this threshold (0: not yet; the first search chooses),
        self._similarity = 0.0
        # either by signature: parts -> signature -> positions of the keys dealt into
        # that many parts (a position alone, or a list when several keys have it),
        self._parts: dict[int, dict[int, int | list[int]]] = defaultdict(dict)
        # or by trigram: day -> trigram -> positions.
        self._postings: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item_id: int, title_key: str, published: int) -> None:
        if item_id in self._positions:
            return
        if item_id < 0 and _day(published) in self._day_sizes:  # new: being stored
            self._day_sizes[_day(published)] += 1
        position = len(self._ids)
        self._ids.append(item_id)
        self._keys.append(title_key)
        self._published.append(published)
        self._positions[item_id] = position
        self._by_key[title_key].append(position)
        key = self._key(title_key)
        self._sizes.append(len(key.grams))
        if self._counts is not None:
            self._counts.update(key.grams)
        if self._similarity:
            self._file(position, key, published)

    def _key(self, title_key: str) -> _Key:
        """The trigrams of ``title_key`` (and more), computed once for its search and
        its filing."""
        last = self._last
        if last is None or last.text != title_key:
            grams = trigrams(title_key)
            last = self._last = _Key(title_key, grams, codes(grams), {})
        return last

    def _file(self, position: int, key: _Key, published: int) -> None:
        if self._similarity < SIGNATURES_FROM:
            postings = self._postings[_day(published)]
            for gram in key.grams:
                postings[gram].append(position)
            return
        count = part_count(len(key.grams), self._similarity)
        table = self._parts[count]
        for signature in key.signatures(count):
            filed = table.get(signature)
            if filed is None:
                table[signature] = position
            elif isinstance(filed, int):
                table[signature] = [filed, position]
            else:
                filed.append(position)

    def _index(self, similarity: float) -> None:
        """File every key for ``similarity`` (again)."""
        self._similarity = similarity
        self._parts.clear()
        self._postings.clear()
        for position, (key, published) in enumerate(zip(self._keys, self._published, strict=True)):
            self._file(position, self._key(key), published)

    def rename(self, renamed: dict[int, int]) -> None:
        """Provisional ids -> the ids the database gave."""
        for old, new in renamed.items():
            position = self._positions.pop(old)
            self._ids[position] = new
            self._positions[new] = position

    def rarest(self, title_key: str, policy: MatchPolicy, extra: int = 0) -> list[str]:
        """The trigrams of ``title_key`` a near duplicate must share at least
        ``extra + 1`` of: the rarest ones (any would do; rare ones have short postings),
        those inside the key (not made with the padding) first."""
        counts = self._counts
        if counts is None:
            counts = self._counts = Counter(chain.from_iterable(map(trigrams, self._keys)))
        grams = sorted(
            self._key(title_key).grams,
            key=lambda gram: (gram not in title_key, counts[gram], gram),
        )
        return grams[: _how_many(len(grams), policy.similarity) + extra]

    def search(
        self, title_key: str, published: int, policy: MatchPolicy, skip: set[int]
    ) -> int | None:
        """The item an equal title, else a near-duplicate one, makes this the same story
        as (among the indexed ones, not in ``skip``)."""
        ids, dates = self._ids, self._published
        best: int | None = None
        for position in self._by_key.get(title_key, ()):
            item_id = ids[position]
            if item_id in skip or abs(dates[position] - published) > policy.same_title_window:
                continue
            if best is None or order(item_id) < order(best):
                best = item_id
        if best is not None or policy.similarity >= 1.0:
            return best
        if policy.similarity != self._similarity:
            self._index(policy.similarity)
        found: Iterable[int]
        if policy.similarity < SIGNATURES_FROM:
            found = self._by_trigrams(title_key, published, policy)
        else:
            found = self._by_signatures(title_key, policy.similarity)
        window = policy.near_duplicate_window
        candidates = [
            position
            for position in found
            if abs(dates[position] - published) <= window and ids[position] not in skip
        ]
        candidates.sort(key=lambda position: order(ids[position]))
        for position in candidates:  # oldest first: the first near duplicate is the answer
            if near_duplicate(title_key, self._keys[position], policy.similarity):
                return ids[position]
        return None

    def _by_signatures(self, title_key: str, threshold: float) -> set[int]:
        """The keys that share a part with this one, dealt as theirs were."""
        key = self._key(title_key)
        found: set[int] = set()
        # Keys of other sizes dealt into as many parts come along: comparing rules them out.
        for count in partner_parts(len(key.grams), threshold):
            table = self._parts.get(count)
            if table:
                for filed in map(table.get, key.signatures(count)):
                    if filed is None:  # most
                        continue
                    if isinstance(filed, int):
                        found.add(filed)
                    else:
                        found.update(filed)
        return found

    def _by_trigrams(self, title_key: str, published: int, policy: MatchPolicy) -> list[int]:
        """The keys in the window that have enough of this one's rarest trigrams."""
        # With ``extra`` more trigrams than the least, a near duplicate has extra + 1 of them.
        grams = self.rarest(title_key, policy, EXTRA)
        size = len(self._key(title_key).grams)
        least = len(grams) - _how_many(size, policy.similarity) + 1
        days = range(
            _day(published - int(policy.near_duplicate_window)),
            _day(published + int(policy.near_duplicate_window)) + 1,
        )
        window = [self._postings[day] for day in days if day in self._postings]
        hits = Counter(
            chain.from_iterable(day[gram] for day in window for gram in grams if gram in day)
        )
        # A key with n of the chosen trigrams shares at most n + (size - len(grams)) with
        # this one: the most its similarity can be (monotone in the shared count, and so
        # is its float) rules out most candidates before their trigrams are computed.
        others = size - len(grams)
        sizes, threshold = self._sizes, policy.similarity
        return [
            position
            for position, n in hits.items()
            if n >= least and _could_share(n + others, size, sizes[position], threshold)
        ]

    # -- following the database ------------------------------------------------------

    def refresh(self, c: Connection) -> None:
        """Add the rows other writers stored since the last look (in loaded days).
        Asked before every batch, through the driver: the rows are mostly the last
        batch's own, which SQLAlchemy's results would cost several times as much."""
        rows = driver_rows(c, _SINCE, (self.last_id,))
        positions, days = self._positions, self.days
        for item_id, key, published in rows:
            if item_id in positions:  # stored through this index
                continue
            self._day_sizes.pop(_day(published), None)
            if _day(published) in days:
                self.add(item_id, key, published)
        if rows:  # in id order, all above the last
            self.last_id = rows[-1][0]

    def load(self, c: Connection, days: Iterable[int]) -> None:
        """Load every row of ``days`` not loaded yet."""
        missing = sorted(set(days) - self.days)
        for first, last in _runs(missing):
            query = select(items.c.id, items.c.title_key, items.c.published).where(
                items.c.published >= first * DAY,
                items.c.published < (last + 1) * DAY,
                items.c.id <= self.last_id,
            )
            for item_id, key, published in c.execute(query):
                self.add(item_id, key, published)
        self.days.update(missing)

    def covers(self, published: int, policy: MatchPolicy) -> bool:
        """Whether every day a candidate published then is compared with is loaded."""
        return window_days([published], policy) <= self.days

    def prepare(
        self, c: Connection, published: Sequence[int], policy: MatchPolicy, limit: int
    ) -> None:
        """Load the days a batch of candidates (published at these times) will search,
        where that pays (a day with few items, or one that many candidates search), as
        long as the index stays within ``limit`` items.  The other candidates ask the
        database."""
        demand: Counter[int] = Counter()
        for when in published:
            demand.update(window_days([when], policy))
        parts = uses_parts(policy)
        for attempt in range(2):
            missing = set(demand) - self.days
            rows = self._sizes_of(c, missing)
            budget = limit - len(self)
            chosen = []
            # Cheap days first, then the most searched.
            for day in sorted(missing, key=lambda day: (rows.get(day, 0), -demand[day], day)):
                count = rows.get(day, 0)
                if count > budget:
                    break
                if count <= SMALL_DAY or (
                    count <= demand[day] * ROWS_PER_SEARCH if parts else demand[day] >= LOAD_DEMAND
                ):
                    chosen.append(day)
                    budget -= count
            if attempt == 0 and len(chosen) < len(missing) and len(self) > limit // 2:
                # Make room: forget the days loaded for earlier batches, and choose again.
                self.clear()
                continue
            self.load(c, chosen)
            return

    def _sizes_of(self, c: Connection, days: set[int]) -> dict[int, int]:
        """day -> how many stored items it holds (see ``_day_sizes``), for ``days``."""
        sizes = self._day_sizes
        asked = days - sizes.keys()
        if asked:
            counted = day_counts(c, asked)
            sizes.update((day, counted.get(day, 0)) for day in asked)
        return {day: sizes[day] for day in days}


#: The rows stored after a given id, in id order (see TitleIndex.refresh).
_SINCE = "SELECT id, title_key, published FROM items WHERE id > ? ORDER BY id"


def day_counts(c: Connection, days: Iterable[int]) -> dict[int, int]:
    """day -> how many stored items it holds (days without any left out)."""
    counts: dict[int, int] = {}
    day = func.floor(items.c.published / float(DAY))
    for first, last in _runs(sorted(days)):
        query = (
            select(day, func.count())
            .where(items.c.published >= first * DAY, items.c.published < (last + 1) * DAY)
            .group_by(day)
        )
        for number, count in c.execute(query):
            counts[int(number)] = int(count)
    return counts


def window_days(published: Iterable[int], policy: MatchPolicy) -> set[int]:
    """The days whose items candidates published at these times are compared with."""
    window = int(max(policy.same_title_window, policy.near_duplicate_window))
    days: set[int] = set()
    for when in published:
        days.update(range(_day(when - window), _day(when + window) + 1))
    return days


def search_database(
    c: Connection,
    title_key: str,
    published: int,
    policy: MatchPolicy,
    skip: set[int],
    grams: Sequence[str],
) -> int | None:
    """:meth:`TitleIndex.search` over the stored items, for days not indexed: one query,
    narrowed by date, by length (:func:`coopfeed.dedupe.could_reach`) and by ``grams``
    (from :meth:`TitleIndex.rarest` with ``EXTRA``: a near duplicate has ``EXTRA + 1``
    of them, or all of them when the key has fewer trigrams)."""
    window = int(max(policy.same_title_window, policy.near_duplicate_window))
    conditions: list[ColumnElement[bool]] = [
        items.c.published.between(published - window, published + window)
    ]
    if policy.similarity < 1.0:
        # could_reach asks t <= (len(a) + 1) / (len(b) + 1) <= 1 / t
        size = len(title_key) + 1
        shortest = math.ceil(policy.similarity * size) - 2  # one character of slack
        longest = math.floor(size / policy.similarity)  # each way, for float rounding
        conditions.append(func.length(items.c.title_key).between(shortest, longest))
        padded = literal("  ") + items.c.title_key + literal(" ")
        hits = [
            # Only a trigram that starts or ends with a space can come from a row's
            # padding; the others are looked for in the key itself (no string built
            # per row).  Being inside *this* key says nothing about the row's.
            case(
                (
                    (padded if gram[0] == " " or gram[-1] == " " else items.c.title_key).like(
                        f"%{_escape(gram)}%", escape="\\"
                    ),
                    1,
                ),
                else_=0,
            )
            for gram in grams
        ]
        least = len(grams) - _how_many(len(trigrams(title_key)), policy.similarity) + 1
        conditions.append(or_(items.c.title_key == title_key, sum(hits[1:], hits[0]) >= least))
    else:
        conditions.append(items.c.title_key == title_key)
    query = select(items.c.id, items.c.title_key, items.c.published).where(and_(*conditions))
    equal: int | None = None
    near: int | None = None
    for item_id, key, when in c.execute(query):
        if item_id in skip:
            continue
        distance = abs(when - published)
        if key == title_key and distance <= policy.same_title_window:
            equal = item_id if equal is None else min(equal, item_id)
        elif (
            distance <= policy.near_duplicate_window
            and (near is None or item_id < near)
            and near_duplicate(title_key, key, policy.similarity)
        ):
            near = item_id
    return equal if equal is not None else near


def uses_parts(policy: MatchPolicy) -> bool:
    """Whether near duplicates are found by stored part signatures for this policy."""
    return SIGNATURES_FROM <= policy.similarity < 1.0


#: meta's key for what ``title_parts`` holds: "<threshold> <last item id filed>".
PARTS_KEY = "title_parts"
#: Items filed per statement.
_FILL_ROWS = 1_000


def file_parts(c: Connection, policy: MatchPolicy, workers: Workers | None = None) -> None:
    """Bring ``title_parts`` up to date for a policy that :func:`uses_parts`: file the
    items stored since it was last brought up to date (all of them after the upgrade to
    schema 6 or a change of threshold).  Done when a search first needs the table, not
    as each item is stored: a run that finds every near duplicate in memory (a first run
    over many feeds) would pay for scattered writes to a large index in every
    transaction; filed later, many at a time and in order, they cost far less (4.5 s
    more to store a cold run of the bench, filed as stored, against 2.5 s to file it
    at the end).  With ``workers``, they make the rows while this process writes."""
    value = c.execute(select(meta.c.value).where(meta.c.key == PARTS_KEY)).scalar()
    threshold, _, last = (value or "").partition(" ")
    wanted = repr(policy.similarity)
    if threshold != wanted or not last.isdigit():
        c.execute(title_parts.delete())
        last = "0"
    upto = int(last)
    count = c.execute(select(func.count()).where(items.c.id > upto)).scalar() or 0
    columns = (items.c.id, items.c.title_key, items.c.published)
    chunks = items_in_chunks(c, columns, after=upto, size=_FILL_ROWS)
    similarity = policy.similarity
    jobs = (
        (parts_of_items, ([(r["id"], r["title_key"], r["published"]) for r in rows], similarity))
        for rows in chunks
    )
    made = (workers or Workers(0)).imap(jobs, _FILL_AHEAD, -(-count // _FILL_ROWS))
    for parts in made:  # each chunk's rows, sorted in the table's order
        if parts:
            insert_tuples(c, title_parts, _PART_COLUMNS, parts)
            upto = max(upto, max(item_id for _, _, item_id in parts))
    if count > _FILL_ROWS:
        log.info("filed the titles of %d stored items for near-duplicate matching", count)
    if value is not None and count == 0 and threshold == wanted:
        return
    c.execute(meta.delete().where(meta.c.key == PARTS_KEY))
    c.execute(insert(meta).values(key=PARTS_KEY, value=f"{wanted} {upto}"))


#: How many chunks of titles worker processes file ahead of the one being written.
_FILL_AHEAD = 4
_PART_COLUMNS = ("signature", "published", "item_id")


def forget_parts(c: Connection) -> None:
    """``title_parts`` is no longer kept up to date (the policy does not use it): if it
    is ever used again, it is filed anew."""
    if c.execute(select(meta.c.value).where(meta.c.key == PARTS_KEY)).scalar() is not None:
        c.execute(meta.delete().where(meta.c.key == PARTS_KEY))


def search_parts(
    c: Connection, title_key: str, published: int, policy: MatchPolicy, skip: set[int]
) -> int | None:
    """:func:`search_database` through the stored part signatures (for a policy that
    :func:`uses_parts`): an equal title by its key, else the keys that share a part with
    this one, dealt as theirs were, within the window (see the module's docstring)."""
    same = policy.same_title_window
    query = select(items.c.id).where(
        items.c.title_key == title_key,
        items.c.published.between(published - same, published + same),
    )
    equal = [int(item_id) for (item_id,) in c.execute(query) if item_id not in skip]
    if equal:
        return min(equal)
    grams = trigrams(title_key)
    code_list = codes(grams)
    wanted: set[int] = set()
    for count in partner_parts(len(grams), policy.similarity):
        wanted.update(signatures(code_list, count))
    near = int(policy.near_duplicate_window)
    found = (
        select(items.c.id, items.c.title_key)
        .join(title_parts, title_parts.c.item_id == items.c.id)
        .where(
            title_parts.c.signature.in_(sorted(wanted)),
            title_parts.c.published.between(published - near, published + near),
        )
        .distinct()
    )
    best: int | None = None
    for item_id, key in c.execute(found):
        if (
            item_id not in skip
            and (best is None or item_id < best)
            and near_duplicate(title_key, key, policy.similarity)
        ):
            best = int(item_id)
    return best


def _escape(gram: str) -> str:
    return gram.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _runs(days: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted days -> (first, last) of each run of consecutive days."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
