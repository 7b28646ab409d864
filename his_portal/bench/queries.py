"""`make bench`: figures for the workbench and 签名监控 queries, on 100k records.

Builds a throwaway SQLite database (or uses ``--db-url``), loads the demo clinic and
bulk-inserts generated records (70% signed), then times the queries. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, SQLModel, select

from his_portal.db import make_engine
from his_portal.demo.data import load_demo_data
from his_portal.models import MedicalRecord, Patient, User
from his_portal.services import auth
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as monitor_records
from his_portal.settings import clinic_zone


def _bulk_records(session: Session, count: int, now: datetime) -> None:
    rng = random.Random(7)
    doctors = session.exec(select(User.id).where(User.role == "doctor")).all()
    patients = session.exec(select(Patient.id)).all()
    rows = [
        {
            "patient_id": rng.choice(patients),
            "doctor_id": rng.choice(doctors),
            "clinic_id": 1,
            "visit_item": "检查",
            "title": "口腔检查",
            "created_at": now - timedelta(minutes=rng.randint(1, 365 * 24 * 60)),
            "chief_complaint": "定期口腔检查",
        }
        for _ in range(count)
    ]
    for row in rows:  # 签名监控 needs signatures: 70% signed, minutes to days later
        signed_at = row["created_at"] + timedelta(minutes=rng.randint(5, 4 * 24 * 60))
        signed = rng.random() < 0.7 and signed_at < now
        row["sign_status"] = "signed" if signed else "unsigned"
        row["signed_at"] = signed_at if signed else None
    session.execute(MedicalRecord.__table__.insert(), rows)
    session.commit()


def _time(label: str, fn, repeat: int = 20) -> None:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    print(
        f"{label:<48} median {statistics.median(samples):7.2f} ms"
        f"   p95 {sorted(samples)[int(repeat * 0.95) - 1]:7.2f} ms"
    )


def run(report, *, records: int, postgres_url: str) -> None:
    del report, postgres_url  # the JSON report and PostgreSQL: being rewritten
    args = argparse.Namespace(records=records, db_url="")
    zone = clinic_zone()
    now = datetime.now(zone)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        SQLModel.metadata.create_all(engine)
        with Session(engine) as session:
            load_demo_data(session=session, now=now)
            start = time.perf_counter()
            _bulk_records(session, args.records, now)
            elapsed = time.perf_counter() - start
            print(f"inserted {args.records} records in {elapsed:.1f} s")
            token, _ = auth.authenticate(
                session=session,
                login_id="sh-feihuan@8112",
                password="Demo@2026",
                session_hours=1,
            )
            doctor = auth.resolve_session(session=session, token=token)
            manager_token, _ = auth.authenticate(
                session=session,
                login_id="sh-manager@8112",
                password="Demo@2026",
                session_hours=1,
            )
            manager = auth.resolve_session(session=session, token=manager_token)
            today = now.date()

            def page(viewer, days, **kw):
                filters = records.RecordFilter(
                    date_from=today - timedelta(days=days), date_to=today, **kw
                )
                return records.list_records(
                    session=session, viewer=viewer, filters=filters, zone=zone
                )

            _time(
                "resolve session (every handler)",
                lambda: auth.resolve_session(session=session, token=token),
            )
            _time("doctor, today, page 1", lambda: page(doctor, 0))
            _time("doctor, 30 days, page 1", lambda: page(doctor, 29))
            _time("doctor, 365 days, page 50", lambda: page(doctor, 364, page=50))
            _time("manager, 30 days, page 1", lambda: page(manager, 29))
            _time(
                "doctor, 365 days, by 病历号",
                lambda: page(doctor, 364, record_no="P120111201801313"),
            )
            _time(
                "header search by pinyin initials",
                lambda: records.search_patients(
                    session=session, viewer=doctor, text="lzz"
                ),
            )
            _bench_dashboard(session, manager, now)
            _time(
                "password check (argon2id), one login",
                lambda: auth.hash_password("x"),
                repeat=5,
            )
        engine.dispose()


def _bench_dashboard(session: Session, manager, now: datetime) -> None:
    """签名监控's queries for the chain manager and a branch manager."""
    zone = clinic_zone()
    branch = replace(manager, chain_wide=False)
    for viewer, who in ((manager, "chain"), (branch, "branch")):
        for days in (30, 365):
            w = dashboard.window(
                session=session,
                viewer=viewer,
                filters=dashboard.MonitorFilter(
                    now.date() - timedelta(days=days - 1), now.date()
                ),
                now=now,
                zone=zone,
                deadline_hours=24,
            )
            label = f"monitor {who}, {days} days:"
            _time(
                f"{label} KPIs + P50/P90",
                lambda w=w: dashboard.figures(session=session, w=w),
            )
            _time(
                f"{label} daily trend",
                lambda w=w: dashboard.daily(session=session, w=w),
            )
            _time(
                f"{label} per doctor + medians",
                lambda w=w: dashboard.per_doctor(session=session, w=w),
            )
            _time(
                f"{label} 超期未签 page 1",
                lambda w=w: monitor_records.drill(session=session, w=w, kind="overdue"),
            )
