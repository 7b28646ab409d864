"""系统管理: accounts and their lockout state; an administrator can unlock early."""

from __future__ import annotations

import reflex as rx

from his_portal import db
from his_portal.models import Role
from his_portal.services import auth
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.template import template

COLUMNS = ("账号", "姓名", "角色", "分院", "状态", "操作")
ROLE_LABELS = {"doctor": "医生", "manager": "门诊管理者", "admin": "系统管理员"}


class AdminState(AuthState):
    accounts: list[auth.AccountRow] = []

    @rx.event
    def on_load(self):
        return self._load()

    @rx.event
    def unlock(self, login_id: str):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        with db.session() as session:
            auth.unlock_account(session=session, admin=admin, login_id=login_id)
        self._load()
        return rx.toast.success(f"已解锁账号 {login_id}")

    def _load(self):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        with db.session() as session:
            self.accounts = auth.list_accounts(
                session=session, admin=admin, zone=clinic_zone()
            )
        return None


def _row(row: rx.Var[auth.AccountRow]) -> rx.Component:
    locked = row.locked_until != ""
    return rx.table.row(
        rx.table.row_header_cell(row.login_id),
        rx.table.cell(row.display_name),
        rx.table.cell(rx.Var.create(ROLE_LABELS).get(row.role, "")),
        rx.table.cell(row.clinic_name),
        rx.table.cell(
            rx.cond(
                locked,
                rx.badge(f"已锁定至 {row.locked_until}", color_scheme="red"),
                rx.cond(
                    row.is_active,
                    rx.badge("正常", color_scheme="green"),
                    rx.badge("已停用", color_scheme="gray"),
                ),
            )
        ),
        rx.table.cell(
            rx.cond(
                locked,
                rx.button(
                    "解锁",
                    size="1",
                    variant="soft",
                    aria_label=f"解锁账号 {row.login_id}",
                    on_click=AdminState.unlock(row.login_id),
                ),
            )
        ),
    )


@template("系统管理 · 账号")
def admin_page() -> rx.Component:
    return rx.table.root(
        rx.el.caption("账号列表", class_name="sr-only"),
        rx.table.header(
            rx.table.row(
                *(rx.table.column_header_cell(c, scope="col") for c in COLUMNS)
            )
        ),
        rx.table.body(rx.foreach(AdminState.accounts, _row)),
        variant="surface",
        width="100%",
    )
