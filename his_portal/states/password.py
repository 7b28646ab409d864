"""修改密码 in 个人中心, for every role (the form lives in
``components/password_form``). argon2 runs in a worker thread."""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db
from his_portal.errors import HisError
from his_portal.services.auth import passwords
from his_portal.state import AuthState


def _change(token: str, form: dict, ip: str, agent: str) -> int:
    """Check and replace the password (blocking: run it in a thread)."""
    with db.session() as session:
        return passwords.change_password(
            session=session,
            token=token,
            current=str(form.get("current", "")),
            new=str(form.get("new", "")),
            confirm=str(form.get("confirm", "")),
            ip=ip,
            user_agent=agent,
        )


class ChangePasswordState(AuthState):
    @rx.event
    async def submit(self, form: dict):
        if self._require() is None:
            return AuthState.guard
        ip, agent = self._client()
        try:
            ended = await asyncio.to_thread(_change, self.token, form, ip, agent)
        except HisError as exc:
            return rx.toast.error(exc.message)
        others = f"，其他 {ended} 处登录已退出" if ended else ""
        return rx.toast.success("密码已修改" + others)
