"""The CoopfeedError tree, nothing else.

A ``CoopfeedError`` is the user's or the world's fault and gets a clear message
and an exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CoopfeedError(Exception):
    """Base of every error coopfeed reports without a traceback."""


class ConfigError(CoopfeedError):
    """The configuration is wrong: refuse to start.

    The message names the file, the key and what was expected.
    """

    def __init__(self, message: str, *, file: str = "", key: str = "", line: int | None = None):
        self.file = file
        self.key = key
        self.line = line
        where = file
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        if key:
            where = f"{where}: [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message)


class SourceError(CoopfeedError):
    """One source failed this run; the others go on."""

    def __init__(self, source: str, message: str):
        self.source = source
        self.reason = message
        super().__init__(f"source {source!r}: {message}")


class ParseError(SourceError):
    """Bytes arrived but were not a feed or an archive entry."""


class StoreError(CoopfeedError):
    """The store cannot be opened, read or written."""


class LockError(StoreError):
    """Another coopfeed process holds the store's lock."""


class PublishError(CoopfeedError):
    """The output folder cannot be written."""
