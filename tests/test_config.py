"""config.toml -> Config: every mistake names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from coopfeed.config import load_config, parse_duration
from coopfeed.exceptions import ConfigError

ARCHIVE = '\n[[sources]]\nname = "a"\ntype = "archive"\npath = "archive"\n'


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "archive").mkdir(exist_ok=True)
    (tmp_path / "archive" / "x.txt").write_text("1. News\n\nT\n\n1 May 2021\n")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_the_bundled_config_loads() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "config.toml")
    assert [s.name for s in config.sources] == ["ilo-cooperatives"]
    assert config.site.items_per_feed == 50
    assert config.site.base_url == "http://127.0.0.1:8080/"
    assert config.output_dir.name == "feeds"
    assert config.canonical_category("press  release") == "News"
    assert config.sources[0].interval == 6 * 3600


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ARCHIVE))
    assert config.output_dir == tmp_path.resolve() / "feeds"
    assert config.database == str(tmp_path.resolve() / "coopfeed.sqlite3")
    assert config.site.author == config.site.title == "Cooperative news"
    assert config.sources[0].timezone == "UTC"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[site]\ntitle = \n")
    assert message.startswith(f"{tmp_path / 'config.toml'}:2: not valid TOML")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[site]\ntitel = 'x'\n", "[site.titel]: unknown key"),
        (
            "[site]\nitems_per_feed = '50'\n",
            "[site.items_per_feed]: expected an integer, got a string '50'",
        ),
        (
            "[site]\nitems_per_feed = 0\n",
            "[site.items_per_feed]: expected a positive integer, got 0",
        ),
        (
            "[site]\nbase_url = 'ftp://x/'\n",
            "[site.base_url]: expected an http(s) URL, got 'ftp://x/'",
        ),
        ("[site]\ntimezone = 'Mars/Olympus'\n", "[site.timezone]: expected an IANA timezone"),
        ("[site]\nmin_interval = 'soon'\n", "[site.min_interval]: expected a duration"),
        (
            "[site]\nmin_interval = '2d'\nmax_interval = '1d'\n",
            "[site.min_interval]: must not be greater",
        ),
        ("site = 3\n", "[site]: expected a table, got an integer 3"),
        ("bogus = 1\n", "[bogus]: unknown key"),
        (ARCHIVE + ARCHIVE, "[sources.a.name]: duplicate source name 'a'"),
        (
            ARCHIVE.replace('"archive"\n', '"rss"\n', 1),
            "[sources.a.type]: expected one of 'archive', 'feed', got 'rss'",
        ),
        (
            ARCHIVE.replace('path = "archive"', 'path = "nowhere/*.txt"'),
            "[sources.a.path]: expected a file, a folder or a glob that exists",
        ),
        (
            ARCHIVE + "interval = 'often'\n",
            "[sources.a.interval]: expected a duration such as '30m' or '6h', got 'often'",
        ),
        (
            ARCHIVE + "cron = '0 */6 * *'\n",
            "[sources.a.cron]: expected a five-field cron expression",
        ),
        (
            ARCHIVE + "cron = '0 * * * *'\ninterval = '1h'\n",
            "[sources.a.cron]: give either interval or cron",
        ),
        (ARCHIVE + "colour = 'red'\n", "[sources.a.colour]: unknown key"),
        (
            '[[sources]]\nname = "b"\ntype = "feed"\nurl = "gopher://x"\n',
            "[sources.b.url]: expected an http(s) URL, a file:// URL or a path",
        ),
        (
            '[[sources]]\nname = "b"\ntype = "feed"\n',
            "[sources.b.url]: expected an http(s) URL, a file:// URL or a path, missing",
        ),
        (
            '[[sources]]\nname = "../b"\ntype = "feed"\n',
            "[sources[0].name]: expected letters, digits",
        ),
        ('[[sources]]\ntype = "feed"\n', "[sources[0].name]: expected a non-empty string, missing"),
        ('[categories]\n"x" = 3\n', "[categories.x]: expected a category title"),
    ],
)
def test_mistakes_name_file_key_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "config.toml") + ": ")
    assert expected in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPFEED_DATABASE_URL", "postgresql://u@127.0.0.1/coop")
    assert load_config(write(tmp_path, ARCHIVE)).database == "postgresql://u@127.0.0.1/coop"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("6h", 21600), ("1d", 86400), (30, 30), ("1.5h", 5400)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-1m", "5 minutes", True, "m"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_design_example_timezone_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ARCHIVE + 'timezone = "Europe/Geneva"\n'))
    assert config.sources[0].timezone == "Europe/Zurich"


def test_the_readme_configuration_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, block))
    assert [s.name for s in config.sources] == ["ilo-cooperatives", "example-feed"]
    assert config.fetch.max_body_size == 20 * 2**20 and config.fetch.per_host == 2
    assert config.matching.similarity == 0.85 and config.matching.near_duplicate_window == 3 * 86400
    assert config.limits.title == 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fetch]\nmax_body_size = 'big'\n", "[fetch.max_body_size]: expected a size such as"),
        ("[fetch]\nconcurrency = 0\n", "[fetch.concurrency]: expected an integer of at least 1"),
        ("[fetch]\ndeadline = '-3s'\n", "[fetch.deadline]: expected a duration"),
        ("[fetch]\nretries = 3\n", "[fetch.retries]: unknown key"),
        ("[dedupe]\nsimilarity = 1.5\n", "[dedupe.similarity]: expected a number above 0"),
        ("[limits]\ntitle = 2\n", "[limits.title]: expected an integer of at least 10"),
    ],
)
def test_fetch_dedupe_and_limit_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)
