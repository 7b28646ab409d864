"""Shared helpers for the notification tests: a second 分院, managers of each scope."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, select

from his_portal.models import (
    Clinic,
    DoctorProfile,
    MedicalRecord,
    Notification,
    Patient,
    Role,
    User,
)
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser, view_of
from tests.conftest import NOW, user_by_login

DOCTOR = "sh-feihuan@8112"
OTHER_DOCTOR = "sh-wangli@8112"
MANAGER = "sh-manager@8112"
ADMIN = "sh-admin@8112"


def branch_manager(session: Session) -> CurrentUser:
    """陈静 as a manager of her own 分院 only."""
    return replace(user_by_login(session, MANAGER), chain_wide=False)


def chain_manager(session: Session) -> CurrentUser:
    return replace(user_by_login(session, MANAGER), chain_wide=True)


def actor_of(user: CurrentUser) -> Actor:
    return Actor(user.id, user.login_id, "127.0.0.1", "pytest")


def other_clinic(session: Session) -> tuple[CurrentUser, list[int]]:
    """A doctor of another 分院 with two unsigned records there."""
    clinic = Clinic(name="测试分院", code="T900")
    session.add(clinic)
    session.flush()
    doctor = User(
        login_id="t900-doctor",
        display_name="外院医生",
        role=Role.DOCTOR,
        clinic_id=clinic.id,
        password_hash="x",
    )
    session.add(doctor)
    session.flush()
    patient = Patient(
        record_no="PT900001",
        name="外院患者",
        sex="male",
        birth_date=NOW.date().replace(year=1990),
        clinic_id=clinic.id,
    )
    session.add(patient)
    session.flush()
    records = [
        MedicalRecord(
            patient_id=patient.id,
            doctor_id=doctor.id,
            clinic_id=clinic.id,
            visit_item="初诊",
            title="口腔检查",
            created_at=NOW.replace(hour=9),
        )
        for _ in range(2)
    ]
    session.add_all(records)
    session.commit()
    return view_of(doctor, clinic), [r.id for r in records]


def set_mobile(session: Session, login_id: str, mobile: str) -> None:
    user = session.exec(select(User).where(User.login_id == login_id)).one()
    profile = session.exec(
        select(DoctorProfile).where(DoctorProfile.user_id == user.id)
    ).first()
    profile = profile or DoctorProfile(
        user_id=user.id,
        name=user.display_name,
        id_type="resident",
        id_number_enc="",
        id_number_masked="",
        mobile="",
    )
    profile.mobile = mobile
    session.add(profile)
    session.commit()


def notes_of(session: Session, user_id: int) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id)
        )
    )
