"""Clinics, people and their logins; a doctor's 个人信息 and 实名认证."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from his_portal.models.base import Table, VerificationStatus, utcnow


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
