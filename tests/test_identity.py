"""Identity keys, guids and slugs: stable, collision-free, safe as file names."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from coopfeed.identity import (
    archive_candidate,
    canonical_url,
    feed_candidate,
    is_absolute_id,
    title_key,
)
from coopfeed.normalize import Normalized
from coopfeed.slug import RESERVED, category_slug


def item(
    title: str = "Jordan launches strategy",
    *,
    key: str | None = None,
    link: str | None = None,
    summary: str = "",
    source: str = "s",
    day: date | None = date(2021, 7, 3),
    category: str = "News",
) -> Normalized:
    published = datetime(2021, 7, 3, 10, tzinfo=UTC)
    return Normalized(
        source=source,
        where="",
        key=key,
        title=title,
        link=link,
        summary=summary,
        published=published,
        updated=published,
        categories=(category,),
        authors=(),
        day=day,
    )


def test_slugs_follow_the_design() -> None:
    assert category_slug("Spotlight Interviews with Co-operators") == (
        "spotlight-interviews-with-co-operators"
    )
    assert category_slug("International Day of Cooperatives") == "international-day-of-cooperatives"
    assert category_slug("../../x") == "x"
    assert category_slug("CON") == "con-category"
    assert category_slug("All") == "all-category"
    assert category_slug("!!!") == "category"
    assert category_slug("Coopérative énergie") == "cooperative-energie"


@given(st.text())
def test_no_slug_escapes_or_is_empty_or_reserved(text: str) -> None:
    slug = category_slug(text)
    assert slug and slug not in RESERVED
    assert all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in slug)
    assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
    assert len(slug) <= 90


def test_archive_guid_is_a_tag_from_date_category_and_title_not_summary() -> None:
    first = archive_candidate(item(summary="<p>old</p>"), "coopfeed.example.org")
    edited = archive_candidate(item(summary="<p>new</p>"), "coopfeed.example.org")
    assert (
        first.guid
        == edited.guid
        == ("tag:coopfeed.example.org,2021-07-03:news/jordan-launches-strategy")
    )
    assert first.key == edited.key
    assert first.anchor.startswith("2021-07-03-jordan-launches-strategy-")


def test_archive_identity_ignores_case_spacing_and_punctuation() -> None:
    a = archive_candidate(item("Jordan launches  strategy!"), "a.org")
    b = archive_candidate(item("jordan LAUNCHES strategy"), "a.org")
    assert a.key == b.key and a.title_key == b.title_key


def test_long_titles_get_a_digest_so_guids_do_not_collide() -> None:
    stem = "Cooperatives " * 12
    a = archive_candidate(item(stem + "in Asia"), "a.org")
    b = archive_candidate(item(stem + "in Africa"), "a.org")
    assert a.guid != b.guid


def test_feed_guid_keeps_absolute_ids_and_tags_the_rest_by_source() -> None:
    assert (
        feed_candidate(item(key="https://coop.example/1"), "a.org").guid == "https://coop.example/1"
    )
    assert feed_candidate(item(key="urn:uuid:1234"), "a.org").guid == "urn:uuid:1234"
    relative = feed_candidate(item(key="dup 1", source="ica"), "a.org")
    assert relative.guid == "tag:a.org,2026:ica/dup%201"
    other = feed_candidate(item(key="dup 1", source="ilo"), "a.org")
    assert relative.guid != other.guid
    by_link = feed_candidate(item(link="https://Coop.Example:443/a?utm_source=x#top"), "a.org")
    assert by_link.key == "link|https://coop.example/a"


def test_canonical_urls() -> None:
    assert (
        canonical_url("HTTPS://Coop.Example:443/a?b=1&utm_medium=x#f")
        == "https://coop.example/a?b=1"
    )
    assert canonical_url("http://coop.example:8080") == "http://coop.example:8080/"
    assert canonical_url("mailto:x@y") is None
    assert canonical_url("http://[::1") is None


def test_absolute_ids() -> None:
    assert is_absolute_id("tag:x.org,2020:1")
    assert not is_absolute_id("dup")
    assert not is_absolute_id("ftp://x/")
    assert not is_absolute_id("http://x/ y")


@given(st.text(), st.text())
def test_title_keys_fold_case_and_space(a: str, b: str) -> None:
    assert title_key(a) == title_key(a.upper().lower()) or title_key(a) == title_key(a.casefold())
    assert title_key(f"  {a}\t ") == title_key(a)
    key = title_key(a + " " + b)
    assert key == key.strip() and "  " not in key
