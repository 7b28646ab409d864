"""系统管理: accounts and their lockout state (unlock early), and 实名认证 reviews
requested through 其他方式认证."""

from __future__ import annotations

import reflex as rx

from his_portal import db, deps, routes
from his_portal.components.data_table import data_table
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services import auth
from his_portal.services.audit import Actor
from his_portal.services.identity import verification
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.template import template

COLUMNS = ("账号", "姓名", "角色", "分院", "状态", "操作")


REVIEW_COLUMNS = (
    "账号",
    "姓名",
    "证件类型",
    "证件号码",
    "联系手机",
    "提交时间",
    "操作",
)


class AdminState(AuthState):
    accounts: list[auth.AccountRow] = []
    reviews: list[dict[str, str]] = []

    @rx.event
    def decide(self, review_id: int, approve: bool):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        ip, agent = self._client()
        context = deps.issue_context(
            Actor(admin.id, admin.login_id, ip, agent), admin.clinic_name
        )
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
        zone = clinic_zone()
        with db.session() as session:
            self.accounts = auth.list_accounts(session=session, admin=admin, zone=zone)
            pending = verification.list_pending_reviews(session=session, admin=admin)
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


def _cells(row: rx.Var[auth.AccountRow]) -> list:
    locked = row.locked_until != ""
    return [
        row.login_id,
        row.display_name,
        rx.Var.create(routes.ROLE_LABELS).get(row.role, ""),
        row.clinic_name,
        rx.cond(
            locked,
            rx.badge(f"已锁定至 {row.locked_until}", color_scheme="red"),
            rx.cond(
                row.is_active,
                rx.badge("正常", color_scheme="green"),
                rx.badge("已停用", color_scheme="gray"),
            ),
        ),
        rx.cond(
            locked,
            rx.button(
                "解锁",
                size="1",
                variant="soft",
                aria_label=f"解锁账号 {row.login_id}",
                on_click=AdminState.unlock(row.login_id),
            ),
        ),
    ]


def _review_cells(row: rx.Var[dict[str, str]]) -> list:
    review_id = row["id"].to(int)
    return [
        row["login_id"],
        *(
            row[key]
            for key in ("name", "id_type", "id_number", "mobile", "submitted_at")
        ),
        rx.hstack(
            rx.button(
                "通过",
                size="1",
                color_scheme="green",
                aria_label="通过 " + row["login_id"] + " 的实名认证",
                on_click=AdminState.decide(review_id, True),
            ),
            rx.button(
                "驳回",
                size="1",
                variant="soft",
                color_scheme="red",
                aria_label="驳回 " + row["login_id"] + " 的实名认证",
                on_click=AdminState.decide(review_id, False),
            ),
        ),
    ]


@template("系统管理")
def admin_page() -> rx.Component:
    return rx.vstack(
        rx.heading("账号", size="3", as_="h3"),
        data_table("账号列表", COLUMNS, AdminState.accounts, _cells),
        rx.heading("实名认证人工审核", size="3", as_="h3", margin_top="16px"),
        rx.cond(
            AdminState.reviews.length() > 0,
            data_table(
                "待审核的实名认证", REVIEW_COLUMNS, AdminState.reviews, _review_cells
            ),
            rx.text("暂无待审核的申请", color_scheme="gray"),
        ),
        width="100%",
        spacing="3",
    )
