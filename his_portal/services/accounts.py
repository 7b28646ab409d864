"""Creating accounts outside demo mode (the first administrator, and doctors and
managers until the HIS integration provides them)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from his_portal.errors import HisError
from his_portal.models import Clinic, Role, User
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import hash_password

__all__ = ["AccountError", "create_account"]

LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")
MIN_PASSWORD = 10


class AccountError(HisError):
    """The account cannot be created; ``message`` says why (Chinese)."""


def _check(login_id: str, display_name: str, role: str, password: str) -> None:
    if not LOGIN_RE.fullmatch(login_id):
        raise AccountError("账号应为3-64位字母、数字或 . _ @ -")
    if not display_name.strip() or len(display_name) > 50:
        raise AccountError("请填写姓名（不超过50字）")
    if role not in tuple(Role):
        raise AccountError("角色应为 doctor、manager 或 admin")
    classes = sum(
        bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^\w]")
    )
    if len(password) < MIN_PASSWORD or classes < 3:
        raise AccountError(
            f"密码至少{MIN_PASSWORD}位，并包含大写、小写、数字、符号中的三类"
        )


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
    """Create an account in ``clinic_name`` (the clinic is created if new; commits).

    Raises:
        AccountError: A malformed field, a weak password, or a taken login id.
    """
    _check(login_id, display_name, role, password)
    if session.exec(select(User).where(User.login_id == login_id)).first():
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
    session.add(user)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action="account.created",
        target=f"user:{user.id}",
        detail={"login_id": login_id, "role": role, "clinic": clinic.name},
    )
    session.commit()
    session.refresh(user)
    return user
