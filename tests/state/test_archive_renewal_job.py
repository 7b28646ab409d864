"""The app's daily archive-timestamp renewal: once per interval across workers,
its result kept on the job's row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from his_portal import db, maintenance
from his_portal.cli import init
from his_portal.services import jobs
from his_portal.services.signing import archive_renewal


def test_the_renewal_job_runs_once_a_day_and_keeps_its_counts(app_db):
    assert init(history=False) == 0  # the clinic CA and TSA (idempotent)
    at = datetime.now(UTC) + timedelta(days=3)  # after any earlier run's interval
    first = maintenance.run_archive_renewal(now=at)
    assert set(first) == {"renewed", "skipped", "failed", "failures"}
    assert first["renewed"] == 0  # the app's records were all signed recently
    assert maintenance.run_archive_renewal(now=at + timedelta(hours=6)) is None
    later = maintenance.run_archive_renewal(now=at + archive_renewal.INTERVAL)
    assert later is not None and later["renewed"] == 0
    with db.session() as session:
        row = jobs.last_run(session, archive_renewal.JOB_NAME)
        assert json.loads(row.result) == later
