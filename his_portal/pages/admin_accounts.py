"""系统管理 → 账号: the filter bar, the paged account table with its actions, the
新建账号 dialog and the dialog that shows a one-time password once."""

from __future__ import annotations

import reflex as rx

from his_portal import routes
from his_portal.components.data_table import data_table
from his_portal.pages.admin_state import _NO_GRANT, ALL, ONE_TIME, AdminState
from his_portal.services import auth

COLUMNS = ("账号", "姓名", "角色", "分院", "状态", "操作")
ROLE_OPTIONS = ((ALL, "全部角色"), *routes.ROLE_LABELS.items())
STATUS_OPTIONS = (
    (ALL, "全部状态"),
    ("active", "正常"),
    ("disabled", "已停用"),
    ("must_change", "待设置新密码"),
)


def _select(name: str, label: str, options, value, **props) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(aria_label=label, **props),
        rx.select.content(
            *(rx.select.item(text, value=key) for key, text in options),
        ),
        name=name,
        default_value=value,
    )


def _clinic_select(name: str, label: str, value, with_all: bool) -> rx.Component:
    items = rx.foreach(
        AdminState.clinics,
        lambda clinic: rx.select.item(clinic.name, value=clinic.id.to_string()),
    )
    return rx.select.root(
        rx.select.trigger(aria_label=label, placeholder="选择分院"),
        rx.select.content(
            rx.select.item("全部分院", value=ALL) if with_all else rx.fragment(),
            items,
        ),
        name=name,
        default_value=value,
        required=not with_all,
    )


def filter_bar() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.label(
                "搜索账号", html_for="account-filter-text", class_name="sr-only"
            ),
            rx.input(
                id="account-filter-text",
                name="text",
                placeholder="账号或姓名",
                default_value=AdminState.filter_text,
                max_length=64,
                width="200px",
            ),
            _select("role", "角色", ROLE_OPTIONS, AdminState.filter_role),
            _clinic_select("clinic", "分院", AdminState.filter_clinic, True),
            _select("status", "状态", STATUS_OPTIONS, AdminState.filter_status),
            rx.button("查询", type="submit"),
            rx.button(
                "清除", type="button", variant="soft", on_click=AdminState.clear_filters
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        on_submit=AdminState.apply_filters,
        reset_on_submit=False,
    )


def _status(row: rx.Var[auth.AccountRow]) -> rx.Component:
    return rx.cond(
        row.locked_until != "",
        rx.badge(f"已锁定至 {row.locked_until}", color_scheme="red"),
        rx.cond(
            ~row.is_active,
            rx.badge("已停用", color_scheme="gray"),
            rx.cond(
                row.must_change_password,
                rx.badge("待设置新密码", color_scheme="amber"),
                rx.badge("正常", color_scheme="green"),
            ),
        ),
    )


def _confirm(
    label: str, title: str, text, action, login: rx.Var, color: str = "red"
) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                label,
                size="1",
                variant="soft",
                color_scheme=color,
                aria_label=label + "账号 " + login,
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(text),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("取消", variant="soft")),
                rx.alert_dialog.action(
                    rx.button(label, color_scheme=color, on_click=action)
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def _actions(row: rx.Var[auth.AccountRow]) -> rx.Component:
    login = row.login_id
    mine = row.login_id == AdminState.user_login
    return rx.hstack(
        rx.cond(
            row.locked_until != "",
            rx.button(
                "解锁",
                size="1",
                variant="soft",
                aria_label="解锁账号 " + login,
                on_click=AdminState.unlock(login),
            ),
        ),
        rx.cond(
            mine,
            rx.text("（当前账号）", size="1", color_scheme="gray"),
            rx.hstack(
                _confirm(
                    "重置密码",
                    "重置密码",
                    "将为 " + login + " 生成一次性密码，其所有登录立即失效。",
                    AdminState.reset_password(row.id),
                    login,
                    color="amber",
                ),
                rx.cond(
                    row.is_active,
                    _confirm(
                        "停用",
                        "停用账号",
                        "停用后 " + login + " 无法登录，已打开的页面立即退出。",
                        AdminState.set_active(row.id, False),
                        login,
                    ),
                    rx.button(
                        "启用",
                        size="1",
                        variant="soft",
                        color_scheme="green",
                        aria_label="启用账号 " + login,
                        on_click=AdminState.set_active(row.id, True),
                    ),
                ),
                spacing="2",
            ),
        ),
        spacing="2",
    )


def _cells(row: rx.Var[auth.AccountRow]) -> list:
    return [
        row.login_id,
        row.display_name,
        rx.Var.create(routes.ROLE_LABELS).get(row.role, ""),
        rx.cond(row.chain_wide, "全部分院", row.clinic_name),
        _status(row),
        _actions(row),
    ]


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(
            "共 ",
            AdminState.account_total,
            " 个账号，第 ",
            AdminState.account_page,
            " / ",
            AdminState.account_pages,
            " 页",
            size="2",
        ),
        rx.button(
            "上一页",
            size="1",
            variant="soft",
            disabled=AdminState.account_page <= 1,
            on_click=AdminState.turn_page(-1),
        ),
        rx.button(
            "下一页",
            size="1",
            variant="soft",
            disabled=AdminState.account_page >= AdminState.account_pages,
            on_click=AdminState.turn_page(1),
        ),
        align="center",
        spacing="3",
    )


