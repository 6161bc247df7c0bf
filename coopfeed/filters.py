"""Operator filters: an Item and the time in, shown or hidden out; pure.

A filter is set on a source (``include``/``exclude``/``max_age`` in its
``[[sources]]`` table) or on a category (``[filters."Category"]``).  Filtered
items stay stored and keep their guids and dates; they only leave the feeds, so
changing a filter republishes correctly without fetching anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from coopfeed.types import Item

#: The fields a rule may look at.
FIELDS = ("title", "summary", "category", "author")


@dataclass(frozen=True, slots=True)
class Rule:
    field: str
    pattern: re.Pattern[str]

    def matches(self, item: Item, categories: tuple[str, ...]) -> bool:
        if self.field == "title":
            values: tuple[str, ...] = (item.title,)
        elif self.field == "summary":
            values = (item.summary,)
        elif self.field == "category":
            values = categories
        else:
            values = item.authors
        return any(self.pattern.search(value) for value in values)


@dataclass(frozen=True, slots=True)
class Filter:
    """Include rules (an item must match one, when there are any), exclude rules (an
    item matching one is hidden) and a maximum age in seconds."""

    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()
    max_age: float | None = None

    def looks_at(self, field: str) -> bool:
        """Whether a rule of this filter looks at ``field`` (one of :data:`FIELDS`)."""
        return any(rule.field == field for rule in (*self.include, *self.exclude))

    @property
    def shows_all(self) -> bool:
        """Whether it shows every item (no rule, no maximum age)."""
        return self.max_age is None and not self.include and not self.exclude

    def shows(self, item: Item, categories: tuple[str, ...], now: datetime) -> bool:
        if self.max_age is not None and item.published < now - timedelta(seconds=self.max_age):
            return False
        if self.include and not any(rule.matches(item, categories) for rule in self.include):
            return False
        return not any(rule.matches(item, categories) for rule in self.exclude)


NO_FILTER = Filter()
