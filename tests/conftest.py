"""Shared fixtures: a project folder with a config, the seed archive, a clock, and the
site the publishing tests render for."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coopfeed.types import Site

pytest_plugins = ["httpserver"]

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "archive" / "ilo-cooperatives.txt"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
#: Where the publishing tests' site is served from.
BASE = "http://127.0.0.1:8080/"


@pytest.fixture
def site() -> Site:
    return Site(
        title="Cooperative news",
        description="News, stories & statements on cooperatives",
        base_url=BASE,
        author="Coopfeed editors",
        items_per_feed=3,
    )


def config_text(extra_site: str = "", sources: str | None = None, tables: str = "") -> str:
    if sources is None:
        sources = """
[[sources]]
name = "ilo-cooperatives"
type = "archive"
path = "archive"
timezone = "Europe/Zurich"
"""
    return f"""
[site]
title = "Cooperative news"
base_url = "http://127.0.0.1:8080/"
tag_authority = "coopfeed.example.org"
{extra_site}
{tables}
[categories]
"Press release" = "News"
{sources}
"""


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """Make a project folder holding config.toml and archive/; returns the config path."""

    def make(
        extra_site: str = "",
        sources: str | None = None,
        archive: str | None = None,
        tables: str = "",
    ) -> Path:
        (tmp_path / "archive").mkdir(exist_ok=True)
        target = tmp_path / "archive" / "listing.txt"
        if archive is None:
            shutil.copy(SEED, target)
        else:
            target.write_text(archive, encoding="utf-8")
        path = tmp_path / "config.toml"
        path.write_text(config_text(extra_site, sources, tables), encoding="utf-8")
        return path

    return make
