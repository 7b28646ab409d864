"""One page of a longer list, as the services hand it to the pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Page"]

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """The rows of page ``page`` (1-based) of ``total`` rows, ``page_size`` a page."""

    rows: list[Row]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages there are (one, when there are no rows)."""
        return max(1, -(-self.total // self.page_size))