def _labelled(label: str, control: rx.Component, html_for: str = "") -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=html_for, font_size="14px"),
        control,
        spacing="1",
        width="100%",
    )


def create_dialog() -> rx.Component:
    form = rx.form(
        rx.vstack(
            _labelled(
                "账号",
                rx.input(
                    id="new-login_id",
                    name="login_id",
                    placeholder="如 sh-linxin@8112",
                    required=True,
                    max_length=64,
                    width="100%",
                ),
                "new-login_id",
            ),
            _labelled(
                "姓名",
                rx.input(
                    id="new-display_name",
                    name="display_name",
                    required=True,
                    max_length=50,
                    width="100%",
                ),
                "new-display_name",
            ),
            _labelled(
                "角色",
                _select(
                    "role",
                    "角色",
                    (("doctor", "医生"), ("manager", "门诊管理者")),
                    "doctor",
                ),
            ),
            _labelled("分院", _clinic_select("clinic_id", "分院", None, False)),
            rx.el.label(
                rx.hstack(
                    rx.checkbox(name="chain_wide"),
                    rx.text("全部分院（仅门诊管理者：查看连锁所有分院）", size="2"),
                    spacing="2",
                    align="center",
                ),
            ),
            rx.text(
                "创建后显示一次性密码；本人首次登录时须设置新密码。",
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.dialog.close(rx.button("取消", type="button", variant="soft")),
                rx.button("创建", type="submit", color_scheme="green"),
                justify="end",
                spacing="3",
                width="100%",
            ),
            spacing="3",
        ),
        on_submit=AdminState.create,
        reset_on_submit=False,
    )
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("user-plus", size=16), "新建账号")),
        rx.dialog.content(rx.dialog.title("新建账号"), form, max_width="440px"),
        open=AdminState.create_open,
        on_open_change=AdminState.set_create_open,
    )


def one_time_dialog() -> rx.Component:
    grant = ONE_TIME.value
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(grant["title"]),
            rx.dialog.description(
                rx.text(
                    "账号 ", grant["login_id"], "（", grant["name"], "）的一次性密码："
                )
            ),
            rx.code(
                grant["password"],
                id="one-time-password",
                size="6",
                variant="outline",
                margin_y="12px",
            ),
            rx.text(
                "只显示这一次，关闭后无法再查看。请当面或通过安全渠道交给本人；"
                "本人用它登录后须立即设置新密码。",
                size="2",
            ),
            rx.hstack(
                rx.dialog.close(
                    rx.button("我已记下，关闭", on_click=ONE_TIME.set_value(_NO_GRANT))
                ),
                justify="end",
                margin_top="16px",
            ),
            max_width="460px",
        ),
        open=grant["password"] != "",
        on_open_change=ONE_TIME.set_value(_NO_GRANT),
    )


def accounts_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("账号", size="3", as_="h3"),
            rx.spacer(),
            create_dialog(),
            width="100%",
            align="center",
        ),
        filter_bar(),
        data_table("账号列表", COLUMNS, AdminState.accounts, _cells),
        _pager(),
        one_time_dialog(),
        width="100%",
        spacing="3",
    )
