"""Database tables. Tables only: behaviour lives in ``services``.

All datetimes are timezone-aware UTC (SQLModel stores them with ``UTCDateTime``).
Secrets (password hashes, session token hashes) live in tables that are never sent to
the browser: states copy the fields they show into plain dataclasses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Table(SQLModel):
    """Base of every table: an integer primary key."""

    id: int | None = Field(default=None, primary_key=True)


class Role(StrEnum):
    """What a user may do in the portal."""

    DOCTOR = "doctor"
    MANAGER = "manager"
    ADMIN = "admin"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class SignStatus(StrEnum):
    """签署状态 of a medical record."""

    UNSIGNED = "unsigned"
    SIGNED = "signed"


class LockStatus(StrEnum):
    """锁定状态 of a medical record: 未完成 (open) or 已完成 (locked)."""

    OPEN = "open"
    LOCKED = "locked"


class Clinic(Table, table=True):
    """分院: a branch of the dental group."""

    name: str = Field(unique=True, max_length=100)
    code: str = Field(unique=True, max_length=20)


class User(Table, table=True):
    """A person who logs in: doctor, clinic manager or administrator."""

    login_id: str = Field(unique=True, index=True, max_length=64)
    display_name: str = Field(max_length=50)
    role: str = Field(max_length=16)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # A manager who sees every 分院 of the chain (otherwise only their own clinic).
    chain_wide: bool = False
    # Set by an administrator's password reset: the next login must choose a new one.
    must_change_password: bool = False
    password_changed_at: datetime | None = None


class UserSession(Table, table=True):
    """A server-side login session; the browser holds only the random token."""

    token_hash: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    last_seen_at: datetime | None = None  # idle timeout; bumped at most once a minute
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=255)


class LoginAttempt(Table, table=True):
    """One password attempt, kept per login id whether or not the user exists."""

    __table_args__ = (
        sa.Index("ix_loginattempt_login_at", "login_id", "at"),
        sa.Index("ix_loginattempt_ip_at", "ip", "at"),
    )

    login_id: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)
    success: bool
    ip: str = Field(default="", max_length=64)


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

    # 签名监控 reads every figure off one of these (covering: no table rows are
    # read), by doctor, by 分院 or across the chain; the workbench uses the first two.
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


class AuditEvent(Table, table=True):
    """Append-only audit log; each entry carries the hash of the previous one."""

    seq: int = Field(unique=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, index=True)
    actor_login: str = Field(default="", max_length=64)
    action: str = Field(index=True, max_length=64)
    target: str = Field(default="", max_length=128)
    detail: str = ""
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=255)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(Table, table=True):
    """The chain's head, one row: updating it first serialises concurrent appends.
    ``mac`` is a keyed MAC over ``seq`` and ``hash``, so the head cannot be reset to
    match a truncated log without the key."""

    seq: int = 0
    hash: str = Field(default="", max_length=64)
    mac: str = Field(default="", max_length=64)


class AuditAnchor(Table, table=True):
    """A timestamped snapshot of the audit head: an RFC 3161 token over its MAC, so
    that rolling back the log and the head together is caught against it."""

    seq: int = Field(index=True)
    hash: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)
    token: str  # base64 DER TimeStampToken


class VerificationStatus(StrEnum):
    """实名认证状态."""

    UNVERIFIED = "unverified"
    PENDING_REVIEW = "pending_review"
    VERIFIED = "verified"


class DoctorProfile(Table, table=True):
    """个人信息 and 实名认证 of a doctor. The ID number is stored encrypted."""

    user_id: int = Field(foreign_key="user.id", unique=True)
    name: str = Field(max_length=50)
    id_type: str = Field(max_length=32)
    id_number_enc: str = Field(max_length=255)
    id_number_masked: str = Field(max_length=32)
    email: str = Field(default="", max_length=254)
    mobile: str = Field(max_length=20)
    address: str = Field(default="", max_length=200)
    verification_status: str = Field(
        default=VerificationStatus.UNVERIFIED, max_length=16
    )
    verified_at: datetime | None = None
    verified_via: str = Field(default="", max_length=80)
    esign_enabled: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class ManualReview(Table, table=True):
    """其他方式认证: a doctor's request that an administrator verifies them by hand."""

    user_id: int = Field(foreign_key="user.id", index=True)
    submitted_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="pending", max_length=16)
    reviewer_id: int | None = Field(default=None, foreign_key="user.id")
    reviewed_at: datetime | None = None
    note: str = Field(default="", max_length=200)


class IssuerKey(Table, table=True):
    """The clinic CA and its timestamp authority: certificate and encrypted key."""

    purpose: str = Field(unique=True, max_length=16)
    cert_pem: str
    key_pem_enc: str
    key_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class CertStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class DoctorCertificate(Table, table=True):
    """A doctor's signing certificate from the clinic CA, with its encrypted key."""

    user_id: int = Field(foreign_key="user.id", index=True)
    serial_hex: str = Field(unique=True, max_length=48)
    cert_pem: str
    key_pem_enc: str
    key_id: str = Field(max_length=64)
    subject: str = Field(max_length=255)
    fingerprint: str = Field(max_length=100)
    not_before: datetime
    not_after: datetime
    status: str = Field(default=CertStatus.ACTIVE, max_length=16)
    revoked_at: datetime | None = None
    revoke_reason: str = Field(default="", max_length=32)


