"""What an administrator sees of accounts and their lockouts: the account list
(filtered, a page at a time) and unlocking early."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, or_, select

from his_portal.errors import AccessDenied
from his_portal.models import Clinic, LoginAttempt, Role, User, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth.core import (
    UNLOCK_MARK,
    CurrentUser,
)
from his_portal.services.auth.login import _failures

#: Accounts on one page of the list.
PAGE_SIZE = 20
#: ``AccountFilter.status`` values.
STATUSES = ("active", "disabled", "must_change")


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
    id: int = 0
    #: 全部分院 (a chain-wide manager).
    chain_wide: bool = False
    #: Has a one-time password it has not replaced yet.
    must_change_password: bool = False


@dataclass(frozen=True)
class AccountFilter:
    """What the account list is narrowed to; empty fields do not narrow it."""

    #: Part of the login id or the name.
    text: str = ""
    role: str = ""
    clinic_id: int | None = None
    #: One of ``STATUSES``.
    status: str = ""


@dataclass(frozen=True)
class AccountPage:
    """One page of the filtered account list."""

    rows: list[AccountRow]
    total: int
    page: int
    pages: int


def _where(query, filters: AccountFilter):
    text = filters.text.strip()
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(User.login_id).like(pattern),
                func.lower(User.display_name).like(pattern),
            )
        )
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.clinic_id is not None:
        query = query.where(User.clinic_id == filters.clinic_id)
    if filters.status == "active":
        query = query.where(col(User.is_active).is_(True))
    elif filters.status == "disabled":
        query = query.where(col(User.is_active).is_(False))
    elif filters.status == "must_change":
        query = query.where(col(User.must_change_password).is_(True))
    return query


def search_accounts(
    *,
    session: Session,
    admin: CurrentUser,
    zone: ZoneInfo,
    filters: AccountFilter = AccountFilter(),
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> AccountPage:
    """One page of the accounts matching ``filters``, by id, with their lockout
    state (administrators only). A page past the last one gives the last page."""
    if admin.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以查看账号")
    now = now or utcnow()
    total = session.exec(_where(select(func.count()).select_from(User), filters)).one()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = session.exec(
        _where(select(User, Clinic).join(Clinic, Clinic.id == User.clinic_id), filters)
        .order_by(col(User.id))
        .offset((page - 1) * page_size)
        .limit(page_size)
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
                id=user.id,
                chain_wide=user.role == Role.MANAGER and user.chain_wide,
                must_change_password=user.must_change_password,
            )
        )
    return AccountPage(rows=result, total=total, page=page, pages=pages)


def list_accounts(
    *, session: Session, admin: CurrentUser, zone: ZoneInfo, now: datetime | None = None
) -> list[AccountRow]:
    """All accounts with their lockout state (administrators only)."""
    if admin.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以查看账号")
    total = session.exec(select(func.count()).select_from(User)).one()
    return search_accounts(
        session=session, admin=admin, zone=zone, page_size=max(1, total), now=now
    ).rows
