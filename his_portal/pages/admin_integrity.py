"""系统管理 → 完整性检查: the latest report (time, checked, failed, audit chain),
refreshed by itself while a run is under way, and 立即检查, which runs the check
in a background event: the work (every signed PDF, the whole audit log) runs in a
worker thread, off the event loop and outside the state lock; a second start is
refused while one runs (here, and across workers by the service)."""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db
from his_portal.components.session_watch import session_watch
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services import auth, integrity
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState


def _run(admin: auth.CurrentUser) -> integrity.IntegrityResult:
    """The whole check (blocking: run it in a thread)."""
    settings = get_settings()
    with db.session() as session:
        return integrity.run_for(
            session=session,
            admin=admin,
            data_dir=settings.data_dir,
            zone=clinic_zone(),
            system_trust=bool(settings.tsa_url),
        )


class IntegrityState(AuthState):
    has_report: bool = False
    finished_at: str = ""
    checked: int = 0
    failed: int = 0
    audit_ok: bool = False
    audit_message: str = ""
    ms_per_document: str = ""
    failures: list[str] = []
    levels: list[str] = []
    below_lta: list[str] = []
    running: bool = False

    @rx.event
    def on_load(self):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        self._show_report(admin)
        return None

    @rx.event
    def refresh(self):
        """While a run is under way (this page's or another's), every few seconds."""
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        self._show_report(admin)
        return None

    @rx.event(background=True)
    async def check_now(self):
        admin = await asyncio.to_thread(self._require, Role.ADMIN)
        if admin is None:
            return AuthState.guard
        async with self:
            if self.running:
                return rx.toast.warning("完整性检查正在进行中")
            self.running = True
        try:
            result = await asyncio.to_thread(_run, admin)
        except HisError as exc:
            async with self:
                self.running = False
            return rx.toast.error(exc.message)
        async with self:
            self._show_report(admin)
        if result.ok:
            return rx.toast.success(f"检查完成：{result.checked} 份签名病历全部通过")
        return rx.toast.error("检查发现问题，已通知系统管理员")

    def _show_report(self, admin: auth.CurrentUser) -> None:
        with db.session() as session:
            view = integrity.latest_report(
                session=session, viewer=admin, zone=clinic_zone()
            )
        self.has_report = view is not None and view.finished_at != ""
        self.running = view is not None and view.running
        if view is None:
            return
        self.finished_at, self.checked, self.failed = (
            view.finished_at,
            view.checked,
            view.failed,
        )
        self.audit_ok, self.audit_message = view.audit_ok, view.audit_message
        self.ms_per_document = f"{view.ms_per_document:.0f}"
        self.failures = view.failures[:20]
        self.levels, self.below_lta = view.levels, view.below_lta[:20]


def _figure(label: str, value) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="4", weight="bold"),
        spacing="0",
    )


def _lines(title: str, lines) -> rx.Component:
    """A titled list, shown only when it has lines."""
    return rx.cond(
        lines.length() > 0,
        rx.vstack(
            rx.text(title, size="2", weight="bold"),
            rx.el.ul(rx.foreach(lines, lambda line: rx.el.li(line)), aria_label=title),
            spacing="1",
            width="100%",
        ),
    )


def integrity_panel() -> rx.Component:
    report = rx.vstack(
        rx.hstack(
            _figure("检查时间", IntegrityState.finished_at),
            _figure("已检查", IntegrityState.checked),
            _figure("未通过", IntegrityState.failed),
            _figure(
                "审计日志链",
                rx.cond(IntegrityState.audit_ok, "完整", "发现问题"),
            ),
            _figure("每份耗时 (ms)", IntegrityState.ms_per_document),
            spacing="6",
            wrap="wrap",
        ),
        rx.cond(
            ~IntegrityState.audit_ok & (IntegrityState.audit_message != ""),
            rx.callout(IntegrityState.audit_message, color_scheme="red", width="100%"),
        ),
        rx.cond(
            IntegrityState.failures.length() > 0,
            rx.el.ul(
                rx.foreach(IntegrityState.failures, lambda line: rx.el.li(line)),
                class_name="integrity-failures",
            ),
        ),
        _lines("签名级别（PAdES）", IntegrityState.levels),
        _lines("未达到长期验证（B-LTA）的签名文件", IntegrityState.below_lta),
        spacing="2",
        width="100%",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("完整性检查", size="3", as_="h3"),
                rx.spacer(),
                rx.button(
                    rx.cond(IntegrityState.running, "检查中…", "立即检查"),
                    loading=IntegrityState.running,
                    disabled=IntegrityState.running,
                    on_click=IntegrityState.check_now,
                ),
                width="100%",
                align="center",
            ),
            rx.text(
                "每日自动重新校验所有已签名PDF（文件、SHA-256、签名与时间戳、"
                "PAdES签名级别与长期验证）和审计日志链。",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                IntegrityState.running,
                rx.text("正在检查…完成后此处自动更新。", size="2"),
            ),
            rx.cond(
                IntegrityState.has_report,
                report,
                rx.cond(
                    ~IntegrityState.running,
                    rx.text("尚无检查记录", color_scheme="gray"),
                ),
            ),
            rx.cond(
                IntegrityState.running,
                session_watch(IntegrityState.refresh, interval_ms=5_000),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