class Seal(Table, table=True):
    """个性签章: a doctor's signature image (PNG with alpha) in the private data dir.

    Replaced or deleted seals keep their row and file: signatures already made refer
    to the seal they were made with.
    """

    user_id: int = Field(foreign_key="user.id", index=True)
    source: str = Field(max_length=16)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    width: int
    height: int
    created_at: datetime = Field(default_factory=utcnow)
    active: bool = True
    deleted_at: datetime | None = None


class SmsMessage(Table, table=True):
    """Every SMS sent, with the provider's reference; the demo outbox shows these."""

    mobile: str = Field(index=True, max_length=20)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    body: str = Field(max_length=500)
    purpose: str = Field(max_length=32)
    provider: str = Field(max_length=32)
    provider_ref: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class Confirmation(Table, table=True):
    """意愿校验: one step-up confirmation, bound to a doctor, their login session and an
    exact set of records. Codes and tokens are stored only as keyed hashes."""

    user_id: int = Field(foreign_key="user.id", index=True)
    session_hash: str = Field(max_length=64)
    records_digest: str = Field(max_length=64)
    record_ids: str
    method: str = Field(max_length=8)
    code_hash: str = Field(default="", max_length=64)
    qr_token_hash: str = Field(default="", index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_sent_at: datetime | None = None
    attempts: int = 0
    status: str = Field(default="pending", max_length=16)
    confirmed_at: datetime | None = None
    used_at: datetime | None = None
    # Set when 签署 spends the confirmation; the batch signs with this seal.
    seal_choice: str = Field(default="", max_length=16)
    # A batch runs at most once per confirmation: claimed, then finished.
    batch_started_at: datetime | None = None
    batch_finished_at: datetime | None = None
    # The face provider's transaction for 方式2 (e.g. Tencent BizToken).
    face_ref: str = Field(default="", max_length=128)
    # Where 签署 came from, for the audit entries the signing workers write.
    batch_ip: str = Field(default="", max_length=64)
    batch_user_agent: str = Field(default="", max_length=255)


class BatchItem(Table, table=True):
    """One record of a claimed batch, signed by a job on the signing queue.

    ``claimed_at`` is a lease: a worker takes a queued item by setting it, and an
    item whose worker died is taken again once the lease has run out.
    """

    __table_args__ = (sa.UniqueConstraint("confirmation_id", "record_id"),)

    confirmation_id: int = Field(foreign_key="confirmation.id", index=True)
    record_id: int = Field(foreign_key="medicalrecord.id")
    position: int
    status: str = Field(default="queued", max_length=16)
    reason: str = Field(default="", max_length=200)
    label: str = Field(default="", max_length=100)
    claimed_at: datetime | None = None
    attempts: int = 0
    finished_at: datetime | None = None


class SignedDocument(Table, table=True):
    """A signed version of a medical record: the PAdES PDF in the private data dir."""

    __table_args__ = (sa.UniqueConstraint("record_id", "version"),)

    record_id: int = Field(foreign_key="medicalrecord.id", index=True)
    version: int
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    cert_serial: str = Field(max_length=48)
    seal_kind: str = Field(max_length=16)
    seal_id: int | None = Field(default=None, foreign_key="seal.id")
    confirmation_id: int | None = Field(default=None, foreign_key="confirmation.id")
    method: str = Field(max_length=8)
    signer_id: int = Field(foreign_key="user.id")
    signed_at: datetime
    superseded_at: datetime | None = None
    # The short public id in the PDF footer's verification URL (/verify/<id>).
    verify_id: str | None = Field(default=None, unique=True, max_length=24)


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


class FileTicket(Table, table=True):
    """A single-use link to one private file, bound to the login session that asked
    for it; only its keyed hash is stored."""

    ticket_hash: str = Field(unique=True, max_length=64)
    session_id: int = Field(foreign_key="usersession.id", index=True)
    path: str = Field(max_length=255)
    expires_at: datetime
    used_at: datetime | None = None


class Notification(Table, table=True):
    """签名状态通知: one message to one user. ``dedup_key`` makes a periodic job's
    notice (a record past its deadline, a certificate about to expire) appear once."""

    __table_args__ = (sa.Index("ix_notification_user_read", "user_id", "read_at"),)

    user_id: int = Field(foreign_key="user.id")
    kind: str = Field(max_length=32)
    title: str = Field(max_length=100)
    body: str = Field(default="", max_length=500)
    record_id: int | None = Field(default=None, foreign_key="medicalrecord.id")
    sender_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    dedup_key: str | None = Field(default=None, unique=True, max_length=128)


class JobRun(Table, table=True):
    """A periodic job's lease: whichever worker moves ``due_at`` forward runs it, so
    the job runs once per interval however many workers the app has."""

    name: str = Field(unique=True, max_length=64)
    due_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str = Field(default="", max_length=64)
    result: str = Field(default="", max_length=2000)


class IntegrityReport(Table, table=True):
    """One run of the integrity check: every stored signed PDF and the audit chain."""

    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    documents_checked: int = 0
    documents_failed: int = 0
    audit_ok: bool = False
    detail: str = ""  # JSON: failures (record, version, reason) and the chain result
