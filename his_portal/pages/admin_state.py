"""系统管理's state: the account list (filters, pages), creating, disabling,
enabling, resetting and unlocking accounts, and the 实名认证 reviews.

A one-time password (new account, reset) never enters a state var: the handler
returns it in a one-shot client event (``ONE_TIME.push``) that the browser keeps
in a React state for the dialog, cleared when the dialog closes. The state store
(memory or Redis) never holds it, and a reload does not show it again.
"""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.experimental.client_state import ClientStateVar

from his_portal import db, deps
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services import accounts, auth
from his_portal.services.audit import Actor
from his_portal.services.auth.admin import STATUSES
from his_portal.services.identity import verification
from his_portal.settings import clinic_zone
from his_portal.state import AuthState

ALL = "all"
_NO_GRANT = {"title": "", "login_id": "", "name": "", "password": ""}
#: The one-time password dialog's content, in the browser only.
ONE_TIME = ClientStateVar.create("his_one_time", default=_NO_GRANT)


def _grant(title: str, new: accounts.NewAccount):
    return ONE_TIME.push(
        {
            "title": title,
            "login_id": new.login_id,
            "name": new.display_name,
            "password": new.one_time_password,
        }
    )


def _field(form: dict, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _create(admin: auth.CurrentUser, actor: Actor, form: dict) -> accounts.NewAccount:
    """Create the account (argon2: run it in a thread)."""
    with db.session() as session:
        return accounts.create_user(
            session=session,
            admin=admin,
            login_id=_field(form, "login_id"),
            display_name=_field(form, "display_name"),
            role=_field(form, "role"),
            clinic_id=_int(_field(form, "clinic_id")) or 0,
            chain_wide=bool(form.get("chain_wide")),
            actor=actor,
        )


def _reset(admin: auth.CurrentUser, actor: Actor, user_id: int):
    """Reset the password (argon2: run it in a thread)."""
    with db.session() as session:
        return accounts.reset_password(
            session=session, admin=admin, user_id=user_id, actor=actor
        )


class AdminState(AuthState):
    accounts: list[auth.AccountRow] = []
    account_total: int = 0
    account_page: int = 1
    account_pages: int = 1
    filter_text: str = ""
    filter_role: str = ALL
    filter_clinic: str = ALL
    filter_status: str = ALL
    clinics: list[accounts.ClinicOption] = []
    create_open: bool = False
    reviews: list[dict[str, str]] = []

    @rx.event
    def on_load(self):
        return self._load()

    @rx.event
    def apply_filters(self, form: dict):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        self.filter_text = _field(form, "text")[:64]
        self.filter_role = _field(form, "role") or ALL
        self.filter_clinic = _field(form, "clinic") or ALL
        self.filter_status = _field(form, "status") or ALL
        self.account_page = 1
        return self._load()

    @rx.event
    def clear_filters(self):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        self.filter_text, self.account_page = "", 1
        self.filter_role = self.filter_clinic = self.filter_status = ALL
        return self._load()

    @rx.event
    def turn_page(self, step: int):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        if step in (-1, 1):
            self.account_page = max(1, self.account_page + step)
        return self._load()

    @rx.event
    def set_create_open(self, open_: bool):
        self.create_open = bool(open_) and self._require(Role.ADMIN) is not None

    @rx.event
    async def create(self, form: dict):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        try:
            new = await asyncio.to_thread(_create, admin, self._actor(admin), form)
        except HisError as exc:
            return rx.toast.error(exc.message)
        self.create_open = False
        self._load()
        return _grant("账号已创建", new)

    @rx.event
    def set_active(self, user_id: int, active: bool):
        admin, refusal = self._admin_for(user_id)
        if admin is None:
            return refusal
        try:
            with db.session() as session:
                user = accounts.set_active(
                    session=session,
                    admin=admin,
                    user_id=user_id,
                    active=bool(active),
                    actor=self._actor(admin),
                )
                login_id = user.login_id
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._load()
        return rx.toast.success(f"已{'启用' if active else '停用'}账号 {login_id}")

    @rx.event
    async def reset_password(self, user_id: int):
        admin, refusal = self._admin_for(user_id)
        if admin is None:
            return refusal
        try:
            new = await asyncio.to_thread(_reset, admin, self._actor(admin), user_id)
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._load()
        return _grant("密码已重置", new)

    @rx.event
    def unlock(self, login_id: str):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        with db.session() as session:
            auth.unlock_account(session=session, admin=admin, login_id=str(login_id))
        self._load()
        return rx.toast.success(f"已解锁账号 {login_id}")

    @rx.event
    def decide(self, review_id: int, approve: bool):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        context = deps.issue_context(self._actor(admin), admin.clinic_name)
        try:
            with db.session() as session:
                verification.approve_review(
                    session=session,
                    admin=admin,
                    review_id=review_id,
                    approve=approve,
                    context=context,
                )
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._load()
        return rx.toast.success("已通过实名认证，证书已签发" if approve else "已驳回")

    def _admin_for(self, user_id):
        """The administrator acting on account ``user_id``, or (None, the answer
        that refuses: the login guard, or 无效的账号)."""
        admin = self._require(Role.ADMIN)
        if admin is None:
            return None, AuthState.guard
        if not _is_id(user_id):
            return None, rx.toast.error("无效的账号")
        return admin, None

    def _filters(self) -> auth.AccountFilter:
        return auth.AccountFilter(
            text=self.filter_text,
            role=self.filter_role if self.filter_role in tuple(Role) else "",
            clinic_id=_int(self.filter_clinic),
            status=self.filter_status if self.filter_status in STATUSES else "",
        )

    def _load(self):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        zone = clinic_zone()
        with db.session() as session:
            page = auth.search_accounts(
                session=session,
                admin=admin,
                zone=zone,
                filters=self._filters(),
                page=self.account_page,
            )
            self.clinics = accounts.list_clinics(session=session, admin=admin)
            pending = verification.list_pending_reviews(session=session, admin=admin)
        self.accounts, self.account_total = page.rows, page.total
        self.account_page, self.account_pages = page.page, page.pages
        self.reviews = [
            {
                "id": str(r.id),
                "login_id": r.login_id,
                "name": r.name,
                "id_type": r.id_type,
                "id_number": r.id_number_masked,
                "mobile": r.mobile_masked,
                "submitted_at": r.submitted_at.astimezone(zone).strftime(
                    "%Y-%m-%d %H:%M"
                ),
            }
            for r in pending
        ]
        return None
