"""Database tables. Tables only: behaviour lives in ``services``.

All datetimes are timezone-aware UTC (SQLModel stores them with ``UTCDateTime``).
Secrets (password hashes, session token hashes) live in tables that are never sent to
the browser: states copy the fields they show into plain dataclasses.

One module per domain (base, people, records, signing, system); import them from here.
"""

from his_portal.models.base import (
    CertStatus,
    LockStatus,
    Role,
    Sex,
    SignStatus,
    Table,
    VerificationStatus,
    utcnow,
)
from his_portal.models.people import (
    Clinic,
    DoctorProfile,
    LoginAttempt,
    ManualReview,
    User,
    UserSession,
)
from his_portal.models.records import (
    Appointment,
    MedicalRecord,
    Patient,
)
from his_portal.models.signing import (
    BatchItem,
    Confirmation,
    DoctorCertificate,
    EarlierSignedFile,
    FileTicket,
    IssuerKey,
    Seal,
    SignedDocument,
    SmsMessage,
)
from his_portal.models.system import (
    AuditAnchor,
    AuditEvent,
    AuditHead,
    IntegrityReport,
    JobRun,
    Notification,
)

__all__ = [
    "Appointment",
    "AuditAnchor",
    "AuditEvent",
    "AuditHead",
    "BatchItem",
    "CertStatus",
    "Clinic",
    "Confirmation",
    "DoctorCertificate",
    "DoctorProfile",
    "EarlierSignedFile",
    "FileTicket",
    "IntegrityReport",
    "IssuerKey",
    "JobRun",
    "LockStatus",
    "LoginAttempt",
    "ManualReview",
    "MedicalRecord",
    "Notification",
    "Patient",
    "Role",
    "Seal",
    "Sex",
    "SignStatus",
    "SignedDocument",
    "SmsMessage",
    "Table",
    "User",
    "UserSession",
    "VerificationStatus",
    "utcnow",
]
