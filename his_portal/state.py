"""AuthState: who is logged in, the page guard, and the check every handler makes.

The browser keeps only a random session token (local storage); each guard and each
data handler resolves it against the server-side session table, so a revoked or expired
session stops working at once, on every worker.
"""

from __future__ import annotations

import reflex as rx

from his_portal import db, routes
from his_portal.models import Role
from his_portal.services import auth
from his_portal.services.audit import Actor
from his_portal.settings import get_settings


class AuthState(rx.State):
    """Base of every page state that needs a logged-in user."""

    token: str = rx.LocalStorage("", name="his_session")
    user_name: str = ""
    user_login: str = ""
    user_role: str = ""
    clinic_name: str = get_settings().clinic_name

    def _client(self) -> tuple[str, str]:
        return self.router.session.client_ip, self.router.headers.user_agent

    def _actor(self, user: auth.CurrentUser) -> Actor:
        """``user`` acting from this browser, for the audit log."""
        ip, agent = self._client()
        return Actor(user.id, user.login_id, ip, agent)

    def _current_user(self) -> auth.CurrentUser | None:
        with db.session() as session:
            return auth.resolve_session(session=session, token=self.token)

    def _pending_user(self) -> auth.CurrentUser | None:
        """The user of a session that must set a new password before anything else
        (every other handler refuses it: it resolves to nobody)."""
        with db.session() as session:
            return auth.pending_password_change(session=session, token=self.token)

    def _require(self, *roles: Role) -> auth.CurrentUser | None:
        """The current user if logged in with one of ``roles`` (any role if none)."""
        user = self._current_user()
        if user is None or (roles and user.role not in roles):
            return None
        return user

    def _show(self, user: auth.CurrentUser) -> None:
        self.user_name = user.display_name
        self.user_login = user.login_id
        self.user_role = user.role
        self.clinic_name = user.clinic_name or get_settings().clinic_name

    def _clear(self) -> None:
        self.token = ""
        self.user_name = self.user_login = self.user_role = ""

    @rx.var
    def role_label(self) -> str:
        return routes.ROLE_LABELS.get(self.user_role, "")

    @rx.event
    def guard(self):
        """on_load of every protected page: log in first, and only the page's roles."""
        user = self._current_user()
        if user is None:
            if self._pending_user() is not None:
                return rx.redirect(routes.SET_PASSWORD)
            self._clear()
            return rx.redirect(routes.LOGIN)
        self._show(user)
        path = self.router.url.path.rstrip("/") or routes.INDEX
        allowed = routes.PAGE_ROLES.get(path, frozenset())
        if user.role not in allowed:
            return rx.redirect(routes.HOME_BY_ROLE[user.role])
        return None

    @rx.event
    def go_home(self):
        """``/``: the user's home page, or the login page."""
        user = self._current_user()
        if user is None:
            pending = self._pending_user() is not None
            return rx.redirect(routes.SET_PASSWORD if pending else routes.LOGIN)
        return rx.redirect(routes.HOME_BY_ROLE[user.role])

    @rx.event
    def check_alive(self):
        """The shell's periodic check: a session ended elsewhere (account disabled,
        password reset or changed, logged out) logs this page out. It writes
        nothing, so an open page does not count as activity."""
        if not self.token:
            return None
        with db.session() as session:
            alive = auth.live_session(session=session, token=self.token) is not None
        if alive:
            return None
        self._clear()
        return rx.redirect(routes.LOGIN)

    @rx.event
    def logout(self):
        ip, agent = self._client()
        if self.token:
            with db.session() as session:
                auth.logout(session=session, token=self.token, ip=ip, user_agent=agent)
        self._clear()
        return rx.redirect(routes.LOGIN)
