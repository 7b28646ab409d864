"""Passwords, lockout and throttling (see the package docstring)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from his_portal.models import Clinic, LoginAttempt, User, UserSession, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth.core import (
    _DUMMY_HASH,
    ACCOUNT_MAX_FAILURES,
    IP_MAX_FAILURES,
    LOCK_WINDOW,
    MAX_FAILURES,
    MSG_BAD_CREDENTIALS,
    MSG_LOCKED,
    MSG_THROTTLED,
    UNLOCK_MARK,
    AuthError,
    CurrentUser,
    _hasher,
    _token_hash,
    view_of,
)


def _refusal_end(
    failures: list[datetime], limit: int, now: datetime
) -> datetime | None:
    """End of the refusal if ``limit`` of ``failures`` (in time order) fell within
    LOCK_WINDOW and the last of them is less than LOCK_WINDOW ago."""
    ends = [
        last + LOCK_WINDOW
        for first, last in zip(failures, failures[limit - 1 :], strict=False)
        if last - first <= LOCK_WINDOW
    ]
    end = max(ends, default=None)
    return end if end is not None and end > now else None


@dataclass(frozen=True)
class _Failures:
    """One login id's recent failures that still count: per address, and all."""

    by_ip: dict[str, list[datetime]]
    every_ip: list[datetime]

    def locked_until(self, ip: str, now: datetime) -> datetime | None:
        """End of the lock for attempts from ``ip``, or None."""
        ends = [
            _refusal_end(self.by_ip.get(ip, []), MAX_FAILURES, now),
            _refusal_end(self.every_ip, ACCOUNT_MAX_FAILURES, now),
        ]
        return max((end for end in ends if end is not None), default=None)

    def locked_anywhere_until(self, now: datetime) -> datetime | None:
        """End of the latest lock from any address, or None (the admin's view)."""
        ends = [
            _refusal_end(self.every_ip, ACCOUNT_MAX_FAILURES, now),
            *(_refusal_end(times, MAX_FAILURES, now) for times in self.by_ip.values()),
        ]
        return max((end for end in ends if end is not None), default=None)


def _failures(session: Session, login_id: str, now: datetime) -> _Failures:
    """The failures of ``login_id`` that can still lock it, in one indexed query.

    Only the last 2 × LOCK_WINDOW matter: a lock needs its last failure within
    LOCK_WINDOW and its first within LOCK_WINDOW before that. A success clears its
    address's failures; an administrator's unlock clears them all.
    """
    rows = session.exec(
        select(LoginAttempt.at, LoginAttempt.ip, LoginAttempt.success)
        .where(
            LoginAttempt.login_id == login_id, LoginAttempt.at > now - 2 * LOCK_WINDOW
        )
        .order_by(LoginAttempt.at)
    ).all()
    by_ip: dict[str, list[datetime]] = defaultdict(list)
    every_ip: list[datetime] = []
    for at, ip, success in rows:
        if not success:
            by_ip[ip].append(at)
            every_ip.append(at)
        elif ip == UNLOCK_MARK:
            by_ip.clear()
            every_ip.clear()
        else:
            by_ip.pop(ip, None)
    return _Failures(by_ip=dict(by_ip), every_ip=every_ip)


def _throttled_until(session: Session, ip: str, now: datetime) -> datetime | None:
    """End of the refusal of ``ip`` after IP_MAX_FAILURES failures, whatever login ids
    they tried (index ``ix_loginattempt_ip_at``)."""
    failures = session.exec(
        select(LoginAttempt.at)
        .where(
            LoginAttempt.ip == ip,
            col(LoginAttempt.success).is_(False),
            LoginAttempt.at > now - 2 * LOCK_WINDOW,
        )
        .order_by(LoginAttempt.at)
    ).all()
    return _refusal_end(list(failures), IP_MAX_FAILURES, now)


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
        ip: Client address: failures are counted per address, and for the audit log.
        user_agent: Client browser, for the audit log.
        now: Current time (tests freeze it).

    Returns:
        The session token for the browser, and the user.

    Raises:
        AuthError: Wrong credentials, inactive account, locked login id, or a
            throttled client address.
    """
    now = now or utcnow()
    login_id, ip = login_id.strip(), ip[:64]
    counted = login_id[:64]  # as LoginAttempt stores it
    actor = Actor(login_id=counted, ip=ip, user_agent=user_agent)
    if not login_id or not password:
        raise AuthError("请输入账号和密码")
    if _throttled_until(session, ip, now) is not None:
        raise AuthError(MSG_THROTTLED, locked=True)
    if _failures(session, counted, now).locked_until(ip, now) is not None:
        record_event(session=session, actor=actor, action="auth.login_refused_locked")
        session.commit()
        raise AuthError(MSG_LOCKED, locked=True)
    user = session.exec(select(User).where(User.login_id == login_id)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.is_active
    except (VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(login_id=counted, at=now, success=ok, ip=ip))
    if not ok:
        session.flush()
        locked = _failures(session, counted, now).locked_until(ip, now) is not None
        throttled = not locked and _throttled_until(session, ip, now) is not None
        action = (
            "auth.account_locked"
            if locked
            else "auth.ip_throttled"
            if throttled
            else "auth.login_failed"
        )
        record_event(session=session, actor=actor, action=action)
        session.commit()
        if locked:
            raise AuthError(MSG_LOCKED, locked=True)
        if throttled:
            raise AuthError(MSG_THROTTLED, locked=True)
        raise AuthError(MSG_BAD_CREDENTIALS)
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=session_hours),
            ip=ip,
            user_agent=user_agent[:255],
        )
    )
    record_event(
        session=session,
        actor=Actor(user.id, user.login_id, ip, user_agent),
        action="auth.login",
    )
    session.commit()
    return token, view_of(user, session.get(Clinic, user.clinic_id))
