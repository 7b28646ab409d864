"""个人中心: the account of the logged-in user."""

from __future__ import annotations

import reflex as rx

from his_portal.state import AuthState
from his_portal.template import template


def _item(label: str, value) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))


@template("个人中心")
def profile_page() -> rx.Component:
    return rx.data_list.root(
        _item("姓名", AuthState.user_name),
        _item("账号", AuthState.user_login),
        _item("角色", AuthState.role_label),
        _item("分院", AuthState.clinic_name),
    )
