"""登录: account and password, server-side session, lockout after repeated failures.

The password check (argon2, about 0.1 s of CPU) runs in a worker thread: on the event
loop it would stall every other user of this worker meanwhile.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db, routes
from his_portal.components.error_callout import error_callout
from his_portal.errors import HisError
from his_portal.services import auth
from his_portal.settings import get_settings
from his_portal.state import AuthState


def _log_in(
    login_id: str, password: str, ip: str, user_agent: str
) -> tuple[str, auth.CurrentUser]:
    """Check the password and open a session (blocking: run it in a thread)."""
    with db.session() as session:
        return auth.authenticate(
            session=session,
            login_id=login_id,
            password=password,
            session_hours=get_settings().session_hours,
            ip=ip,
            user_agent=user_agent,
        )


class LoginState(AuthState):
    error: str = ""

    @rx.event
    def on_load(self):
        """Already logged in: go straight to the home page."""
        self.error = ""
        user = self._current_user()
        if user is not None:
            return rx.redirect(routes.HOME_BY_ROLE[user.role])
        return None

    @rx.event
    async def submit(self, form: dict):
        ip, agent = self._client()
        try:
            token, user = await asyncio.to_thread(
                _log_in,
                str(form.get("login_id", "")),
                str(form.get("password", "")),
                ip,
                agent,
            )
        except HisError as exc:
            self.error = exc.message
            return None
        self.error = ""
        self.token = token
        if user.must_change_password:
            return rx.redirect(routes.SET_PASSWORD)
        self._show(user)
        return rx.redirect(routes.HOME_BY_ROLE[user.role])


def _field(label: str, name: str, **props) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"login-{name}", font_size="14px"),
        rx.input(id=f"login-{name}", name=name, size="3", width="100%", **props),
        spacing="1",
        width="100%",
    )


def login_page() -> rx.Component:
    return rx.el.main(login_card())


def login_card() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.hstack(
                        rx.image(src="/logo.svg", alt="", width="48px", height="48px"),
                        rx.vstack(
                            rx.heading("牙医云 HIS", size="6", as_="h1"),
                            rx.text(AuthState.clinic_name, color_scheme="gray"),
                            spacing="0",
                        ),
                        align="center",
                    ),
                    rx.text("电子病历签名系统登录", size="3", weight="medium"),
                    _field(
                        "账号",
                        "login_id",
                        placeholder="如 sh-feihuan@8112",
                        auto_complete="username",
                        required=True,
                    ),
                    _field(
                        "密码",
                        "password",
                        type="password",
                        auto_complete="current-password",
                        required=True,
                    ),
                    error_callout(LoginState.error, width="100%"),
                    rx.button(
                        "登录",
                        type="submit",
                        size="3",
                        width="100%",
                        color_scheme="green",
                        # Until the page is live a click would submit the form
                        # natively: a GET with the password in the URL.
                        disabled=~rx.State.is_hydrated,
                    ),
                    rx.link(
                        "验证病历签名（无需登录）",
                        href=routes.VERIFY,
                        size="2",
                        align="center",
                        width="100%",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=LoginState.submit,
                reset_on_submit=False,
                method="post",
            ),
            width="380px",
            background="white",
            max_width="92vw",
            padding="32px",
        ),
        min_height="100vh",
        background="linear-gradient(160deg, #1f2d4d 0%, #2b4a7a 100%)",
    )
