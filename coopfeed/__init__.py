"""coopfeed: collect news about cooperatives and publish it as feeds."""

from coopfeed.exceptions import (
    ConfigError,
    CoopfeedError,
    ParseError,
    PublishError,
    SourceError,
    StoreError,
)
from coopfeed.types import Feed, Item, RawItem, Site, SourceResult

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CoopfeedError",
    "Feed",
    "Item",
    "ParseError",
    "PublishError",
    "RawItem",
    "Site",
    "SourceError",
    "SourceResult",
    "StoreError",
    "__version__",
]
