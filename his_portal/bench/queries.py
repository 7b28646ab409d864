"""`make bench` · queries: the workbench, 签名监控, the periodic job, 验证 and the
audit viewer, timed at ``records`` records on SQLite (and PostgreSQL with
``--postgres``).

Each backend gets a throwaway database (a temporary SQLite file; on PostgreSQL a
database created on the server and dropped afterwards) holding the demo chain plus
the generated records (:mod:`.queries_data` says how they are spread: the recent
days as dense as a real day, years back). Every figure is ``report.timings`` of
:data:`REPEAT` calls (after one warm-up call), with the issue's 50 ms p95 target
where it applies. Deep pages are reached the way the pager reaches them (下一页,
keyset), then timed. Asserts nothing.

Informational: 签名监控 over 365 days (~128k records chain-wide: its exact
nearest-rank P50/P90 and per-doctor medians sort every duration; a daily rollup
would make the counts cheap but not the percentiles, and keeping one right would
mean writing it wherever a record is created, signed or 撤销签名 — for a range
the page offers only as a custom one), and the periodic 超期未签 job's query (a
background job every 10 minutes, which counts every unsigned record of all time).
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from his_portal.bench.queries_data import load_records
from his_portal.bench.report import Report, timed_ms
from his_portal.db import make_engine
from his_portal.demo.data import DEMO_PASSWORD, load_demo_data
from his_portal.models import MedicalRecord, Patient, SignedDocument
from his_portal.services import audit, auth
from his_portal.services.audit import query as audit_query
from his_portal.services.notifications import periodic
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records import queries as records
from his_portal.settings import clinic_zone

__all__ = ["REPEAT", "TARGET_MS", "run"]

TARGET_MS = 50
REPEAT = 20
DEADLINE_HOURS = 24
DEEP_PAGE = 50


@contextmanager
def _sqlite() -> Iterator[sa.Engine]:
    with tempfile.TemporaryDirectory(prefix="his-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _postgres(server_url: str) -> Iterator[sa.Engine]:
    """A new database on ``server_url``'s server, dropped afterwards."""
    name = f"his_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(str(sa.make_url(server_url).set(database=name)))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _login(session: Session, login_id: str) -> tuple[str, auth.CurrentUser]:
    token, _ = auth.authenticate(
        session=session, login_id=login_id, password=DEMO_PASSWORD, session_hours=1
    )
    return token, auth.resolve_session(session=session, token=token)


