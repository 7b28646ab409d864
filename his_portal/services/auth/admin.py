"""What an administrator does with accounts: list them, unlock them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from his_portal.errors import AccessDenied
from his_portal.models import Clinic, LoginAttempt, Role, User, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth.core import (
    UNLOCK_MARK,
    CurrentUser,
)
from his_portal.services.auth.login import _failures


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
