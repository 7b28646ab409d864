"""设置新密码: the step after logging in with a one-time password (a new account,
or an administrator's reset). Until it is done the session can do nothing else:
it resolves to nobody, and every guard sends it here."""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db, routes
from his_portal.components.password_form import password_form
from his_portal.errors import HisError
from his_portal.services import auth
from his_portal.services.auth import passwords
from his_portal.state import AuthState


def _set(token: str, form: dict, ip: str, agent: str) -> auth.CurrentUser:
    """Set the new password (blocking: run it in a thread)."""
    with db.session() as session:
        return passwords.set_new_password(
            session=session,
            token=token,
            new=str(form.get("new", "")),
            confirm=str(form.get("confirm", "")),
            ip=ip,
            user_agent=agent,
        )


class SetPasswordState(AuthState):
    error: str = ""

    @rx.event
    def on_load(self):
        """Only for a session that must set its password; others go home."""
        self.error = ""
        pending = self._pending_user()
        if pending is not None:
            self.user_name, self.user_login = pending.display_name, pending.login_id
            return None
        return AuthState.go_home

    @rx.event
    async def submit(self, form: dict):
        if self._pending_user() is None:
            return AuthState.go_home
        ip, agent = self._client()
        try:
            user = await asyncio.to_thread(_set, self.token, form, ip, agent)
        except HisError as exc:
            self.error = exc.message
            return None
        self.error = ""
        self._show(user)
        return [
            rx.toast.success("新密码已设置"),
            rx.redirect(routes.HOME_BY_ROLE[user.role]),
        ]


def set_password_page() -> rx.Component:
    return rx.el.main(
        rx.center(
            rx.card(
                rx.vstack(
                    rx.heading("设置新密码", size="6", as_="h1"),
                    rx.text(
                        SetPasswordState.user_name,
                        "（",
                        SetPasswordState.user_login,
                        "）：您正在使用一次性密码，请先设置自己的新密码。",
                    ),
                    password_form(
                        SetPasswordState.submit,
                        id_prefix="set-password",
                        submit_label="设置新密码并进入",
                        with_current=False,
                        error=SetPasswordState.error,
                    ),
                    rx.button(
                        "退出", variant="ghost", size="1", on_click=AuthState.logout
                    ),
                    spacing="4",
                    width="100%",
                ),
                width="440px",
                max_width="92vw",
                padding="32px",
                background="white",
            ),
            min_height="100vh",
            background="linear-gradient(160deg, #1f2d4d 0%, #2b4a7a 100%)",
        )
    )
