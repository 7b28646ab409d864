"""个人中心: 个人信息 · 实名认证 · 数字证书 · 签名状态通知 · 个性设置 · 修改密码
(doctors); 账号信息 · 签名状态通知 · 修改密码 for the other roles. ``?tab=`` opens
a tab (the header's 通知 link opens 签名状态通知)."""

from __future__ import annotations

import reflex as rx

from his_portal.components.notifications_panel import notifications_panel
from his_portal.components.password_form import password_form
from his_portal.components.profile_tabs import (
    account_details,
    certificate_tab,
    info_tab,
    verification_tab,
)
from his_portal.components.seal_editor import seal_settings_tab
from his_portal.models import Role
from his_portal.state import AuthState
from his_portal.states.password import ChangePasswordState
from his_portal.states.profile import ProfileState
from his_portal.template import template

__all__ = ["ProfileState", "ProfileTabState", "profile_page"]


def _tab_name(value) -> bool:
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isalpha()
        and len(value) <= 16
    )


class ProfileTabState(AuthState):
    """Which tab is open ("": the role's first); a UI choice that carries no data."""

    tab: str = ""

    @rx.event
    def open_from_url(self):
        wanted = self.router.url.query_parameters.get("tab", "")
        self.tab = wanted if _tab_name(wanted) else ""

    @rx.event
    def set_tab(self, value: str):
        if _tab_name(value):
            self.tab = value


def _tabs(default: str, *tabs: tuple[str, str, rx.Component]) -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(*(rx.tabs.trigger(label, value=key) for key, label, _ in tabs)),
        *(
            rx.tabs.content(body, value=key, padding_top="20px")
            for key, _, body in tabs
        ),
        value=rx.cond(ProfileTabState.tab != "", ProfileTabState.tab, default),
        on_change=ProfileTabState.set_tab,
    )


def _password_tab() -> rx.Component:
    return password_form(
        ChangePasswordState.submit,
        id_prefix="change-password",
        submit_label="修改密码",
        with_current=True,
    )


@template("个人中心")
def profile_page() -> rx.Component:
    doctor = _tabs(
        "info",
        ("info", "个人信息", info_tab()),
        ("verify", "实名认证", verification_tab()),
        ("cert", "数字证书", certificate_tab()),
        ("notify", "签名状态通知", notifications_panel()),
        ("settings", "个性设置", seal_settings_tab()),
        ("password", "修改密码", _password_tab()),
    )
    others = _tabs(
        "account",
        ("account", "账号信息", account_details()),
        ("notify", "签名状态通知", notifications_panel()),
        ("password", "修改密码", _password_tab()),
    )
    return rx.cond(AuthState.user_role == Role.DOCTOR, doctor, others)