class _Bench:
    """One backend's figures, named ``<backend> · <what>``."""

    def __init__(self, report: Report, session: Session, backend: str, now):
        self.report, self.session, self.backend, self.now = (
            report,
            session,
            backend,
            now,
        )
        self.zone = clinic_zone()
        self.today = now.date()

    def time(
        self, name: str, fn: Callable[[], object], target: float | None = TARGET_MS
    ):
        fn()  # warm: the first call also loads pages a real server has in cache
        samples = timed_ms(fn, REPEAT)
        self.session.rollback()
        self.report.timings(f"{self.backend} · {name}", samples, target)

    def workbench(self, doctor, manager, token: str) -> None:
        session, zone = self.session, self.zone

        def page(viewer, days, **kw):
            filters = records.RecordFilter(
                date_from=self.today - timedelta(days=days),
                date_to=self.today,
                **kw,
            )
            return records.list_records(
                session=session, viewer=viewer, filters=filters, zone=zone
            )

        self.time(
            "session resolve",
            lambda: auth.resolve_session(session=session, token=token),
        )
        self.time("workbench · doctor today page 1", lambda: page(doctor, 0))
        self.time("workbench · doctor 30 days page 1", lambda: page(doctor, 29))
        after = None
        for number in range(1, DEEP_PAGE):  # the pager's way there: 下一页 …
            after = page(doctor, 364, page=number, after=after).next_after
        self.time(
            f"workbench · doctor 365 days page {DEEP_PAGE} (keyset)",
            lambda: page(doctor, 364, page=DEEP_PAGE, after=after),
        )
        self.time("workbench · manager 30 days page 1", lambda: page(manager, 29))
        record_no = session.exec(
            select(Patient.record_no)
            .join(MedicalRecord, MedicalRecord.patient_id == Patient.id)
            .where(MedicalRecord.doctor_id == doctor.id)
            .order_by(MedicalRecord.id.desc())
        ).first()
        self.time(
            "workbench · 病历号 over 365 days",
            lambda: page(doctor, 364, record_no=record_no),
        )
        self.time(
            "workbench · header pinyin search",
            lambda: records.search_patients(session=session, viewer=doctor, text="lz"),
        )
        for who, viewer in (("doctor", doctor), ("manager", manager)):
            self.time(
                f"workbench · KPIs ({who})",
                lambda viewer=viewer: records.workbench_kpis(
                    session=session, viewer=viewer, now=self.now, zone=zone
                ),
            )

    def monitor(self, manager) -> None:
        session = self.session
        branch = replace(manager, chain_wide=False)
        for viewer, who in ((manager, "chain"), (branch, "branch")):
            for days in (7, 30, 365):
                target = TARGET_MS if days < 365 else None
                w = dashboard.window(
                    session=session,
                    viewer=viewer,
                    filters=dashboard.MonitorFilter(
                        self.today - timedelta(days=days - 1), self.today
                    ),
                    now=self.now,
                    zone=self.zone,
                    deadline_hours=DEADLINE_HOURS,
                )
                label = f"签名监控 {who} {days} days ·"
                self.time(
                    f"{label} KPIs + P50/P90",
                    lambda w=w: dashboard.figures(session=session, w=w),
                    target,
                )
                self.time(
                    f"{label} daily trend",
                    lambda w=w: dashboard.daily(session=session, w=w),
                    target,
                )
                self.time(
                    f"{label} per doctor",
                    lambda w=w: dashboard.per_doctor(session=session, w=w),
                    target,
                )
                self.time(
                    f"{label} 超期未签 page 1",
                    lambda w=w: behind.drill(session=session, w=w, kind="overdue"),
                    target,
                )
                after = _drill_cursor(session, w, DEEP_PAGE)
                self.time(
                    f"{label} 超期未签 page {DEEP_PAGE} (keyset)",
                    lambda w=w, after=after: behind.drill(
                        session=session,
                        w=w,
                        kind="overdue",
                        page=DEEP_PAGE,
                        after=after,
                    ),
                    target,
                )

    def others(self, admin) -> None:
        session = self.session
        cutoff = self.now - timedelta(hours=DEADLINE_HOURS)
        self.time(
            "超期未签 job query",
            lambda: periodic.overdue_by_doctor(session, cutoff=cutoff),
            None,  # a background job every 10 minutes, not a page
        )
        digest = session.exec(
            select(SignedDocument.sha256).order_by(SignedDocument.id.desc())
        ).first()
        self.time(
            "验证 lookup by SHA-256",
            lambda: session.exec(
                select(SignedDocument).where(SignedDocument.sha256 == digest)
            ).first(),
        )
        no_filter = audit_query.AuditFilter()
        self.time(
            "审计日志 · newest page",
            lambda: audit_query.search_events(
                session=session, viewer=admin, filters=no_filter, zone=self.zone
            ),
        )


def _drill_cursor(session: Session, w, page: int):
    """Where page ``page`` of the 超期未签 drill-down starts, reached by 下一页."""
    after = None
    for number in range(1, page):
        after = behind.drill(
            session=session, w=w, kind="overdue", page=number, after=after
        ).next_after
    return after


def _vacuum(engine: sa.Engine) -> None:
    """PostgreSQL: what autovacuum would have done to a table loaded long ago (the
    visibility map lets index-only scans skip the heap)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))


def _run_backend(report: Report, engine: sa.Engine, backend: str, count: int):
    zone = clinic_zone()
    now = datetime.now(zone)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=now)
        # Logged in before the load: the generated audit entries follow theirs.
        _, doctor = _login(session, "sh-feihuan@8112")
        token, manager = _login(session, "sh-manager@8112")
        _, admin = _login(session, "sh-admin@8112")
        start = time.perf_counter()
        load_records(session, now=now, count=count)
        _vacuum(engine)
        report.figure(
            f"{backend} · load {count} records", time.perf_counter() - start, "s"
        )
        bench = _Bench(report, session, backend, now)
        bench.workbench(doctor, manager, token)
        bench.monitor(manager)
        bench.others(admin)


def run(report: Report, *, records: int, postgres_url: str) -> None:
    """The query figures on SQLite, then on PostgreSQL when ``postgres_url`` names
    a server (its database is only used to create and drop the throwaway one)."""
    audit.configure(secrets.token_bytes(32))  # a throwaway log needs no KEK
    try:
        with _sqlite() as engine:
            _run_backend(report, engine, "sqlite", records)
        if postgres_url:
            with _postgres(postgres_url) as engine:
                _run_backend(report, engine, "postgresql", records)
    finally:
        audit.configure(None)
