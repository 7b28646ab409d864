"""Patients, their visits' records (病历) and bookings."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from his_portal.models.base import LockStatus, SignStatus, Table, utcnow


class Patient(Table, table=True):
    """A patient; ``record_no`` (病历号) is the patient's chart number."""

    record_no: str = Field(unique=True, index=True, max_length=32)
    name: str = Field(index=True, max_length=50)
    name_pinyin: str = Field(default="", index=True, max_length=200)
    sex: str = Field(max_length=8)
    birth_date: date
    phone: str = Field(default="", max_length=20)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)


class MedicalRecord(Table, table=True):
    """病历: one visit's record, written by a doctor and signed by that doctor."""

    # 签名监控 reads every figure off one of the first three (covering: no table
    # rows are read), by doctor, by 分院 or across the chain; the workbench uses the
    # first two. The status ones count the unsigned records of all time (待签名,
    # 超期未签, the periodic job) without reading the signed majority and list one
    # status newest first by doctor, by 分院 or chain-wide (created_at, id: the
    # keyset order, no sort); signed_at finds 今日已签.
    __table_args__ = (
        sa.Index(
            "ix_medicalrecord_doctor_signing",
            "doctor_id",
            "created_at",
            "clinic_id",
            "sign_status",
            "signed_at",
        ),
        sa.Index(
            "ix_medicalrecord_clinic_signing",
            "clinic_id",
            "created_at",
            "doctor_id",
            "sign_status",
            "signed_at",
        ),
        sa.Index(
            "ix_medicalrecord_created_signing",
            "created_at",
            "clinic_id",
            "doctor_id",
            "sign_status",
            "signed_at",
        ),
        sa.Index(
            "ix_medicalrecord_status_doctor",
            "sign_status",
            "doctor_id",
            "created_at",
            "id",
        ),
        sa.Index(
            "ix_medicalrecord_status_clinic",
            "sign_status",
            "clinic_id",
            "created_at",
            "id",
        ),
        sa.Index("ix_medicalrecord_status_created", "sign_status", "created_at", "id"),
        sa.Index("ix_medicalrecord_signed_at", "signed_at", "clinic_id", "doctor_id"),
    )

    patient_id: int = Field(foreign_key="patient.id", index=True)
    doctor_id: int = Field(foreign_key="user.id")
    clinic_id: int = Field(foreign_key="clinic.id")
    visit_item: str = Field(max_length=50)
    title: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    chief_complaint: str = ""
    present_illness: str = ""
    past_history: str = ""
    examination: str = ""
    diagnosis: str = ""
    treatment_plan: str = ""
    treatment: str = ""
    advice: str = ""
    sign_status: str = Field(default=SignStatus.UNSIGNED, max_length=16)
    lock_status: str = Field(default=LockStatus.OPEN, max_length=16)
    version: int = 1
    signed_at: datetime | None = None
    signer_id: int | None = Field(default=None, foreign_key="user.id")
    amend_until: datetime | None = None


class Appointment(Table, table=True):
    """今日预约: a booked visit (from the clinic's 预约中心)."""

    __table_args__ = (
        sa.Index("ix_appointment_doctor_time", "doctor_id", "scheduled_at"),
    )

    patient_id: int = Field(foreign_key="patient.id", index=True)
    doctor_id: int = Field(foreign_key="user.id")
    clinic_id: int = Field(foreign_key="clinic.id")
    scheduled_at: datetime
    visit_item: str = Field(max_length=50)
    status: str = Field(default="booked", max_length=16)
