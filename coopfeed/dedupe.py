"""Title similarity for near-duplicate matching across sources (DESIGN 5.1); pure.

Two normalized titles are near duplicates when the Jaccard similarity of their
character trigram sets reaches a threshold.  The store asks only about items
within a short date window of each other (blocking), so the cost grows with the
number of items, not with its square.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How the store decides that items from different sources are one story."""

    same_title_window: float = 86_400.0  # seconds: equal titles within a day
    near_duplicate_window: float = 3 * 86_400.0  # seconds: similar titles within this
    similarity: float = 0.85  # 0 < similarity <= 1; 1 disables near-duplicate matching


@lru_cache(maxsize=4_096)
def trigrams(title_key: str) -> frozenset[str]:
    padded = f"  {title_key} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


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
