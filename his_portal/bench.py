"""`make bench`: figures for the workbench and 签名监控 queries, on 100k records.

Builds a throwaway SQLite database (or uses ``--db-url``), loads the demo clinic and
bulk-inserts generated records (70% signed), then times the queries. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from sqlmodel import Session, SQLModel, select

from his_portal.db import make_engine
from his_portal.demo.data import load_demo_data
from his_portal.models import MedicalRecord, Patient, User
from his_portal.services import auth
from his_portal.services.pki import authority as pki
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as monitor_records
from his_portal.services.records import queries as records
from his_portal.services.seals.image import SealOptions, extract_signature
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import (
    RecordDocument,
    render_record_pdf,
    warm_up_fonts,
)
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m his_portal.bench")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--db-url", default="")
    args = parser.parse_args()
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
    _bench_seal()
    _bench_signing()


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


def _bench_signing() -> None:
    """Render + PAdES-sign (built-in TSA) one record: the batch's cost per record."""
    now = datetime.now(UTC)
    ca = pki.create_ca(clinic_name="基准测试门诊", now=now)
    crl = "http://localhost/pki/crl"
    doctor = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name="郑程",
        clinic_name="基准测试门诊",
        user_id=1,
        now=now,
        crl_url=crl,
    )
    tsa_cert = pki.issue_tsa_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        clinic_name="基准测试门诊",
        now=now,
        crl_url=crl,
    )
    tsa = TimestampAuthority(
        cert_pem=tsa_cert.cert_pem, key=tsa_cert.key, ca_chain_pems=[ca.cert_pem]
    )
    doc = RecordDocument(
        clinic_name="基准测试门诊",
        title="口腔检查",
        record_no="P120111201801313",
        patient_name="刘作榛",
        sex="男",
        age=41,
        doctor_name="郑程",
        visit_item="检查",
        created_at="2026-11-25 14:43",
        sections=[("主诉", "左下后牙咀嚼时疼痛一周"), ("诊断", "36深龋")] * 4,
    )
    warm_up_fonts()

    def one() -> None:
        pdf = render_record_pdf(
            doc, seal_png=None, signer_name="郑程", signed_at="2026-11-25 15:00:00"
        )
        sign_pdf(
            pdf,
            cert_pem=doctor.cert_pem,
            key=doctor.key,
            chain_pems=[ca.cert_pem],
            tsa=tsa,
            options=SigningOptions(signer_name="郑程"),
            signing_time=now,
        )

    _time("render + PAdES-sign one record (batch step)", one, repeat=20)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak memory of this benchmark process':<48} {peak:7.0f} MB")


def _bench_seal() -> None:
    """Background removal on a 12-megapixel phone-style photo (built-in engine)."""
    photo = Image.new("RGB", (4000, 3000), (236, 234, 226))
    draw = ImageDraw.Draw(photo)
    for offset in range(0, 3000, 90):
        draw.line([(0, offset), (4000, offset)], fill=(190, 205, 230), width=3)
    stroke = [(900, 1700), (1500, 1100), (2100, 1800), (2900, 1200)]
    draw.line(stroke, fill=(30, 30, 80), width=22)
    _time(
        "seal background removal, 12 MP photo",
        lambda: extract_signature(photo, SealOptions()),
        repeat=3,
    )


if __name__ == "__main__":
    main()
