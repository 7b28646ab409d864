"""Periodic jobs run once per interval across workers (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, SQLModel

from his_portal.db import make_engine
from his_portal.services import jobs
from tests.conftest import NOW

HOUR = timedelta(hours=1)


def _count_job(calls: list):
    def job(_session):
        calls.append(1)
        return {"n": len(calls), "text": "完成"}

    return job


def test_a_due_job_runs_and_stores_its_result(session):
    calls = []
    result = jobs.run_if_due(
        session, name="t", interval=HOUR, job=_count_job(calls), now=NOW
    )
    assert result == {"n": 1, "text": "完成"}
    row = jobs.last_run(session, "t")
    assert json.loads(row.result) == result
    assert row.owner == jobs.OWNER
    assert row.due_at.astimezone(NOW.tzinfo) == NOW + HOUR


def test_a_job_runs_once_per_interval(session):
    calls = []
    job = _count_job(calls)
    for minutes in (0, 1, 59):
        jobs.run_if_due(
            session,
            name="t",
            interval=HOUR,
            job=job,
            now=NOW + timedelta(minutes=minutes),
        )
    assert len(calls) == 1
    jobs.run_if_due(session, name="t", interval=HOUR, job=job, now=NOW + HOUR)
    assert len(calls) == 2


def test_a_failed_job_is_due_again_at_the_next_interval(session):
    def broken(_session):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        jobs.run_if_due(session, name="t", interval=HOUR, job=broken, now=NOW)
    calls = []
    assert (
        jobs.run_if_due(
            session, name="t", interval=HOUR, job=_count_job(calls), now=NOW
        )
        is None
    )
    jobs.run_if_due(
        session, name="t", interval=HOUR, job=_count_job(calls), now=NOW + HOUR
    )
    assert calls == [1]


def _race(url: str, workers: int = 6) -> int:
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    calls: list = []
    barrier = threading.Barrier(workers)

    def worker():
        with Session(engine) as session:
            barrier.wait()
            jobs.run_if_due(
                session, name="race", interval=HOUR, job=_count_job(calls), now=NOW
            )

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    return len(calls)


def test_concurrent_workers_on_sqlite_run_it_once(tmp_path):
    assert _race(f"sqlite:///{tmp_path / 'jobs.db'}") == 1


@pytest.mark.postgres
def test_concurrent_workers_on_postgresql_run_it_once(pg_url):
    assert _race(pg_url) == 1
