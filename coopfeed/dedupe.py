"""Title similarity for near-duplicate matching across sources (DESIGN 5.1); pure.

Two normalized titles are near duplicates when the Jaccard similarity of their
character trigram sets reaches a threshold.  The store asks only about items
within a short date window of each other (blocking), so the cost grows with the
number of items, not with its square.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How the store decides that items from different sources are one story."""

    same_title_window: float = 86_400.0  # seconds: equal titles within a day
    near_duplicate_window: float = 3 * 86_400.0  # seconds: similar titles within this
    similarity: float = 0.85  # 0 < similarity <= 1; 1 disables near-duplicate matching


@lru_cache(maxsize=256)
def trigrams(title_key: str) -> frozenset[str]:
    padded = f"  {title_key} "
    # Each character with the two after it: zip and join run in C, a third faster than
    # slicing the string in a generator (a search makes its key's, and those it compares).
    return frozenset(map("".join, zip(padded, padded[1:], padded[2:], strict=False)))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two title keys' trigram sets, from 0 to 1."""
    if a == b:
        return 1.0
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def could_reach(a: str, b: str, threshold: float) -> bool:
    """A cheap upper bound: lengths too different can never be similar enough."""
    la, lb = len(a) + 1, len(b) + 1
    return min(la, lb) / max(la, lb) >= threshold


def near_duplicate(a: str, b: str, threshold: float) -> bool:
    return threshold < 1.0 and could_reach(a, b, threshold) and similarity(a, b) >= threshold


# -- parts and signatures (see coopfeed.store.matching) ---------------------------------

#: The least threshold titles are filed by signatures for (see coopfeed.store.matching);
#: a key is then dealt into about a quarter as many parts as it has trigrams.
SIGNATURES_FROM = 0.8


def _could_share(shared: int, size: int, other: int, threshold: float) -> bool:
    """Whether keys with ``size`` and ``other`` trigrams, sharing at most ``shared``,
    can reach ``threshold`` (the Jaccard similarity, computed as
    :func:`coopfeed.dedupe.similarity` does)."""
    shared = min(shared, size, other)
    return shared / (size + other - shared) >= threshold


@lru_cache(maxsize=4_096)
def partner_sizes(size: int, threshold: float) -> range:
    """How many trigrams a key can have and be similar enough to one with ``size``."""
    least = next(
        other for other in range(1, size + 1) if _could_share(other, size, other, threshold)
    )
    most = size
    while _could_share(size, size, most + 1, threshold):
        most += 1
    return range(least, most + 1)


@lru_cache(maxsize=4_096)
def differ(size: int, threshold: float) -> int:
    """The most trigrams in which a key with ``size`` of them and one similar enough to
    it can differ: ``|A| + |B| - 2 |A & B|`` with the least ``|A & B|`` that reaches the
    threshold, for each size ``|B|`` can have."""
    most = 0
    for other in partner_sizes(size, threshold):
        shared = next(
            n for n in range(min(size, other) + 1) if _could_share(n, size, other, threshold)
        )
        most = max(most, size + other - 2 * shared)
    return most


def part_count(size: int, threshold: float) -> int:
    """How many parts the trigrams of a key with ``size`` of them are dealt into: one
    more than they can differ in from a key similar enough."""
    return differ(size, threshold) + 1


@lru_cache(maxsize=4_096)
def partner_parts(size: int, threshold: float) -> frozenset[int]:
    """The part counts of the keys that can be similar enough to one with ``size``
    trigrams (keys of other sizes dealt into as many parts come along too)."""
    return frozenset(part_count(other, threshold) for other in partner_sizes(size, threshold))


_CODES: dict[str, int] = {}


def codes(grams: Collection[str], known: dict[str, int] = _CODES) -> list[int]:
    """The trigrams' hashes: 32 bits of BLAKE2b, the same in every process (signatures
    are stored), remembered per trigram (in ``known``).  Not CRC-32: it is linear, so the
    XOR of a part's CRCs is the CRC of the XOR of its trigrams, and unrelated parts
    collide."""
    if len(known) > 1_000_000:  # a bound for stores in many scripts
        known.clear()
    try:
        return list(map(known.__getitem__, grams))  # most are known
    except KeyError:
        pass
    for gram in grams:
        if gram not in known:
            digest = hashlib.blake2b(gram.encode("utf-8", "surrogatepass"), digest_size=4)
            known[gram] = int.from_bytes(digest.digest(), "big")
    return list(map(known.__getitem__, grams))


def forget_codes() -> None:
    """Forget the trigrams' hashes :func:`codes` remembered."""
    _CODES.clear()


def signatures(codes: list[int], parts: int) -> list[int]:
    """A signature for each of ``parts`` parts that trigrams are dealt into by their
    hashes (``codes``): the XOR of its trigrams' hashes, told apart from the other parts'
    (a clash only makes a key to compare, never hides one)."""
    dealt = [0] * parts
    for code in codes:
        dealt[code % parts] ^= code
    return [code * parts + part for part, code in enumerate(dealt)]


_trigrams = trigrams.__wrapped__  # the same, without filling trigrams' cache


def parts_of_items(
    items: Sequence[tuple[int, str, int]], threshold: float
) -> list[tuple[int, int, int]]:
    """The ``title_parts`` rows of stored items (id, title key, published), sorted: one
    job for a worker process when a run files its titles.  Remembers nothing from one
    call to the next (a worker goes on to render files)."""
    known: dict[str, int] = {}
    found: list[tuple[int, int, int]] = []
    for item_id, title_key, published in items:
        grams = _trigrams(title_key)
        signed = signatures(codes(grams, known), part_count(len(grams), threshold))
        found.extend((signature, published, item_id) for signature in set(signed))
    found.sort()
    return found
