"""The password forms: 修改密码 in 个人中心 and 设置新密码 after a one-time
password. The fields are uncontrolled: what is typed goes to the server once, in
the submit event, and never into a state var."""

from __future__ import annotations

from typing import Any

import reflex as rx

from his_portal.components.error_callout import error_callout
from his_portal.services.auth.passwords import MIN_LENGTH

POLICY_HINT = f"至少{MIN_LENGTH}位；不能是常见密码，不能包含账号或姓名。"


def _field(label: str, name: str, id_prefix: str, auto_complete: str):
    field_id = f"{id_prefix}-{name}"
    return rx.vstack(
        rx.el.label(label, html_for=field_id, font_size="14px"),
        rx.input(
            id=field_id,
            name=name,
            type="password",
            auto_complete=auto_complete,
            required=True,
            max_length=128,
            size="3",
            width="100%",
        ),
        spacing="1",
        width="100%",
    )


def password_form(
    on_submit: Any,
    *,
    id_prefix: str,
    submit_label: str,
    with_current: bool,
    error: Any = None,
) -> rx.Component:
    """New password twice (and the current one when ``with_current``), the policy
    hint, an optional error callout and the submit button."""
    fields = [
        _field("当前密码", "current", id_prefix, "current-password")
        if with_current
        else None,
        _field("新密码", "new", id_prefix, "new-password"),
        _field("确认新密码", "confirm", id_prefix, "new-password"),
        rx.text(POLICY_HINT, size="2", color_scheme="gray"),
    ]
    if error is not None:
        fields.append(error_callout(error, width="100%"))
    # Disabled until the page is live: a click before would submit the passwords
    # natively, in the URL.
    fields.append(
        rx.button(
            submit_label,
            type="submit",
            color_scheme="green",
            disabled=~rx.State.is_hydrated,
        )
    )
    return rx.form(
        rx.vstack(*(f for f in fields if f is not None), spacing="3", width="100%"),
        id=f"{id_prefix}-form",
        on_submit=on_submit,
        reset_on_submit=True,
        method="post",
        max_width="420px",
        width="100%",
    )
