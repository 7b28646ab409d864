"""系统管理: accounts (create, disable / enable, reset password, unlock), the
integrity check, the 实名认证 reviews requested through 其他方式认证, and the way to
审计日志 (``admin_audit``). The state is in ``admin_state``, the account pieces in
``admin_accounts``, the integrity panel in ``admin_integrity``."""

from __future__ import annotations

import reflex as rx

from his_portal import routes
from his_portal.components.data_table import data_table
from his_portal.pages.admin_accounts import accounts_section
from his_portal.pages.admin_integrity import IntegrityState, integrity_panel
from his_portal.pages.admin_state import AdminState
from his_portal.template import template

__all__ = ["AdminState", "IntegrityState", "admin_page"]

REVIEW_COLUMNS = (
    "账号",
    "姓名",
    "证件类型",
    "证件号码",
    "联系手机",
    "提交时间",
    "操作",
)


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
        rx.hstack(
            rx.link(
                rx.hstack(rx.icon("scroll-text", size=16), "审计日志", align="center"),
                href=routes.AUDIT,
            ),
            spacing="4",
        ),
        integrity_panel(),
        accounts_section(),
        rx.heading("实名认证人工审核", size="3", as_="h3", margin_top="16px"),
        rx.cond(
            AdminState.reviews.length() > 0,
            data_table(
                "待审核的实名认证", REVIEW_COLUMNS, AdminState.reviews, _review_cells
            ),
            rx.text("暂无待审核的申请", color_scheme="gray"),
        ),
        width="100%",
        spacing="4",
    )
