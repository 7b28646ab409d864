"""What a signature is made of: CA keys, doctors' certificates, seals, SMS,
意愿校验, batches, the signed files and their download tickets."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from his_portal.models.base import CertStatus, Table, utcnow


class IssuerKey(Table, table=True):
    """The clinic CA and its timestamp authority: certificate and encrypted key."""

    purpose: str = Field(unique=True, max_length=16)
    cert_pem: str
    key_pem_enc: str
    key_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


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
    # 验证 finds an uploaded file's stored version by its hash.
    sha256: str = Field(index=True, max_length=64)
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
    # Archive renewal's claim on the file (a lease: a dead worker's claim expires).
    renewal_claimed_at: datetime | None = None


class EarlierSignedFile(Table, table=True):
    """A stored signed PDF as it was before archive renewal appended to it: a copy
    handed out earlier still matches its version. The file it was is the first
    ``size`` bytes of the version's current one."""

    document_id: int = Field(foreign_key="signeddocument.id", index=True)
    sha256: str = Field(index=True, max_length=64)
    size: int
    replaced_at: datetime = Field(default_factory=utcnow)


class FileTicket(Table, table=True):
    """A single-use link to one private file, bound to the login session that asked
    for it; only its keyed hash is stored."""

    ticket_hash: str = Field(unique=True, max_length=64)
    session_id: int = Field(foreign_key="usersession.id", index=True)
    path: str = Field(max_length=255)
    expires_at: datetime
    used_at: datetime | None = None
