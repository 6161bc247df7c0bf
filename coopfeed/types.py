"""The data that flows through coopfeed: frozen dataclasses, no I/O.

Sources yield :class:`RawItem` (fields as found); ``normalize`` turns them into
:class:`Item`, from where on nothing a feed needs is optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any, TypeVar

_T = TypeVar("_T")


def pickled_as_fields(cls: type[_T]) -> type[_T]:
    """A slotted dataclass (the decorator under this one) pickled as its fields and
    made again by its constructor: 55-60% of the time of its own state functions, both
    ways.  For what crosses between processes by the ten thousand (entries coming back
    from the workers that parse them, items going to those that render)."""
    names: tuple[str, ...] = vars(cls)["__slots__"]  # every field, in the constructor's order
    if len(names) < 2:
        raise TypeError(f"{cls.__name__}: attrgetter gives a tuple only for two fields or more")
    fields = attrgetter(*names)

    def __reduce__(self: _T) -> tuple[type[_T], tuple[Any, ...]]:
        return cls, fields(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@dataclass(slots=True)
class RawItem:
    """One entry as a source found it, before normalization.

    ``key`` is the source's own identity for the entry (a feed's raw guid), or
    None when the source has none (the archive).  ``published_date`` is set by
    sources whose dates carry no time of day; normalization gives it a fixed time
    in the source's timezone.  ``title_is_html``: the title may hold markup and
    entities to decode (feeds); otherwise it is plain text (the archive).
    ``where`` locates the entry for messages ("archive/news.txt:12",
    "https://host/feed.xml entry 3").

    Not frozen, unlike the other types here: sources build tens of thousands per run,
    and a frozen dataclass's ``__init__`` sets every field through
    ``object.__setattr__`` (a fifth of the archive parser's time).  Treat it as
    read-only; :func:`dataclasses.replace` makes a changed copy.
    """

    source: str
    title: str | None
    where: str = ""
    key: str | None = None
    link: str | None = None
    title_is_html: bool = False
    summary: str | None = None
    summary_is_html: bool = False
    published: datetime | None = None
    published_date: date | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    base_url: str | None = None


@pickled_as_fields
@dataclass(frozen=True, slots=True)
class Item:
    """A normalized item: what the store keeps and the publishers write.

    ``guid`` never changes once published.  ``link`` is the published link (for
    archive items it is filled in at publish time from ``anchor``).  Dates are
    timezone-aware UTC.  ``summary`` is sanitized HTML.
    """

    guid: str
    title: str
    published: datetime
    updated: datetime
    link: str | None = None
    summary: str = ""
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    source: str = ""
    anchor: str = ""

    @property
    def guid_is_permalink(self) -> bool:
        return self.link is not None and self.guid == self.link


@dataclass(frozen=True, slots=True)
class Site:
    """What the publishers need to know of the site (from ``[site]``)."""

    title: str
    description: str
    base_url: str
    author: str
    items_per_feed: int = 50
    hub: str = ""
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed to publish: a category (or ``all``) with all its items, newest first."""

    slug: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What fetching one source gave: items, or an error, and the warnings met."""

    source: str
    items: tuple[RawItem, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    not_modified: bool = False
    status: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None
