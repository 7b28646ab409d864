"""Passwords, login sessions and account lockout.

The browser holds a random session token; the server keeps only its SHA-256 in
``UserSession``. Five failed attempts within 15 minutes lock a login id for 15 minutes,
and every failure gives the same message whether the login id exists or not.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, func, select

from his_portal.models import Clinic, LoginAttempt, Role, User, UserSession, utcnow
from his_portal.services.audit import Actor, record_event

__all__ = [
    "LOCK_WINDOW",
    "MAX_FAILURES",
    "AccountRow",
    "AuthError",
    "CurrentUser",
    "authenticate",
    "hash_password",
    "list_accounts",
    "logout",
    "resolve_session",
    "unlock_account",
]

MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
MSG_BAD_CREDENTIALS = "账号或密码错误"
MSG_LOCKED = "登录失败次数过多，账号已锁定，请15分钟后再试"

_hasher = PasswordHasher()
# Verified against when the login id is unknown, so that both paths cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AuthError(Exception):
    """A login that did not succeed; ``message`` is shown to the user as is."""

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


@dataclass(frozen=True)
class CurrentUser:
    """What the UI may know about the logged-in user (no secrets)."""

    id: int
    login_id: str
    display_name: str
    role: str
    clinic_id: int
    clinic_name: str


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _locked_until(session: Session, login_id: str, now: datetime) -> datetime | None:
    """End of the lock if MAX_FAILURES failures fell within LOCK_WINDOW lately."""
    last_success = session.exec(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.login_id == login_id, col(LoginAttempt.success).is_(True)
        )
    ).one()
    since = now - 2 * LOCK_WINDOW
    if last_success is not None and last_success > since:
        since = last_success
    failures = session.exec(
        select(LoginAttempt.at)
        .where(
            LoginAttempt.login_id == login_id,
            col(LoginAttempt.success).is_(False),
            LoginAttempt.at > since,
        )
        .order_by(LoginAttempt.at)
    ).all()
    span = MAX_FAILURES - 1
    for first, last in zip(failures, failures[span:], strict=False):
        if last - first <= LOCK_WINDOW and last + LOCK_WINDOW > now:
            return last + LOCK_WINDOW
    return None


def _current_user(session: Session, user: User) -> CurrentUser:
    clinic = session.get(Clinic, user.clinic_id)
    return CurrentUser(
        id=user.id,
        login_id=user.login_id,
        display_name=user.display_name,
        role=user.role,
        clinic_id=user.clinic_id,
        clinic_name=clinic.name if clinic else "",
    )


def authenticate(
    *,
    session: Session,
    login_id: str,
    password: str,
    session_hours: int,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> tuple[str, CurrentUser]:
    """Check a password and open a session.

    Args:
        session: Database session; this function commits.
        login_id: What the user typed as account.
        password: What the user typed as password.
        session_hours: Lifetime of the new session.
        ip: Client address, for the audit log.
        user_agent: Client browser, for the audit log.
        now: Current time (tests freeze it).

    Returns:
        The session token for the browser, and the user.

    Raises:
        AuthError: Wrong credentials, inactive account, or locked login id.
    """
    now = now or utcnow()
    login_id = login_id.strip()
    actor = Actor(login_id=login_id[:64], ip=ip, user_agent=user_agent)
    if not login_id or not password:
        raise AuthError("请输入账号和密码")
    if _locked_until(session, login_id, now) is not None:
        record_event(session=session, actor=actor, action="auth.login_refused_locked")
        session.commit()
        raise AuthError(MSG_LOCKED, locked=True)
    user = session.exec(select(User).where(User.login_id == login_id)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.is_active
    except (VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(login_id=login_id[:64], at=now, success=ok, ip=ip[:64]))
    if not ok:
        session.flush()
        locked = _locked_until(session, login_id, now) is not None
        record_event(
            session=session,
            actor=actor,
            action="auth.account_locked" if locked else "auth.login_failed",
        )
        session.commit()
        if locked:
            raise AuthError(MSG_LOCKED, locked=True)
        raise AuthError(MSG_BAD_CREDENTIALS)
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=session_hours),
            ip=ip[:64],
            user_agent=user_agent[:255],
        )
    )
    record_event(
        session=session,
        actor=Actor(user.id, user.login_id, ip, user_agent),
        action="auth.login",
    )
    session.commit()
    return token, _current_user(session, user)


def resolve_session(
    *, session: Session, token: str, now: datetime | None = None
) -> CurrentUser | None:
    """The user behind a browser token, or None if it is unknown, expired or revoked."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    user_session, user = row
    if (
        user_session.revoked_at is not None
        or user_session.expires_at <= now
        or not user.is_active
    ):
        return None
    return _current_user(session, user)


def logout(*, session: Session, token: str, ip: str = "", user_agent: str = "") -> None:
    """Revoke the session behind ``token`` (nothing happens for an unknown token)."""
    user_session = session.exec(
        select(UserSession).where(UserSession.token_hash == _token_hash(token))
    ).first()
    if user_session is None or user_session.revoked_at is not None:
        return
    user_session.revoked_at = utcnow()
    user = session.get(User, user_session.user_id)
    session.add(user_session)
    record_event(
        session=session,
        actor=Actor(user.id, user.login_id, ip, user_agent),
        action="auth.logout",
    )
    session.commit()


def unlock_account(*, session: Session, admin: CurrentUser, login_id: str) -> None:
    """Clear a lockout early: an administrator's action, recorded as a success."""
    if admin.role != Role.ADMIN:
        raise PermissionError("只有系统管理员可以解锁账号")
    session.add(LoginAttempt(login_id=login_id, success=True, ip="admin-unlock"))
    record_event(
        session=session,
        actor=Actor(admin.id, admin.login_id),
        action="auth.account_unlocked",
        target=f"login:{login_id}",
    )
    session.commit()


@dataclass(frozen=True)
class AccountRow:
    """An account as the administrator sees it."""

    login_id: str
    display_name: str
    role: str
    clinic_name: str
    is_active: bool
    locked_until: str


def list_accounts(
    *, session: Session, admin: CurrentUser, zone: ZoneInfo, now: datetime | None = None
) -> list[AccountRow]:
    """All accounts with their lockout state (administrators only)."""
    if admin.role != Role.ADMIN:
        raise PermissionError("只有系统管理员可以查看账号")
    now = now or utcnow()
    rows = session.exec(
        select(User, Clinic).join(Clinic, Clinic.id == User.clinic_id).order_by(User.id)
    ).all()
    result = []
    for user, clinic in rows:
        until = _locked_until(session, user.login_id, now)
        result.append(
            AccountRow(
                login_id=user.login_id,
                display_name=user.display_name,
                role=user.role,
                clinic_name=clinic.name,
                is_active=user.is_active,
                locked_until=until.astimezone(zone).strftime("%H:%M") if until else "",
            )
        )
    return result
