"""Shared pieces of every table: the clock, the base class, the enums."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

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


class VerificationStatus(StrEnum):
    """实名认证状态."""

    UNVERIFIED = "unverified"
    PENDING_REVIEW = "pending_review"
    VERIFIED = "verified"


class CertStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
