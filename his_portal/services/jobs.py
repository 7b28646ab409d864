"""Periodic jobs that run once per interval however many workers the app has.

Each job has one ``JobRun`` row. A worker takes the job by moving ``due_at`` forward
with a conditional UPDATE (``WHERE due_at <= now``): the database lets exactly one
worker win, on SQLite and PostgreSQL alike, with no lock held while the job runs.
A worker that dies mid-job leaves the row due again at the next interval.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from his_portal.models import JobRun, utcnow

__all__ = ["OWNER", "last_run", "run_if_due"]

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _claim(session: Session, name: str, interval: timedelta, now: datetime) -> bool:
    if session.exec(select(JobRun.id).where(JobRun.name == name)).first() is None:
        try:
            with session.begin_nested():
                session.add(JobRun(name=name, due_at=now))
        except IntegrityError:
            pass  # another worker created it first; the UPDATE below decides
    taken = session.execute(
        sa.update(JobRun)
        .where(JobRun.name == name, JobRun.due_at <= now)
        .values(due_at=now + interval, started_at=now, owner=OWNER)
    ).rowcount
    session.commit()
    return taken == 1


def run_if_due(
    session: Session,
    *,
    name: str,
    interval: timedelta,
    job: Callable[[Session], dict],
    now: datetime | None = None,
) -> dict | None:
    """Run ``job`` if no worker has run ``name`` within ``interval``.

    Returns:
        The job's result (also stored, as JSON, on the job's row), or None when
        another worker had it.
    """
    now = now or utcnow()
    if not _claim(session, name, interval, now):
        return None
    result = job(session)
    session.execute(
        sa.update(JobRun)
        .where(JobRun.name == name)
        .values(finished_at=utcnow(), result=json.dumps(result, ensure_ascii=False))
    )
    session.commit()
    return result


def last_run(session: Session, name: str) -> JobRun | None:
    """The job's row (when it last started and finished, and its result)."""
    return session.exec(select(JobRun).where(JobRun.name == name)).first()
