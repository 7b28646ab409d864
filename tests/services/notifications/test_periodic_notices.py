"""The periodic job: 超期未签 once per doctor per day, 证书到期 once per certificate,
and the job once per interval across workers (two sessions, SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, SQLModel, func, select

from his_portal import db, maintenance
from his_portal.db import make_engine
from his_portal.demo.data import load_demo_data
from his_portal.models import (
    CertStatus,
    DoctorCertificate,
    MedicalRecord,
    Notification,
    SignStatus,
    User,
)
from his_portal.services.notifications import Kind
from his_portal.services.notifications import periodic as notices
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.notifications.notify_helpers import DOCTOR, OTHER_DOCTOR, notes_of


def _overdue_by_doctor(session: Session, now) -> dict[int, int]:
    """The expected figures, counted record by record in Python."""
    cutoff = now - timedelta(hours=24)
    counts: dict[int, int] = {}
    for record in session.exec(select(MedicalRecord)):
        late = record.created_at.astimezone(ZONE) <= cutoff
        if record.sign_status == SignStatus.UNSIGNED and late:
            counts[record.doctor_id] = counts.get(record.doctor_id, 0) + 1
    return counts


def _run(session: Session, now=NOW) -> dict:
    return notices.run(session, deadline_hours=24, zone=ZONE, now=now)


def test_overdue_records_give_one_notice_per_doctor_per_day(demo):
    expected = _overdue_by_doctor(demo, NOW)
    assert len(expected) == 2
    assert _run(demo) == {"overdue": 2, "cert_expiring": 0}
    for doctor_id, count in expected.items():
        (note,) = notes_of(demo, doctor_id)
        assert note.kind == Kind.OVERDUE and note.title == f"{count}份病历超期未签"
        assert note.body.startswith(f"您有{count}份病历在就诊后超过24小时仍未签署")
        assert note.dedup_key == f"overdue:{doctor_id}:2026-11-25"
    assert _run(demo, NOW + timedelta(hours=7)) == {"overdue": 0, "cert_expiring": 0}
    assert _run(demo, NOW + timedelta(hours=8))["overdue"] == 2  # the next clinic day


def test_signed_records_and_inactive_doctors_are_left_out(demo):
    doctor = user_by_login(demo, DOCTOR)
    for record in demo.exec(
        select(MedicalRecord).where(MedicalRecord.doctor_id == doctor.id)
    ):
        record.sign_status = SignStatus.SIGNED
        demo.add(record)
    other = demo.get(User, user_by_login(demo, OTHER_DOCTOR).id)
    other.is_active = False
    demo.add(other)
    demo.commit()
    assert _run(demo)["overdue"] == 0
    assert demo.exec(select(func.count()).select_from(Notification)).one() == 0


def _certificate(user_id: int, serial: str, days: float, status=CertStatus.ACTIVE):
    return DoctorCertificate(
        user_id=user_id,
        serial_hex=serial,
        cert_pem="-",
        key_pem_enc="-",
        key_id="-",
        subject="CN=测试",
        fingerprint="-",
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days),
        status=status,
    )


def test_certificates_expiring_within_30_days_are_announced_once(demo):
    doctor = user_by_login(demo, DOCTOR)
    demo.add_all(
        [
            _certificate(doctor.id, "0A01", 29.5),
            _certificate(doctor.id, "0A02", 31),
            _certificate(doctor.id, "0A03", 5, CertStatus.REVOKED),
            _certificate(doctor.id, "0A04", -1),
        ]
    )
    demo.commit()
    notices.cert_expiry_notices(demo, now=NOW, zone=ZONE)
    demo.commit()
    (note,) = [n for n in notes_of(demo, doctor.id) if n.kind == Kind.CERT_EXPIRING]
    assert note.dedup_key == "cert_expiring:0A01" and note.title == "数字证书即将到期"
    assert "0A01" in note.body and "2026-12-25 04:30到期（30天内）" in note.body
    later = NOW + timedelta(days=2)
    assert notices.cert_expiry_notices(demo, now=later, zone=ZONE) == 1  # 0A02 now
    assert notices.cert_expiry_notices(demo, now=later, zone=ZONE) == 0


def _demo_engine(url: str):
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=NOW, records=40)
    return engine


def _notices(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Notification)).one()


def test_two_workers_run_the_job_once(tmp_path, monkeypatch):
    engine = _demo_engine(f"sqlite:///{tmp_path / 'two.db'}")
    monkeypatch.setattr(db, "session", lambda: Session(engine))
    first = maintenance.run_notifications(now=NOW)
    second = maintenance.run_notifications(now=NOW + timedelta(minutes=5))
    assert first == {"overdue": 2, "cert_expiring": 0} and second is None
    assert _notices(engine) == 2
    later = NOW + maintenance.NOTIFY_INTERVAL
    assert maintenance.run_notifications(now=later) == {
        "overdue": 0,
        "cert_expiring": 0,
    }
    engine.dispose()


def _race(engine, workers: int = 2) -> list:
    results: list = []
    barrier = threading.Barrier(workers)

    def worker():
        with Session(engine) as session:
            barrier.wait()
            results.append(
                maintenance.jobs.run_if_due(
                    session,
                    name=notices.JOB_NAME,
                    interval=maintenance.NOTIFY_INTERVAL,
                    job=lambda s: _run(s),
                    now=NOW,
                )
            )

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_workers_on_sqlite_notify_once(tmp_path):
    engine = _demo_engine(f"sqlite:///{tmp_path / 'race.db'}")
    results = _race(engine)
    assert sorted(results, key=bool) == [None, {"overdue": 2, "cert_expiring": 0}]
    assert _notices(engine) == 2
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_workers_on_postgresql_notify_once(pg_url):
    engine = _demo_engine(pg_url)
    results = _race(engine)
    assert sorted(results, key=bool) == [None, {"overdue": 2, "cert_expiring": 0}]
    assert _notices(engine) == 2
    with Session(engine) as session:  # a repeated key does nothing on PostgreSQL too
        assert _run(session, NOW + timedelta(hours=1)) == {
            "overdue": 0,
            "cert_expiring": 0,
        }
    engine.dispose()
