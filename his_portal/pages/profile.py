"""个人中心: 个人信息 · 实名认证 · 数字证书 · 签名状态通知 · 个性设置 (doctors);
account details for the other roles."""

from __future__ import annotations

import reflex as rx

from his_portal.components.profile_tabs import (
    account_details,
    certificate_tab,
    info_tab,
    verification_tab,
)
from his_portal.components.seal_editor import seal_settings_tab
from his_portal.models import Role
from his_portal.state import AuthState
from his_portal.states.profile import ProfileState
from his_portal.template import template

__all__ = ["ProfileState", "profile_page"]


def _later(text: str) -> rx.Component:
    return rx.text(text, color_scheme="gray")


@template("个人中心")
def profile_page() -> rx.Component:
    tabs = rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("个人信息", value="info"),
            rx.tabs.trigger("实名认证", value="verify"),
            rx.tabs.trigger("数字证书", value="cert"),
            rx.tabs.trigger("签名状态通知", value="notify"),
            rx.tabs.trigger("个性设置", value="settings"),
        ),
        rx.tabs.content(info_tab(), value="info", padding_top="20px"),
        rx.tabs.content(verification_tab(), value="verify", padding_top="20px"),
        rx.tabs.content(certificate_tab(), value="cert", padding_top="20px"),
        rx.tabs.content(
            _later("签名状态通知（待签病历提醒、超期提醒）尚未开通。"),
            value="notify",
            padding_top="20px",
        ),
        rx.tabs.content(seal_settings_tab(), value="settings", padding_top="20px"),
        default_value="info",
    )
    return rx.cond(AuthState.user_role == Role.DOCTOR, tabs, account_details())
