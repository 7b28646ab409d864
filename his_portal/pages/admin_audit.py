"""审计日志 (系统管理): the entries filtered by person, action, record and date,
newest first, keyset pages; the chain check (intact, or the first broken entry,
with the latest anchor's time) runs in a background event, its work in a worker
thread; 导出 CSV of the filtered entries."""

from __future__ import annotations

import asyncio
from datetime import date

import reflex as rx

from his_portal import db, routes
from his_portal.components.data_table import data_table
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services import auth
from his_portal.services.audit import query
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState
from his_portal.template import template

COLUMNS = ("序号", "时间", "操作人", "操作", "对象", "详情", "IP")
ALL = "all"
ACTION_OPTIONS = ((ALL, "全部操作"), *query.ACTION_LABELS.items())


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _chain(admin: auth.CurrentUser) -> query.ChainStatus:
    """The chain check over the whole log (blocking: run it in a thread)."""
    with db.session() as session:
        return query.chain_status(
            session=session,
            viewer=admin,
            zone=clinic_zone(),
            system_trust=bool(get_settings().tsa_url),
        )


def _export(admin: auth.CurrentUser, filters: query.AuditFilter) -> tuple[bytes, int]:
    with db.session() as session:
        return query.export_csv(
            session=session, viewer=admin, filters=filters, zone=clinic_zone()
        )


class AuditState(AuthState):
    actor: str = ""
    action: str = ALL
    target: str = ""
    date_from: str = ""
    date_to: str = ""
    rows: list[query.AuditRow] = []
    #: ``before_seq`` of each page shown so far (0: the newest page).
    cursors: list[int] = [0]
    next_before: int = 0
    chain_state: str = ""  # "", "checking", "ok", "broken"
    chain_message: str = ""
    chain_entries: int = 0
    chain_first_broken: int = 0
    chain_anchor: str = ""

    @rx.event
    def on_load(self):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        self.cursors = [0]
        refused = self._load()
        return refused if refused is not None else AuditState.check_chain

    @rx.event
    def apply(self, form: dict):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        values = {k: str(form.get(k, "")).strip()[:64] for k in ("actor", "target")}
        self.actor, self.target = values["actor"], values["target"]
        action = str(form.get("action", ALL))
        self.action = action if action in query.ACTION_LABELS else ALL
        self.date_from = str(form.get("date_from", ""))[:10]
        self.date_to = str(form.get("date_to", ""))[:10]
        self.cursors = [0]
        return self._load()

    @rx.event
    def older(self):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        if self.next_before:
            self.cursors = [*self.cursors, self.next_before]
        return self._load()

    @rx.event
    def newer(self):
        if self._require(Role.ADMIN) is None:
            return AuthState.guard
        if len(self.cursors) > 1:
            self.cursors = self.cursors[:-1]
        return self._load()

    @rx.event
    async def export(self):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        try:
            data, count = await asyncio.to_thread(_export, admin, self._filters())
        except HisError as exc:
            return rx.toast.error(exc.message)
        return [
            rx.download(data=data, filename="审计日志.csv", mime_type="text/csv"),
            rx.toast.success(f"已导出 {count} 条"),
        ]

    @rx.event(background=True)
    async def check_chain(self):
        admin = await asyncio.to_thread(self._require, Role.ADMIN)
        if admin is None:
            return AuthState.guard
        async with self:
            if self.chain_state == "checking":
                return None
            self.chain_state = "checking"
        status = await asyncio.to_thread(_chain, admin)
        async with self:
            self.chain_state = "ok" if status.ok else "broken"
            self.chain_message, self.chain_entries = status.message, status.entries
            self.chain_first_broken = status.first_broken_seq or 0
            self.chain_anchor = status.latest_anchor
        return None

    def _filters(self) -> query.AuditFilter:
        return query.AuditFilter(
            actor_login=self.actor,
            action="" if self.action == ALL else self.action,
            target=self.target,
            date_from=_day(self.date_from),
            date_to=_day(self.date_to),
        )

    def _load(self):
        admin = self._require(Role.ADMIN)
        if admin is None:
            return AuthState.guard
        try:
            with db.session() as session:
                page = query.search_events(
                    session=session,
                    viewer=admin,
                    filters=self._filters(),
                    zone=clinic_zone(),
                    before_seq=self.cursors[-1] or None,
                )
        except HisError as exc:
            self.rows, self.next_before = [], 0
            return rx.toast.error(exc.message)
        self.rows, self.next_before = page.rows, page.next_before or 0
        return None


