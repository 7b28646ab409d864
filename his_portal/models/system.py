"""The audit log, and what the app does by itself: notices, job leases, integrity
reports."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from his_portal.models.base import Table, utcnow


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
