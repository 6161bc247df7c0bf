"""Sources: configured places -> SourceResult (RawItems, warnings or an error)."""

from __future__ import annotations

from coopfeed.sources.archive import read_archive

__all__ = ["read_archive"]
