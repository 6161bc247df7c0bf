"""Operator controls: remove/restore, filters, renamed categories, identity policies,
items and doctor, without ever re-sending an item."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from httpserver import FeedServer

from coopfeed.cli import main

Project = Callable[..., Path]
JORDAN = "Jordan launches national strategy for the cooperative movement, with ILO support"


def entries(path: Path) -> list[feedparser.FeedParserDict]:
    return feedparser.parse(io.BytesIO(path.read_bytes())).entries


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def every_output(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith("."))


def rss(items: list[tuple[str, str, str]], date: str = "Mon, 02 Aug 2021 08:00:00 +0000") -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<pubDate>{date}</pubDate></item>"
        for guid, title, link in items
    )
    return (
        f'<rss version="2.0"><channel><title>w</title><link>https://w.example/</link>'
        f"<description>d</description>{body}</channel></rss>"
    ).encode()


def test_a_removed_item_stays_removed_in_every_format(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    [jordan] = [e for e in entries(feeds / "news.rss") if e.title == JORDAN]
    capsys.readouterr()
    assert main(["remove", jordan.link, "-c", str(config)]) == 0
    assert capsys.readouterr().out == f"removed: {jordan.id} {JORDAN}\n"
    assert JORDAN.encode() not in every_output(feeds)
    assert main(["run", "-c", str(config), "--all"]) == 0  # the archive still carries it
    assert JORDAN.encode() not in every_output(feeds)
    before = snapshot(feeds)
    assert main(["run", "-c", str(config), "--all"]) == 0
    assert snapshot(feeds) == before
    assert main(["restore", jordan.id, "-c", str(config)]) == 0
    [back] = [e for e in entries(feeds / "news.rss") if e.title == JORDAN]
    assert (back.id, back.published) == (jordan.id, jordan.published)


def test_removing_an_unknown_item_is_a_clear_error(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    assert main(["remove", "tag:nothing", "-c", str(config)]) == 1
    assert capsys.readouterr().err == (
        "coopfeed: error: no stored item has the guid or link tag:nothing\n"
    )


def test_a_removed_item_arriving_from_another_source_stays_removed(
    project: Project, http_server: FeedServer
) -> None:
    http_server.set_document(
        "/w.xml",
        rss(
            [("https://w.example/j", JORDAN.upper(), "https://w.example/j")],
            date="Sat, 03 Jul 2021 07:00:00 +0000",
        ),
    )
    archive_source = (
        '\n[[sources]]\nname = "ilo"\ntype = "archive"\npath = "archive"\n'
        'timezone = "Europe/Zurich"\n'
    )
    config = project(sources=archive_source)
    assert main(["run", "-c", str(config)]) == 0
    [jordan] = [e for e in entries(config.parent / "feeds/news.rss") if e.title == JORDAN]
    assert main(["remove", jordan.id, "-c", str(config)]) == 0
    config.write_text(
        config.read_text() + f'\n[[sources]]\nname = "w"\ntype = "feed"\n'
        f'url = "{http_server.url("/w.xml")}"\n'
    )
    assert main(["run", "-c", str(config)]) == 0
    assert http_server.count("/w.xml") == 1
    assert JORDAN.upper().encode() not in every_output(config.parent / "feeds")


def test_an_exclude_rule_hides_without_fetching_and_comes_back_unchanged(
    project: Project, http_server: FeedServer
) -> None:
    http_server.set_document(
        "/w.xml",
        rss(
            [
                ("https://w.example/1", "Webinar on housing", "https://w.example/1"),
                ("https://w.example/2", "Housing co-op opens", "https://w.example/2"),
            ]
        ),
    )
    url = http_server.url("/w.xml")
    source = f'\n[[sources]]\nname = "w"\ntype = "feed"\nurl = "{url}"\ncategory = "Housing"\n'
    config = project(sources=source)
    assert main(["run", "-c", str(config)]) == 0
    before = {e.id: e.published for e in entries(config.parent / "feeds/housing.atom")}
    assert len(before) == 2
    config.write_text(config.read_text() + 'exclude = { title = "(?i)webinar" }\n')
    assert main(["run", "-c", str(config)]) == 0
    assert http_server.count("/w.xml") == 1  # not due: no request
    assert [e.title for e in entries(config.parent / "feeds/housing.atom")] == [
        "Housing co-op opens"
    ]
    assert b"Webinar" not in every_output(config.parent / "feeds")
    config.write_text(config.read_text().replace('exclude = { title = "(?i)webinar" }\n', ""))
    assert main(["run", "-c", str(config)]) == 0
    assert {e.id: e.published for e in entries(config.parent / "feeds/housing.atom")} == before


def test_category_filters_and_max_age(project: Project) -> None:
    config = project(
        tables='[filters."News"]\nexclude = { summary = "(?i)webinar" }\n'
        '[filters."Spotlight Interviews with Co-operators"]\nmax_age = "30d"\n'
    )
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    news = [e.title for e in entries(feeds / "news.rss")]
    assert len(news) == 6 and not any("webinar" in t.lower() for t in news)
    assert not (feeds / "spotlight-interviews-with-co-operators.rss").exists()
    assert len(entries(feeds / "all.rss")) == 7


def test_renaming_a_category_moves_items_and_removes_the_old_files(project: Project) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    feeds = config.parent / "feeds"
    old = {e.id: e.published for e in entries(feeds / "news.rss")}
    config.write_text(
        config.read_text().replace(
            '"Press release" = "News"', '"Press release" = "News"\n"News" = "ILO news"'
        )
    )
    assert main(["run", "-c", str(config)]) == 0
    assert {e.id: e.published for e in entries(feeds / "ilo-news.rss")} == old
    for ext in ("rss", "atom", "json", "html"):
        assert not (feeds / f"news.{ext}").exists()
    assert b"news.rss" not in (feeds / "feeds.opml").read_bytes().replace(b"ilo-news.rss", b"")
    assert b'href="news.' not in (feeds / "index.html").read_bytes()
    (feeds / "mine.txt").write_text("an operator's own file")
    assert main(["run", "-c", str(config)]) == 0
    assert (feeds / "mine.txt").exists()


def test_identity_link_copes_with_guids_that_change_every_fetch(
    project: Project, http_server: FeedServer
) -> None:
    source = (
        f'\n[[sources]]\nname = "w"\ntype = "feed"\nurl = "{http_server.url("/w.xml")}"\n'
        'identity = "link"\n'
    )
    config = project(sources=source)
    for run in range(5):
        http_server.set_document(
            "/w.xml",
            rss(
                [
                    (f"https://w.example/r{run}/1", "One", "https://w.example/1"),
                    (f"https://w.example/r{run}/2", "Two", "https://w.example/2"),
                ]
            ),
        )
        assert main(["run", "-c", str(config), "--all"]) == 0
    assert sorted(e.title for e in entries(config.parent / "feeds/all.rss")) == ["One", "Two"]


def test_switching_the_identity_policy_sends_nothing_again(
    project: Project, http_server: FeedServer
) -> None:
    http_server.set_document(
        "/w.xml",
        rss([("g-1", "One", "https://w.example/1"), ("g-2", "Two", "https://w.example/2")]),
    )
    source = f'\n[[sources]]\nname = "w"\ntype = "feed"\nurl = "{http_server.url("/w.xml")}"\n'
    config = project(sources=source)
    assert main(["run", "-c", str(config)]) == 0
    before = {e.id for e in entries(config.parent / "feeds/all.rss")}
    for policy in ("link", "title-date", "guid"):
        text = config.read_text().split("identity =")[0].rstrip("\n") + "\n"
        config.write_text(text + f'identity = "{policy}"\n')
        assert main(["run", "-c", str(config), "--all"]) == 0
        assert {e.id for e in entries(config.parent / "feeds/all.rss")} == before, policy


def test_items_lists_and_filters(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    config = project()
    assert main(["run", "-c", str(config)]) == 0
    capsys.readouterr()
    assert (
        main(["items", "-c", str(config), "--json", "--category", "news", "--text", "WEBINAR"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [row["published"][:10] for row in rows] == ["2021-07-01", "2021-06-30"]
    assert all(
        row["categories"] == ["News"] and row["sources"] == ["ilo-cooperatives"] for row in rows
    )
    assert main(["items", "-c", str(config), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("2021-07-29 tag:coopfeed.example.org,2021-07-29:news/")
        and out.count("\n") == 2
    )


def test_doctor_reports_in_plain_sentences(
    project: Project, http_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    archive_source = '\n[[sources]]\nname = "ilo"\ntype = "archive"\npath = "archive"\n'
    config = project(
        sources=archive_source + f'\n[[sources]]\nname = "down"\ntype = "feed"\n'
        f'url = "{http_server.url("/status/500")}"\n'
    )
    assert main(["doctor", "-c", str(config)]) == 1
    assert "Source 'ilo' has never been fetched." in capsys.readouterr().out
    assert main(["run", "-c", str(config)]) == 1
    (config.parent / "feeds" / "stale.rss").write_text("old")
    capsys.readouterr()
    assert main(["doctor", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert "Source 'down' (http://" in out and "has failed every time it was tried" in out
    assert "HTTP 500" in out
    assert "Category 'News' has had no new item since 2021-07-29." in out
    assert "stale.rss is not published by coopfeed" in out
