"""`coopfeed opml import`: feeds from an OPML list become [[sources]] tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from coopfeed.cli import main
from coopfeed.config import load_config

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>Subscriptions</title></head><body>
  <outline text="Energy co-ops">
    <outline type="rss" text="REScoop news" xmlUrl="https://rescoop.example/feed.xml"/>
    <outline type="rss" text="REScoop news" xmlUrl="https://other.example/rss"/>
  </outline>
  <outline type="rss" title="ICA &quot;news&quot;" text="x" xmlUrl="https://ica.example/news.rss"/>
  <outline type="rss" text="Again" xmlUrl="HTTPS://ica.example/news.rss?utm_source=opml"/>
  <outline type="rss" text="Not a web feed" xmlUrl="gopher://old.example/"/>
  <outline text="No URL"/>
</body></opml>
"""


def test_import_appends_new_feeds_and_keeps_the_file_valid(
    project: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project()
    before = config.read_text(encoding="utf-8")
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML, encoding="utf-8")
    assert main(["opml", "import", str(opml), "-c", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "added rescoop-news: https://rescoop.example/feed.xml",
        "added rescoop-news-2: https://other.example/rss",
        "added ica-news: https://ica.example/news.rss",
    ]
    assert config.read_text(encoding="utf-8").startswith(before)
    loaded = load_config(config)
    feeds = {s.name: (s.url, s.category) for s in loaded.sources if s.type == "feed"}
    assert feeds == {
        "rescoop-news": ("https://rescoop.example/feed.xml", "Energy co-ops"),
        "rescoop-news-2": ("https://other.example/rss", "Energy co-ops"),
        "ica-news": ("https://ica.example/news.rss", ""),
    }
    assert main(["opml", "import", str(opml), "-c", str(config)]) == 0
    assert capsys.readouterr().out == "no new feeds\n"


def test_a_broken_opml_file_is_a_clear_error(
    project: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project()
    opml = tmp_path / "broken.opml"
    opml.write_text("<opml><body><outline", encoding="utf-8")
    assert main(["opml", "import", str(opml), "-c", str(config)]) == 2
    assert f"{opml}:1: not an OPML file" in capsys.readouterr().err
