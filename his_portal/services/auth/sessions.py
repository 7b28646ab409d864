"""Server-side sessions: resolving, idle and absolute expiry, logout."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, or_, select

from his_portal.models import Clinic, User, UserSession, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth.core import (
    SEEN_EVERY,
    CurrentUser,
    _token_hash,
    view_of,
)
from his_portal.settings import get_settings


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
    # A session that must set a new password first may bind nothing.
    return user_session if live and not user.must_change_password else None


def pending_password_change(
    *, session: Session, token: str, now: datetime | None = None
) -> CurrentUser | None:
    """The user behind a live session that must set a new password before doing
    anything else (:func:`resolve_session` refuses it), or None."""
    if not token:
        return None
    row = session.exec(_session_query(token)).first()
    if row is None:
        return None
    user_session, user, clinic = row
    if user.must_change_password and session_is_live(
        user_session, user, now=now or utcnow()
    ):
        return view_of(user, clinic)
    return None


def revoke_user_sessions(
    session: Session, user_id: int, *, now: datetime, keep_id: int | None = None
) -> int:
    """End every live session of ``user_id`` but ``keep_id`` (the caller commits);
    how many were ended."""
    table = UserSession.__table__
    query = table.update().where(
        table.c.user_id == user_id, table.c.revoked_at.is_(None)
    )
    if keep_id is not None:
        query = query.where(table.c.id != keep_id)
    return session.execute(query.values(revoked_at=now)).rowcount


def resolve_session(
    *,
    session: Session,
    token: str,
    now: datetime | None = None,
    idle_minutes: int | None = None,
) -> CurrentUser | None:
    """The user behind a browser token, or None if it is unknown, expired, revoked,
    idle for too long, its user is inactive, or it must set a new password first.

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
        if user.must_change_password:
            # Nothing but 设置新密码 (pending_password_change) until it is done.
            return None
        current = view_of(user, clinic)
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
