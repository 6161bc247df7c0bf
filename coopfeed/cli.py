"""The command line: parses arguments, calls the pipeline, and turns a
CoopfeedError into a one-line message and an exit code (DESIGN 7).

Exit codes: 0 everything worked (or nothing changed), 1 a source or the store or
the output failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from coopfeed import __version__
from coopfeed.config import Config, config_path, load_config
from coopfeed.doctor import diagnose, published_files
from coopfeed.exceptions import ConfigError, CoopfeedError, PublishError
from coopfeed.opml import import_opml
from coopfeed.pipeline import RunReport, build_feeds, publish_all, run_once
from coopfeed.publish import render_opml, write_if_changed
from coopfeed.serve import JsonFormatter, add_serve_arguments, cmd_serve
from coopfeed.store import SourceState, Store, StoredItem
from coopfeed.store.coordination import new_output_version

OK, FAILED, USAGE = 0, 1, 2
log = logging.getLogger("coopfeed")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        prefix = "coopfeed: " if level == "info" else f"coopfeed: {level}: "
        text = prefix + record.getMessage()
        if record.exc_info:  # a bug, not a user's mistake: keep its traceback
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(verbose: int, quiet: bool, log_format: str = "text") -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else _Formatter())
    root = logging.getLogger("coopfeed")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="configuration file (default: $COOPFEED_CONFIG or ./config.toml)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say what happens (twice for debugging detail)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr as plain text (default) or one JSON object each",
    )
    parser = argparse.ArgumentParser(
        prog="coopfeed", description="Collect news about cooperatives and publish it as feeds."
    )
    parser.add_argument("--version", action="version", version=f"coopfeed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", parents=[common], help="one pass: fetch, ingest, publish")
    run.add_argument("--all", action="store_true", help="fetch every source, due or not")
    run.add_argument(
        "--wait",
        type=float,
        default=60,
        metavar="SECONDS",
        help="how long to wait for another run's lock (default 60)",
    )
    commands.add_parser("check", parents=[common], help="validate the configuration")
    commands.add_parser("status", parents=[common], help="show every source's state")
    serve = commands.add_parser(
        "serve", parents=[common], help="run the scheduler and serve the feeds over HTTP"
    )
    add_serve_arguments(serve)
    for name, text in [
        ("remove", "remove an item from every feed, for good (a tombstone)"),
        ("restore", "undo remove"),
    ]:
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument(
            "reference", metavar="GUID|URL", help="the item's guid, its link, or its published link"
        )
        command.add_argument(
            "--wait",
            type=float,
            default=60,
            metavar="SECONDS",
            help="how long to wait for another run's lock (default 60)",
        )
    listing = commands.add_parser("items", parents=[common], help="list stored items")
    listing.add_argument("--category", help="only items published in this category")
    listing.add_argument("--source", help="only items that came from this source")
    listing.add_argument("--text", help="only items whose title or summary holds this")
    listing.add_argument("--removed", action="store_true", help="only removed items")
    listing.add_argument("--limit", type=int, default=None, metavar="N")
    listing.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    commands.add_parser("doctor", parents=[common], help="report what looks wrong")
    opml = commands.add_parser("opml", help="import or export OPML subscription lists")
    opml_commands = opml.add_subparsers(dest="opml_command", metavar="ACTION", required=True)
    opml_import = opml_commands.add_parser(
        "import", parents=[common], help="add an OPML file's feeds to the configuration"
    )
    opml_import.add_argument("file", metavar="FILE", type=Path)
    opml_export = opml_commands.add_parser(
        "export", parents=[common], help="write the published feeds as OPML 2.0"
    )
    opml_export.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write here instead of stdout"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet, args.log_format)
    commands: dict[str, Callable[[argparse.Namespace, Config], int]] = {
        "run": cmd_run,
        "check": cmd_check,
        "status": cmd_status,
        "serve": cmd_serve,
        "opml": cmd_opml,
        "remove": cmd_remove,
        "restore": cmd_remove,
        "items": cmd_items,
        "doctor": cmd_doctor,
    }
    try:
        config = load_config(config_path(args.config))
        return commands[args.command](args, config)
    except ConfigError as e:
        log.error("%s", e)
        return USAGE
    except CoopfeedError as e:
        log.error("%s", e)
        return FAILED
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    store = Store.open(config.database)
    try:
        with store.lock(wait=args.wait):
            now = datetime.now(UTC)
            report = run_once(config, store, now, everything=args.all)
            if report.published.written or report.published.removed:
                # ``coopfeed serve`` nodes on the same database render what changed.
                new_output_version(store, now)
    finally:
        store.close()
    _summarize(report)
    return FAILED if report.failed else OK


def _summarize(report: RunReport) -> None:
    new = sum(outcome.ingest.new for outcome in report.sources)
    log.info(
        "%d sources read, %d new items, %d files written, %d unchanged",
        len(report.sources),
        new,
        len(report.published.written),
        len(report.published.unchanged),
    )
    if report.failed:
        names = ", ".join(outcome.name for outcome in report.failed)
        log.error("%d of %d sources failed: %s", len(report.failed), len(report.sources), names)


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    print(f"{config.file}: ok, {len(config.sources)} sources, publishing into {config.output_dir}")
    return OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    store = Store.open(config.database)
    try:
        states = store.source_states()
    finally:
        store.close()
    for source in config.sources:
        print(status_line(source.name, states.get(source.name)))
    return OK


def status_line(name: str, state: SourceState | None) -> str:
    """One line per source: last fetch, status, items, next due, failures, last error."""
    if state is None or state.last_fetch is None:
        return f"{name}: never fetched"
    parts = [f"last fetch {_when(state.last_fetch)}", state.last_status or "?"]
    parts.append(f"{state.items_seen} items")
    if state.next_due:
        parts.append(f"next due {_when(state.next_due)}")
    if state.failures:
        parts.append(f"{state.failures} consecutive failures, last error: {state.last_error}")
    return f"{name}: " + ", ".join(parts)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}Z"


def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    """remove/restore: mark the referenced items, then publish right away."""
    removing = args.command == "remove"
    store = Store.open(config.database)
    try:
        with store.lock(wait=args.wait):
            found = store.find_items(args.reference)
            if not found:
                log.error("no stored item has the guid or link %s", args.reference)
                return FAILED
            now = datetime.now(UTC)
            store.set_removed([stored.item.guid for stored in found], now if removing else None)
            publish_all(config, store, now)
    finally:
        store.close()
    for stored in found:
        print(f"{'removed' if removing else 'restored'}: {stored.item.guid} {stored.item.title}")
    return OK


def cmd_items(args: argparse.Namespace, config: Config) -> int:
    store = Store.open(config.database)
    try:
        found = store.list_items(
            source=args.source, text=args.text, removed=True if args.removed else None
        )
    finally:
        store.close()
    rows = []
    for stored in found:
        categories = list(dict.fromkeys(map(config.canonical_category, stored.item.categories)))
        if args.category and args.category.casefold() not in {c.casefold() for c in categories}:
            continue
        rows.append((stored, categories))
    rows = rows[: args.limit] if args.limit is not None else rows
    if args.json:
        print(
            json.dumps(
                [_item_json(stored, categories) for stored, categories in rows],
                ensure_ascii=False,
                indent=2,
            )
        )
        return OK
    for stored, categories in rows:
        mark = " [removed]" if stored.removed else ""
        print(
            f"{stored.item.published:%Y-%m-%d} {stored.item.guid}{mark}\n"
            f"    {stored.item.title} ({', '.join(categories)}; from {', '.join(stored.sources)})"
        )
    return OK


def _item_json(stored: StoredItem, categories: list[str]) -> dict[str, object]:
    item = stored.item
    return {
        "guid": item.guid,
        "title": item.title,
        "link": item.link,
        "published": item.published.isoformat(),
        "updated": item.updated.isoformat(),
        "categories": categories,
        "authors": list(item.authors),
        "sources": list(stored.sources),
        "first_seen": stored.first_seen.isoformat(),
        "removed": stored.removed.isoformat() if stored.removed else None,
    }


def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    store = Store.open(config.database)
    try:
        states, items = store.source_states(), store.published_items()
    finally:
        store.close()
    files, published = published_files(config.output_dir)
    findings = diagnose(config, states, items, files, published, datetime.now(UTC))
    for finding in findings:
        print(finding)
    if not findings:
        print("Nothing looks wrong.")
    return FAILED if findings else OK


def cmd_opml(args: argparse.Namespace, config: Config) -> int:
    if args.opml_command == "import":
        added = import_opml(config.file, args.file)
        for subscription in added:
            print(f"added {subscription.name}: {subscription.url}")
        if not added:
            print("no new feeds")
        return OK
    store = Store.open(config.database)
    try:
        feeds = build_feeds(config, store.published_items(), datetime.now(UTC))
        data = render_opml(feeds, config.site)
    finally:
        store.close()
    if args.output:
        try:
            write_if_changed(args.output, data)
        except OSError as e:
            raise PublishError(f"cannot write {args.output}: {e.strerror}") from None
    else:
        sys.stdout.buffer.write(data)
    return OK
