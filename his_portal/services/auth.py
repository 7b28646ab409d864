"""Passwords, login sessions, account lockout and per-address throttling.

The browser holds a random session token; the server keeps only its SHA-256 in
``UserSession``. A session ends at its absolute ``expires_at``, on logout, or after
``idle_minutes`` (settings) without activity. Activity is ``last_seen_at``, bumped by a
conditional UPDATE at most once every ``SEEN_EVERY`` (one minute) rather than on every
event, so a session may end up to a minute before it has been idle for the full limit.
A session that went idle is ended like a logout (``revoked_at``), audited once as
``auth.session_idle_expired``.

Failed passwords are limited three ways. Each counts failures over a sliding
``LOCK_WINDOW`` (15 minutes) and refuses for ``LOCK_WINDOW`` after the failure that
reached its limit:

* ``MAX_FAILURES`` (5) for one login id from one client address (``MSG_LOCKED``): a
  guesser locks only their own address out, never the real user at another one. A
  successful login from that address clears it.
* ``IP_MAX_FAILURES`` (20) from one address, whatever the login ids
  (``MSG_THROTTLED``). It is checked before anything else, argon2 included, and a
  refused attempt writes nothing, so a flood from one address costs no hashing and no
  writes. Behind one NAT address a whole clinic shares this budget.
* ``ACCOUNT_MAX_FAILURES`` (100) for one login id from all addresses together
  (``MSG_LOCKED``): a ceiling against guessing spread over many addresses. It locks
  the account for everyone, the price of bounding such guessing to 100 tries per
  half hour; successful logins do not clear it.

An administrator's unlock clears both per-login-id counters. Every failure gives the
same message whether the login id exists or not.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, or_, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import Clinic, LoginAttempt, Role, User, UserSession, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.settings import get_settings

__all__ = [
    "ACCOUNT_MAX_FAILURES",
    "IP_MAX_FAILURES",
    "LOCK_WINDOW",
    "MAX_FAILURES",
    "SEEN_EVERY",
    "AccountRow",
    "AuthError",
    "CurrentUser",
    "authenticate",
    "hash_password",
    "list_accounts",
    "live_session",
    "logout",
    "resolve_session",
    "session_is_live",
    "unlock_account",
]

MAX_FAILURES = 5
IP_MAX_FAILURES = 20
ACCOUNT_MAX_FAILURES = 100
LOCK_WINDOW = timedelta(minutes=15)
LOCK_MINUTES = int(LOCK_WINDOW.total_seconds() // 60)
SEEN_EVERY = timedelta(minutes=1)
MSG_BAD_CREDENTIALS = "账号或密码错误"
MSG_LOCKED = f"登录失败次数过多，账号已锁定，请{LOCK_MINUTES}分钟后再试"
MSG_THROTTLED = "登录尝试过于频繁，请稍后再试"
# The ``ip`` of the successful attempt an administrator's unlock records.
UNLOCK_MARK = "admin-unlock"

_hasher = PasswordHasher()
# Verified against when the login id is unknown, so that both paths cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AuthError(HisError):
    """A login that did not succeed; ``message`` is shown to the user as is.

    ``locked`` is set when further attempts are refused for a while (login id
    locked, or the client address throttled).
    """

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


def _current_user(user: User, clinic: Clinic | None) -> CurrentUser:
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
    return token, _current_user(user, session.get(Clinic, user.clinic_id))


def _last_active(user_session: UserSession) -> datetime:
    return user_session.last_seen_at or user_session.created_at


def session_is_live(
    user_session: UserSession,
    user: User,
    *,
    now: datetime,
    idle_minutes: int | None = None,
) -> bool:
    """Whether a session may still act: not revoked, not past ``expires_at``, not
    idle for longer than ``idle_minutes`` (the settings' when None), and its user
    still active."""
    if idle_minutes is None:
        idle_minutes = get_settings().idle_minutes
    return (
        user_session.revoked_at is None
        and user_session.expires_at > now
        and now - _last_active(user_session) <= timedelta(minutes=idle_minutes)
        and user.is_active
    )


def _session_query(token: str):
    return (
        select(UserSession, User, Clinic)
        .join(User, User.id == UserSession.user_id)
        .join(Clinic, Clinic.id == User.clinic_id, isouter=True)
        .where(UserSession.token_hash == _token_hash(token))
    )


def live_session(
    *,
    session: Session,
    token: str,
    now: datetime | None = None,
    idle_minutes: int | None = None,
) -> UserSession | None:
    """The live login session behind a browser token, for binding something to it
    (unlike :func:`resolve_session` it writes nothing)."""
    if not token:
        return None
    row = session.exec(_session_query(token)).first()
    if row is None:
        return None
    user_session, user, _clinic = row
    live = session_is_live(
        user_session, user, now=now or utcnow(), idle_minutes=idle_minutes
    )
    return user_session if live else None


def resolve_session(
    *,
    session: Session,
    token: str,
    now: datetime | None = None,
    idle_minutes: int | None = None,
) -> CurrentUser | None:
    """The user behind a browser token, or None if it is unknown, expired, revoked,
    idle for too long, or its user is inactive.

    Called on every event, so it reads with one query on the unique token hash, and
    writes only to bump ``last_seen_at`` once a minute or to end an idle session.

    Args:
        session: Database session; this function commits what it writes.
        token: The browser's session token.
        now: Current time (tests freeze it).
        idle_minutes: How long a session may go without activity; the settings'
            ``idle_minutes`` when None.

    Returns:
        The user, or None.
    """
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(_session_query(token)).first()
    if row is None:
        return None
    user_session, user, clinic = row
    if session_is_live(user_session, user, now=now, idle_minutes=idle_minutes):
        current = _current_user(user, clinic)
        if now - _last_active(user_session) >= SEEN_EVERY:
            _mark_seen(session, user_session.id, now)
        return current
    # Not revoked, not expired, user active, yet not live: idle for too long.
    if (
        user_session.revoked_at is None
        and user_session.expires_at > now
        and user.is_active
    ):
        _end_idle(session, user_session, user, now)
    return None


def _mark_seen(session: Session, session_id: int, now: datetime) -> None:
    """Bump ``last_seen_at``; the condition makes concurrent events write it once."""
    table = UserSession.__table__
    session.execute(
        table.update()
        .where(
            table.c.id == session_id,
            or_(
                table.c.last_seen_at.is_(None), table.c.last_seen_at <= now - SEEN_EVERY
            ),
        )
        .values(last_seen_at=now)
    )
    session.commit()


def _end_idle(
    session: Session, user_session: UserSession, user: User, now: datetime
) -> None:
    """End an idle session as revoked; only the event that ends it audits it."""
    table = UserSession.__table__
    ended = session.execute(
        table.update()
        .where(table.c.id == user_session.id, table.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    if ended:
        record_event(
            session=session,
            actor=Actor(user.id, user.login_id),
            action="auth.session_idle_expired",
            target=f"session:{user_session.id}",
        )
    session.commit()


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


def unlock_account(
    *,
    session: Session,
    admin: CurrentUser,
    login_id: str,
    now: datetime | None = None,
) -> None:
    """Clear a login id's lockouts early, from every address: an administrator's
    action, recorded as a success from ``UNLOCK_MARK``. Throttled addresses stay
    throttled."""
    if admin.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以解锁账号")
    session.add(
        LoginAttempt(
            login_id=login_id, at=now or utcnow(), success=True, ip=UNLOCK_MARK
        )
    )
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
        raise AccessDenied("只有系统管理员可以查看账号")
    now = now or utcnow()
    rows = session.exec(
        select(User, Clinic).join(Clinic, Clinic.id == User.clinic_id).order_by(User.id)
    ).all()
    result = []
    for user, clinic in rows:
        until = _failures(session, user.login_id, now).locked_anywhere_until(now)
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
