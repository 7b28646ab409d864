"""Portable SQL for time arithmetic on stored datetimes (SQLite and PostgreSQL).

SQLite keeps ``UTCDateTime`` columns as UTC text, PostgreSQL as ``timestamptz``;
:class:`epoch` and :class:`seconds_between` read either as seconds, so durations and
clinic-local days are computed in the database, not by loading rows.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["epoch", "local_day", "seconds_between"]

DAY = 86_400


class epoch(FunctionElement):
    """Whole seconds since 1970-01-01 UTC of a datetime column (rounded down)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "epoch"


class seconds_between(FunctionElement):
    """``end - start`` in seconds (a float), for two datetime columns."""

    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


def _arguments(element, compiler, **kw) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw) -> str:
    (value,) = _arguments(element, compiler, **kw)
    # strftime('%s') is exact (julianday's float can fall a hair short of midnight).
    return f"CAST(strftime('%s', {value}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element, compiler, **kw) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {value})) AS BIGINT)"


@compiles(seconds_between, "sqlite")
def _between_sqlite(element, compiler, **kw) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _between_postgresql(element, compiler, **kw) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(epoch)
@compiles(seconds_between)
def _unsupported(element, compiler, **kw) -> str:
    raise CompileError(f"{element.name}() is written for SQLite and PostgreSQL only")


def _offset_at(moment: datetime, zone: ZoneInfo) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds())


def _change_in(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first second in (low, high] with the offset of ``high`` (bisection)."""
    target = _offset_at(high, zone)
    seconds = int((high - low).total_seconds())
    step = bisect.bisect_left(
        range(seconds + 1),
        True,
        key=lambda s: _offset_at(low + timedelta(seconds=s), zone) == target,
    )
    return low + timedelta(seconds=step)


def local_day(column, start: datetime, end: datetime, zone: ZoneInfo):
    """The clinic-local day of ``column`` as a day number (days since 1970-01-01),
    exact for values in [``start``, ``end``): the zone's UTC offset changes in that
    span (daylight saving) become a CASE over the moments they happen."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    offsets: list[tuple[datetime, int]] = []
    previous, offset = start, _offset_at(start, zone)
    moment = start
    while moment < end:
        moment = min(moment + timedelta(days=1), end)
        if _offset_at(moment, zone) != offset:
            change = _change_in(previous, moment, zone)
            offsets.append((change, offset))
            offset = _offset_at(moment, zone)
        previous = moment
    if offsets:
        shift = sa.case(
            *((column < change, before) for change, before in offsets),
            else_=offset,
        )
    else:
        shift = sa.literal(offset, sa.Integer())
    # Integer division: the values are positive, so it rounds down.
    return (epoch(column) + shift) // DAY
