"""Accounts: the first administrator from the command line, and what an
administrator does in 系统管理 (create doctors and managers, disable and enable
them, reset their passwords) until the HIS integration provides accounts.

An administrator never chooses a password for someone else: a new account and a
reset get a one-time password (:func:`~.auth.passwords.generate_one_time_password`)
that is returned once, to be shown once, and stored only as its argon2 hash; the
account must set its own password at its next login. Disabling an account and
resetting its password end its live sessions at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import Clinic, Role, User, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser, hash_password, revoke_user_sessions
from his_portal.services.auth.passwords import (
    check_policy,
    generate_one_time_password,
)

__all__ = [
    "CREATABLE_ROLES",
    "AccountError",
    "ClinicOption",
    "NewAccount",
    "create_account",
    "create_user",
    "list_clinics",
    "reset_password",
    "set_active",
]

LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")
NAME_MAX = 50
#: The roles an administrator creates in 系统管理 (administrators: ``cli``).
CREATABLE_ROLES = (Role.DOCTOR, Role.MANAGER)


class AccountError(HisError):
    """The account cannot be created or changed; ``message`` says why (Chinese)."""


@dataclass(frozen=True)
class NewAccount:
    """An account just created or reset, with its one-time password: show it once
    and keep it nowhere."""

    user_id: int
    login_id: str
    display_name: str
    one_time_password: str


@dataclass(frozen=True)
class ClinicOption:
    """A 分院 to choose from."""

    id: int
    name: str


def _require_admin(admin: CurrentUser, what: str) -> None:
    if admin.role != Role.ADMIN:
        raise AccessDenied(f"只有系统管理员可以{what}")


def _check_fields(login_id: str, display_name: str, role: str) -> None:
    if not LOGIN_RE.fullmatch(login_id):
        raise AccountError("账号应为3-64位字母、数字或 . _ @ -")
    if not display_name.strip() or len(display_name.strip()) > NAME_MAX:
        raise AccountError(f"请填写姓名（不超过{NAME_MAX}字）")
    if role not in tuple(Role):
        raise AccountError("角色应为 doctor、manager 或 admin")


def _login_taken(session: Session, login_id: str) -> bool:
    same = func.lower(User.login_id) == login_id.lower()
    return session.exec(select(User.id).where(same)).first() is not None


def create_account(
    *,
    session: Session,
    login_id: str,
    display_name: str,
    role: str,
    clinic_name: str,
    password: str,
    actor: Actor,
) -> User:
    """Create an account in ``clinic_name`` from the command line (the clinic is
    created if new; commits).

    Raises:
        AccountError: A malformed field or a taken login id.
        PasswordRejected: The password breaks the policy.
    """
    _check_fields(login_id, display_name, role)
    check_policy(password, login_id=login_id, display_name=display_name)
    if _login_taken(session, login_id):
        raise AccountError(f"账号 {login_id} 已存在")
    clinic = session.exec(select(Clinic).where(Clinic.name == clinic_name)).first()
    if clinic is None:
        count = len(session.exec(select(Clinic.id)).all())
        clinic = Clinic(name=clinic_name, code=f"C{count + 1:04d}")
        session.add(clinic)
        session.flush()
    user = User(
        login_id=login_id,
        display_name=display_name.strip(),
        role=role,
        clinic_id=clinic.id,
        password_hash=hash_password(password),
    )
    _add_account(session, user, clinic, actor)
    session.refresh(user)
    return user


def _add_account(session: Session, user: User, clinic: Clinic, actor: Actor) -> None:
    """Store a new account and audit it (commits)."""
    session.add(user)
    session.flush()
    detail = {"login_id": user.login_id, "role": user.role, "clinic": clinic.name}
    if user.chain_wide:
        detail["chain_wide"] = True
    record_event(
        session=session,
        actor=actor,
        action="account.created",
        target=f"user:{user.id}",
        detail=detail,
    )
    session.commit()


def list_clinics(*, session: Session, admin: CurrentUser) -> list[ClinicOption]:
    """Every 分院, by name (administrators only)."""
    _require_admin(admin, "查看分院")
    rows = session.exec(select(Clinic).order_by(col(Clinic.name))).all()
    return [ClinicOption(id=clinic.id, name=clinic.name) for clinic in rows]


def create_user(
    *,
    session: Session,
    admin: CurrentUser,
    login_id: str,
    display_name: str,
    role: str,
    clinic_id: int,
    chain_wide: bool,
    actor: Actor,
) -> NewAccount:
    """新建账号: a doctor or manager of an existing 分院, with a one-time password
    (commits).

    Args:
        chain_wide: 全部分院: a manager who sees every 分院 (managers only).

    Raises:
        AccessDenied: ``admin`` is not an administrator.
        AccountError: A malformed field, a role other than doctor or manager, an
            unknown 分院, 全部分院 for a doctor, or a taken login id.
    """
    _require_admin(admin, "创建账号")
    login_id, display_name = login_id.strip(), display_name.strip()
    _check_fields(login_id, display_name, role)
    if role not in CREATABLE_ROLES:
        raise AccountError("只能在此创建医生或门诊管理者账号")
    if chain_wide and role != Role.MANAGER:
        raise AccountError("只有门诊管理者可以查看全部分院")
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        raise AccountError("请选择已有的分院")
    if _login_taken(session, login_id):
        raise AccountError(f"账号 {login_id} 已存在")
    password = generate_one_time_password()
    user = User(
        login_id=login_id,
        display_name=display_name,
        role=role,
        clinic_id=clinic.id,
        chain_wide=chain_wide,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    _add_account(session, user, clinic, actor)
    return NewAccount(user.id, login_id, display_name, password)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("账号不存在")
    return user


def set_active(
    *,
    session: Session,
    admin: CurrentUser,
    user_id: int,
    active: bool,
    actor: Actor,
    now: datetime | None = None,
) -> User:
    """停用 / 启用 an account; disabling ends its live sessions at once (commits).

    Raises:
        AccessDenied: ``admin`` is not an administrator.
        AccountError: Unknown account, the administrator's own account, or the
            last active administrator.
    """
    _require_admin(admin, "停用或启用账号")
    user = _user(session, user_id)
    if user.id == admin.id:
        raise AccountError("不能停用或启用自己的账号")
    if user.is_active == active:
        return user
    if not active and user.role == Role.ADMIN:
        others = session.exec(
            select(func.count())
            .select_from(User)
            .where(
                User.role == Role.ADMIN,
                col(User.is_active).is_(True),
                User.id != user.id,
            )
        ).one()
        if others == 0:
            raise AccountError("不能停用最后一个系统管理员")
    now = now or utcnow()
    user.is_active = active
    session.add(user)
    ended = 0 if active else revoke_user_sessions(session, user.id, now=now)
    record_event(
        session=session,
        actor=actor,
        action="account.enabled" if active else "account.disabled",
        target=f"user:{user.id}",
        detail={"login_id": user.login_id, "sessions_ended": ended},
    )
    session.commit()
    return user


def reset_password(
    *,
    session: Session,
    admin: CurrentUser,
    user_id: int,
    actor: Actor,
    now: datetime | None = None,
) -> NewAccount:
    """重置密码: a new one-time password, to be changed at the next login; the
    account's live sessions end (commits).

    Raises:
        AccessDenied: ``admin`` is not an administrator.
        AccountError: Unknown account, or the administrator's own (个人中心 →
            修改密码 is for that).
    """
    _require_admin(admin, "重置密码")
    user = _user(session, user_id)
    if user.id == admin.id:
        raise AccountError("请在个人中心修改自己的密码")
    now = now or utcnow()
    password = generate_one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    session.add(user)
    ended = revoke_user_sessions(session, user.id, now=now)
    record_event(
        session=session,
        actor=actor,
        action="account.password_reset",
        target=f"user:{user.id}",
        detail={"login_id": user.login_id, "sessions_ended": ended},
    )
    session.commit()
    return NewAccount(user.id, user.login_id, user.display_name, password)
