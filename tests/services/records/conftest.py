"""The 签名监控 and keyset tests' chain: two 分院, their doctors and managers, 400
records over 45 days, on SQLite and (marked postgres) PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import Session, SQLModel

from his_portal.db import make_engine
from his_portal.models import (
    Clinic,
    LockStatus,
    MedicalRecord,
    Patient,
    Role,
    SignStatus,
    User,
)
from his_portal.services.auth import CurrentUser, view_of
from his_portal.services.records import dashboard
from tests.conftest import NOW, ZONE

DEADLINE_HOURS = 24
TODAY = NOW.date()


@dataclass
class Chain:
    session: Session
    clinics: dict[str, Clinic]
    users: dict[str, User]
    records: list[MedicalRecord]

    def viewer(self, login: str) -> CurrentUser:
        user = self.users[login]
        return view_of(user, self.session.get(Clinic, user.clinic_id))


def _user(session, login, name, role, clinic, chain_wide=False) -> User:
    user = User(
        login_id=login,
        display_name=name,
        role=role,
        clinic_id=clinic.id,
        password_hash="-",
        chain_wide=chain_wide,
    )
    session.add(user)
    return user


def build_chain(session: Session) -> Chain:
    """Two 分院, two doctors each, managers, and 400 records over 45 days before NOW
    (some exactly at local midnight), about 60% signed 1 minute to 5 days after."""
    rng = random.Random(11)
    clinics = {code: Clinic(name=f"测试{code}分院", code=code) for code in ("A", "B")}
    session.add_all(clinics.values())
    session.flush()
    users = {
        login: _user(session, login, name, role, clinics[code], chain)
        for login, name, role, code, chain in (
            ("a-doc1", "甲一", Role.DOCTOR, "A", False),
            ("a-doc2", "=甲二", Role.DOCTOR, "A", False),
            ("b-doc1", "乙一", Role.DOCTOR, "B", False),
            ("b-doc2", "乙二", Role.DOCTOR, "B", False),
            ("a-mgr", "甲管", Role.MANAGER, "A", False),
            ("chain", "总管", Role.MANAGER, "A", True),
            ("admin", "管理员", Role.ADMIN, "A", False),
        )
    }
    session.flush()
    patients = {}
    for code, clinic in clinics.items():
        patients[code] = Patient(
            record_no=f"P-{code}",
            name=f"{code}病人",
            sex="male",
            birth_date=date(1990, 1, 1),
            clinic_id=clinic.id,
        )
    session.add_all(patients.values())
    session.flush()
    doctors = [u for u in users.values() if u.role == Role.DOCTOR]
    records = []
    for index in range(400):
        doctor = rng.choice(doctors)
        code = "A" if doctor.clinic_id == clinics["A"].id else "B"
        if index % 40 == 0:  # a visit at exactly the clinic's midnight
            day = TODAY - timedelta(days=rng.randint(0, 44))
            created = datetime.combine(day, time.min, tzinfo=ZONE)
        else:
            created = NOW - timedelta(minutes=rng.randint(1, 45 * 24 * 60))
        signed = rng.random() < 0.6
        signed_at = created + timedelta(minutes=rng.randint(1, 5 * 24 * 60))
        signed = signed and signed_at <= NOW
        record = MedicalRecord(
            patient_id=patients[code].id,
            doctor_id=doctor.id,
            clinic_id=doctor.clinic_id,
            visit_item="检查",
            title="口腔检查",
            created_at=created,
            sign_status=SignStatus.SIGNED if signed else SignStatus.UNSIGNED,
            lock_status=LockStatus.LOCKED if signed else LockStatus.OPEN,
            signed_at=signed_at if signed else None,
            signer_id=doctor.id if signed else None,
        )
        session.add(record)
        records.append(record)
    session.commit()
    return Chain(session, clinics, users, records)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def chain(request, tmp_path):
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'chain.db'}"
    )
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield build_chain(session)
    engine.dispose()


@pytest.fixture
def sqlite_chain(session) -> Chain:
    return build_chain(session)


def window_of(chain: Chain, login="chain", **filters) -> dashboard.Window:
    filters.setdefault("date_from", TODAY - timedelta(days=29))
    filters.setdefault("date_to", TODAY)
    return dashboard.window(
        session=chain.session,
        viewer=chain.viewer(login),
        filters=dashboard.MonitorFilter(**filters),
        now=NOW,
        zone=ZONE,
        deadline_hours=DEADLINE_HOURS,
    )