def _input(label: str, name: str, value, **props) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"audit-{name}", font_size="13px"),
        rx.input(
            id=f"audit-{name}", name=name, default_value=value, max_length=64, **props
        ),
        spacing="1",
    )


def _filters() -> rx.Component:
    action = rx.vstack(
        rx.el.label("操作", font_size="13px"),
        rx.select.root(
            rx.select.trigger(aria_label="操作", width="200px"),
            rx.select.content(
                *(rx.select.item(text, value=key) for key, text in ACTION_OPTIONS)
            ),
            name="action",
            default_value=AuditState.action,
        ),
        spacing="1",
    )
    return rx.form(
        rx.hstack(
            _input("操作人（账号）", "actor", AuditState.actor, width="170px"),
            action,
            _input("病历号或对象", "target", AuditState.target, width="170px"),
            _input("开始日期", "date_from", AuditState.date_from, type="date"),
            _input("结束日期", "date_to", AuditState.date_to, type="date"),
            rx.button("查询", type="submit"),
            rx.button(
                "导出 CSV", type="button", variant="soft", on_click=AuditState.export
            ),
            spacing="3",
            align="end",
            wrap="wrap",
        ),
        on_submit=AuditState.apply,
        reset_on_submit=False,
    )


def _chain_card() -> rx.Component:
    anchor = rx.cond(
        AuditState.chain_anchor != "",
        rx.text("最近锚定时间：", AuditState.chain_anchor, size="2"),
        rx.text("尚无时间戳锚定", size="2", color_scheme="gray"),
    )
    return rx.match(
        AuditState.chain_state,
        (
            "ok",
            rx.callout.root(
                rx.callout.icon(rx.icon("shield-check")),
                rx.callout.text(
                    "审计日志链完整：共 ", AuditState.chain_entries, " 条。"
                ),
                anchor,
                color_scheme="green",
                width="100%",
                id="audit-chain-status",
            ),
        ),
        (
            "broken",
            rx.callout.root(
                rx.callout.icon(rx.icon("shield-alert")),
                rx.callout.text(
                    "审计日志链校验失败：第一处问题在第 ",
                    AuditState.chain_first_broken,
                    " 条。",
                ),
                rx.text(AuditState.chain_message, size="2"),
                anchor,
                color_scheme="red",
                width="100%",
                id="audit-chain-status",
            ),
        ),
        rx.callout("正在校验审计日志链…", icon="loader", width="100%"),
    )


def _cells(row: rx.Var[query.AuditRow]) -> list:
    return [
        row.seq,
        row.at,
        row.actor,
        rx.vstack(
            rx.text(row.action_label, size="2"),
            rx.code(row.action, size="1", variant="ghost"),
            spacing="0",
        ),
        row.target,
        rx.text(row.detail, size="1", class_name="audit-detail"),
        row.ip,
    ]


@template("审计日志")
def audit_page() -> rx.Component:
    return rx.vstack(
        rx.link("← 返回系统管理", href=routes.ADMIN, size="2"),
        _chain_card(),
        _filters(),
        data_table("审计日志", COLUMNS, AuditState.rows, _cells, size="1"),
        rx.hstack(
            rx.button(
                "较新",
                size="1",
                variant="soft",
                disabled=AuditState.cursors.length() <= 1,
                on_click=AuditState.newer,
            ),
            rx.button(
                "较早",
                size="1",
                variant="soft",
                disabled=AuditState.next_before == 0,
                on_click=AuditState.older,
            ),
            rx.cond(
                AuditState.rows.length() == 0,
                rx.text("没有符合条件的记录", size="2", color_scheme="gray"),
            ),
            spacing="3",
            align="center",
        ),
        width="100%",
        spacing="3",
    )
