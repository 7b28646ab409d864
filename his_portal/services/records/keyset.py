"""Keyset pages: a list ordered by a time column, ties broken by id, continues after
the last row of the page before (a :class:`Cursor`) instead of skipping rows with
OFFSET, so page 500 costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from his_portal.errors import InvalidInput

__all__ = ["Cursor", "after", "order_by"]


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: its last row's sort time and id."""

    at: datetime
    id: int


def order_by(time_column, id_column, *, newest_first: bool = True) -> tuple:
    """The ORDER BY of a keyset list: the time, then the id, both one way."""
    if newest_first:
        return sa.desc(time_column), sa.desc(id_column)
    return sa.asc(time_column), sa.asc(id_column)


def after(time_column, id_column, cursor: Cursor, *, newest_first: bool = True):
    """The rows that come after ``cursor`` in :func:`order_by`'s order.

    The leading ``time <= at`` (``>=``) is what an index range scan uses; the rest
    settles the rows at exactly ``at`` by id.

    Raises:
        InvalidInput: ``cursor`` is not one (it comes from the server's own pages).
    """
    if (
        not isinstance(cursor, Cursor)
        or not isinstance(cursor.at, datetime)
        or type(cursor.id) is not int
    ):
        raise InvalidInput("页码无效")
    if newest_first:
        return sa.and_(
            time_column <= cursor.at,
            sa.or_(
                time_column < cursor.at,
                sa.and_(time_column == cursor.at, id_column < cursor.id),
            ),
        )
    return sa.and_(
        time_column >= cursor.at,
        sa.or_(
            time_column > cursor.at,
            sa.and_(time_column == cursor.at, id_column > cursor.id),
        ),
    )
