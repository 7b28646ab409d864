"""签名状态通知 state: the header's unread badge (kept current while the tab is
connected) and the 个人中心 list with 标为已读 / 全部标为已读, for every role.

The badge polls every :data:`POLL_SECONDS` in a background event that sleeps
outside the state lock, asks the database off the event loop through a lookup that
writes nothing (so an open tab does not keep an idle login session alive), and
ends when the client disconnects, the login ends, or a newer poll of the same tab
replaced it (a remount, or a client calling the handler again).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from reflex.utils import prerequisites

from his_portal import db, routes
from his_portal.errors import HisError
from his_portal.services import notifications as notices
from his_portal.services.notifications.inbox import Notice
from his_portal.settings import clinic_zone
from his_portal.state import AuthState

__all__ = ["NOTIFY_TAB", "POLL_SECONDS", "NoticeView", "NotificationState"]

POLL_SECONDS = 15
PAGE_SIZE = 10
#: The 个人中心 tab value of 签名状态通知 (``/me?tab=notify`` opens it).
NOTIFY_TAB = "notify"


#: Where each kind leads (label, href); 催签 and batch results about one record lead
#: to that record instead.
LINKS = {
    notices.Kind.OVERDUE: ("去签署", routes.WORKBENCH),
    notices.Kind.REMIND: ("去签署", routes.WORKBENCH),
    notices.Kind.BATCH: ("去签署", routes.WORKBENCH),
    notices.Kind.CERT_EXPIRING: ("查看证书", f"{routes.PROFILE}?tab=cert"),
    notices.Kind.VERIFICATION_REVOKED: ("实名认证", f"{routes.PROFILE}?tab=verify"),
    notices.Kind.SEAL_CHANGED: ("个性设置", f"{routes.PROFILE}?tab=settings"),
    notices.Kind.INTEGRITY: ("系统管理", routes.ADMIN),
}
ABOUT_RECORD = (notices.Kind.REMIND, notices.Kind.BATCH)


@dataclass(frozen=True)
class NoticeView(Notice):
    """One notification as the list shows it, with where it leads (no 病历号: only
    the link names the record)."""

    sender_name: str
    link_label: str
    link: str


def _view(row: notices.NotificationRow) -> NoticeView:
    label, link = LINKS.get(row.kind, ("", ""))
    if row.kind in ABOUT_RECORD and row.record_no:
        label, link = "查看病历", routes.search_url(row.record_no)
    return NoticeView(
        row.id,
        row.kind,
        row.kind_label,
        row.title,
        row.body,
        row.created_at,
        row.unread,
        row.sender_name,
        label,
        link,
    )


def _unread_for(token: str) -> int | None:
    with db.session() as session:
        return notices.unread_for_token(session, token=token)


async def _connected(client_token: str) -> bool:
    """Whether the tab behind ``client_token`` still has a socket on any worker."""
    namespace = prerequisites.get_and_validate_app().app.event_namespace
    if namespace is None:
        return False
    return await namespace._token_manager.is_token_connected(client_token)


class NotificationState(AuthState):
    unread: int = 0
    rows: list[NoticeView] = []
    page: int = 1
    pages: int = 1
    total: int = 0
    _watch: int = 0  # the generation of this tab's current badge poll

    @rx.var
    def badge_label(self) -> str:
        """The badge's accessible name, count included."""
        return f"通知（{self.unread}条未读）" if self.unread else "通知（无未读）"

    def _load(self, user, page: int) -> None:
        with db.session() as session:
            shown = notices.list_for(
                session, user=user, page=page, page_size=PAGE_SIZE, zone=clinic_zone()
            )
        self.rows = [_view(row) for row in shown.rows]
        self.total, self.unread = shown.total, shown.unread
        self.page, self.pages = shown.page, shown.pages

    @rx.event
    def on_load(self):
        """个人中心: the first page of the user's own notifications."""
        user = self._require()
        if user is None:
            return AuthState.guard
        self._load(user, 1)
        return None

    @rx.event
    def go_page(self, page: int):
        user = self._require()
        if user is None:
            return AuthState.guard
        try:
            self._load(user, page)
        except HisError as exc:
            return rx.toast.error(exc.message)
        return None

    @rx.event
    def mark_read(self, notification_id: int):
        """标为已读: one of the user's own notifications."""
        user = self._require()
        if user is None:
            return AuthState.guard
        try:
            with db.session() as session:
                notices.mark_read(
                    session,
                    user=user,
                    notification_id=notification_id,
                    actor=self._actor(user),
                )
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._load(user, self.page)
        return None

    @rx.event
    def mark_all_read(self):
        """全部标为已读."""
        user = self._require()
        if user is None:
            return AuthState.guard
        with db.session() as session:
            marked = notices.mark_all_read(session, user=user, actor=self._actor(user))
        self._load(user, self.page)
        return rx.toast.success(f"已将{marked}条通知标为已读")

    @rx.event
    def start_badge(self):
        """on_mount of the header badge: the count now, then the live poll."""
        user = self._require()
        self.unread = 0
        if user is None:
            return None
        with db.session() as session:
            self.unread = notices.unread_count(session, user=user)
        return NotificationState.watch_badge

    @rx.event(background=True)
    async def watch_badge(self):
        """Refresh the unread count every ``POLL_SECONDS`` while the tab is open."""
        async with self:
            self._watch += 1
            generation, token = self._watch, self.token
            client = self.router.session.client_token
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not await _connected(client):
                return
            count = await asyncio.to_thread(_unread_for, token)
            async with self:
                if self._watch != generation or self.token != token:
                    return
                self.unread = count or 0
                if count is None:
                    return
