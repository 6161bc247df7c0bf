"""Near-duplicate titles: similar enough, never across a big difference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coopfeed.dedupe import near_duplicate, similarity
from coopfeed.identity import title_key


def test_small_edits_are_near_duplicates() -> None:
    a = title_key(
        "Jordan launches national strategy for the cooperative movement, with ILO support"
    )
    b = title_key(
        "Jordan launches national strategy for the co-operative movement with ILO support"
    )
    assert near_duplicate(a, b, 0.85)


def test_different_stories_are_not() -> None:
    a = title_key("ILO COOP holds kick-off meeting with SNUAC")
    b = title_key("ILO COOP participates in a webinar on women's collective entrepreneurship")
    assert not near_duplicate(a, b, 0.85)
    assert not near_duplicate(title_key("Weekly update 12"), title_key("Weekly update 13"), 0.95)


def test_a_threshold_of_one_disables_matching() -> None:
    assert not near_duplicate("same title", "same title", 1.0)


@given(st.text(), st.text())
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    ka, kb = title_key(a), title_key(b)
    assert similarity(ka, kb) == similarity(kb, ka)
    assert 0.0 <= similarity(ka, kb) <= 1.0
    assert similarity(ka, ka) == 1.0
