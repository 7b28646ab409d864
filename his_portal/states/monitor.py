"""签名监控 state: filters, KPI cards, the two charts' data, the records behind a
number, CSV exports, 催签, and the refresh while the page is open.

Every handler asks who is calling and hands the filter to the dashboard services,
which enforce the manager's scope: a branch manager's state can hold another 分院's
id (any client can send any value), the service refuses it.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import reflex as rx

from his_portal import db, deps, routes
from his_portal.errors import HisError, InvalidInput
from his_portal.models import Role
from his_portal.services import file_tickets, notifications
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records.keyset import Cursor
from his_portal.state import AuthState
from his_portal.states import monitor_view as view

#: How often an open page refreshes itself.
REFRESH_SECONDS = 20
FILTER_FIELDS = ("quick", "date_from", "date_to", "clinic", "doctor")


class MonitorState(AuthState):
    QUICK: ClassVar[tuple[str, ...]] = tuple(view.QUICK_RANGES)

    quick: str = "近7天"
    date_from: str = ""
    date_to: str = ""
    clinic: str = view.ALL
    doctor: str = view.ALL
    chain_wide: bool = False
    clinics: list[list[str]] = []
    doctor_choices: list[list[str]] = []
    cards: list[view.Card] = []
    days: list[view.DayRow] = []
    trend: list[dict[str, Any]] = []
    doctors: list[view.DoctorRow] = []
    bars: list[dict[str, Any]] = []
    updated_at: str = ""
    drill_kind: str = ""
    drill_doctor: int = 0
    drill_title: str = ""
    drill_rows: list[behind.MonitorRecord] = []
    drill_total: int = 0
    drill_page: int = 1
    drill_pages: int = 1
    selected: list[int] = []
    _all_doctors: list[list[str]] = []
    #: Where each drill-down page reached so far starts (keyset), for the filter
    #: and drill-down named by ``_drill_key``.
    _drill_starts: dict[int, Cursor] = {}
    _drill_key: str = ""
    _watch: int = 0

    def _filters(self, doctor: int = 0):
        return view.parse_filter(
            self.date_from,
            self.date_to,
            self.clinic,
            str(doctor) if doctor else self.doctor,
        )

    def _valid_filters(self):
        try:
            return self._filters()
        except HisError:
            return None

    def _apply(self, shot: view.Snapshot) -> None:
        self.cards, self.days, self.trend = shot.cards, shot.days, shot.trend
        self.doctors, self.bars = shot.doctors, shot.bars
        self.updated_at = shot.updated_at

    async def _refresh(self, user):
        """Figures (and the open drill-down) for the current filter, queried in a
        worker thread (the event loop serves everyone else meanwhile); nothing
        changes if the service refuses it."""
        try:
            filters = self._filters()
            drill = self._drill_ask(self.drill_page) if self.drill_kind else None
            shot, page = await asyncio.to_thread(view.refresh, user, filters, drill)
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._apply(shot)
        if page is not None:
            self._show_drill(page)
        return None

    async def _change(self, user, **values):
        """Set filter fields and refresh; a refused filter puts them back."""
        before = {name: getattr(self, name) for name in FILTER_FIELDS}
        for name, value in values.items():
            setattr(self, name, value)
        self._doctor_options()
        refused = await self._refresh(user)
        if refused is not None:
            for name, value in before.items():
                setattr(self, name, value)
            self._doctor_options()
        return refused

    def _doctor_options(self) -> None:
        self.doctor_choices = [
            [doctor_id, name]
            for doctor_id, name, clinic_id in self._all_doctors
            if self.clinic in (view.ALL, clinic_id)
        ]

    def _forget(self) -> None:
        """No figures from before (another login in this tab, another filter)."""
        self.cards, self.days, self.trend, self.doctors, self.bars = [], [], [], [], []
        self.drill_kind, self.drill_doctor, self.drill_rows = "", 0, []
        self.selected, self.updated_at = [], ""

    def _show_scope(self, scope) -> None:
        self.chain_wide = scope.chain_wide
        self.clinics = [[str(i), name] for i, name in scope.clinics]
        self._all_doctors = [
            [str(d.id), d.name, str(d.clinic_id)] for d in scope.doctors
        ]
        if self.clinic not in [clinic_id for clinic_id, _ in self.clinics]:
            self.clinic = view.ALL
        self._doctor_options()
        if self.doctor not in [choice[0] for choice in self.doctor_choices]:
            self.doctor = view.ALL

    @rx.event
    async def on_load(self):
        self._forget()
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        self._show_scope(await asyncio.to_thread(view.scope, user))
        if self.quick or not self.date_from:  # 近7天 means the last 7 days of today
            self.quick = self.quick or "近7天"
            self.date_from, self.date_to = view.quick_range(self.quick)
        refused = await self._refresh(user)
        return [MonitorState.watch] if refused is None else [refused]

    @rx.event
    async def set_quick(self, value: str | list[str]):
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        try:
            date_from, date_to = view.quick_range(value)
        except HisError as exc:
            return rx.toast.error(exc.message)
        return await self._change(
            user, quick=value, date_from=date_from, date_to=date_to
        )

    @rx.event
    def set_date_from(self, value: str):
        self.date_from, self.quick = str(value), ""

    @rx.event
    def set_date_to(self, value: str):
        self.date_to, self.quick = str(value), ""

    @rx.event
    async def apply_dates(self):
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        return await self._refresh(user)

    @rx.event
    async def set_clinic(self, value: str):
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        clinic = str(value)
        keeps = any(
            doctor_id == self.doctor and clinic in (view.ALL, clinic_id)
            for doctor_id, _, clinic_id in self._all_doctors
        )
        doctor = self.doctor if keeps else view.ALL  # a doctor of another 分院
        return await self._change(user, clinic=clinic, doctor=doctor)

    @rx.event
    async def set_doctor(self, value: str):
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        return await self._change(user, doctor=str(value))

    def _drill_ask(self, page) -> view.DrillAsk:
        """Page ``page`` of the drill-down, after the row its page before ended
        with when 下一页/上一页 came that way under this filter (else counted)."""
        if type(page) is not int:
            raise InvalidInput("页码无效")
        fields = (self.date_from, self.date_to, self.clinic, self.doctor)
        key = repr((*fields, self.drill_kind, self.drill_doctor))
        if key != self._drill_key:
            self._drill_starts, self._drill_key = {}, key
        after = self._drill_starts.get(page) if page > 1 else None
        return view.DrillAsk(
            self._filters(self.drill_doctor), self.drill_kind, page, after
        )

    def _show_drill(self, result) -> None:
        self.drill_rows, self.drill_total = result.rows, result.total
        self.drill_page, self.drill_pages = result.page, result.pages
        if result.next_after is not None:
            self._drill_starts = {
                **self._drill_starts,
                result.page + 1: result.next_after,
            }

    async def _load_drill(self, user, page: int) -> None:
        ask = self._drill_ask(page)
        self._show_drill(await asyncio.to_thread(view.drill_page, user, ask))

    async def _open(self, user, kind: str, doctor: int, title: str):
        previous = self.drill_kind, self.drill_doctor
        self.drill_kind, self.drill_doctor, self.selected = kind, doctor, []
        try:
            await self._load_drill(user, 1)
        except HisError as exc:
            self.drill_kind, self.drill_doctor = previous
            return rx.toast.error(exc.message)
        self.drill_title = title
        return None

    @rx.event
    async def open_kind(self, kind: str):
        """A KPI card: the records behind its number."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        if not isinstance(kind, str) or kind not in behind.KINDS:
            return rx.toast.error("无效的统计项")
        return await self._open(user, kind, 0, behind.KINDS[kind])

    @rx.event
    async def open_doctor(self, doctor_id: int):
        """A doctor's row or bar: their records in the range."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        shown = [d.name for d in self.doctors if d.id == doctor_id]
        if type(doctor_id) is not int or not shown:
            return rx.toast.error("没有这位医生的数据")
        return await self._open(user, "total", doctor_id, f"{shown[0]} 的病历")

    @rx.event
    async def drill_go(self, page: int):
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        try:
            await self._load_drill(user, page)
        except HisError as exc:
            return rx.toast.error(exc.message)
        return None

    @rx.event
    def drill_open_change(self, opened: bool):
        """The dialog closed (关闭, Esc, a click outside): forget the drill-down."""
        if not opened:
            self.drill_kind, self.drill_doctor, self.selected = "", 0, []
            self.drill_rows = []

    @rx.event
    def toggle_record(self, record_id: int):
        """Pick an overdue record of the drill-down for 催签."""
        if record_id in self.selected:
            self.selected = [i for i in self.selected if i != record_id]
        elif any(r.id == record_id and r.overdue for r in self.drill_rows):
            self.selected = [*self.selected, record_id]

    def _remind(self, user, doctor_id, record_ids: list[int]):
        try:
            with db.session() as session:
                result = notifications.remind(
                    session,
                    manager=user,
                    doctor_id=doctor_id,
                    record_ids=record_ids,
                    sms=deps.sms_provider(),
                    actor=self._actor(user),
                )
        except HisError as exc:
            return rx.toast.error(exc.message)
        self.selected = []
        return rx.toast.success(result.summary)

    @rx.event
    def remind_doctor(self, doctor_id: int):
        """催签 a doctor about all their unsigned records."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        return self._remind(user, doctor_id, [])

    @rx.event
    def remind_selected(self):
        """催签 the doctor of the selected overdue records about those records."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        chosen = [r for r in self.drill_rows if r.id in self.selected]
        if len({r.doctor_id for r in chosen}) != 1:
            return rx.toast.error("请选择同一位医生的超期病历")
        return self._remind(user, chosen[0].doctor_id, [r.id for r in chosen])

    @rx.event
    def view_pdf(self, record_id: int):
        """The signed PDF in a new tab, through a single-use 60-second ticket."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        try:
            with db.session() as session:
                name = behind.signed_file(
                    session=session, viewer=user, record_id=record_id
                )
                path = f"{routes.SIGNED_FILES}/{name}"
                ticket = file_tickets.issue(
                    session=session,
                    token=self.token,
                    path=path,
                    key=deps.file_ticket_key(),
                )
        except HisError as exc:
            return rx.toast.error(exc.message)
        return rx.redirect(f"{path}?{ticket}", is_external=True)

    def _download(self, what: str, make):
        """A CSV made by ``make(user)`` (a manager's only), as a download."""
        user = self._require(Role.MANAGER)
        if user is None:
            return AuthState.guard
        try:
            data = make(user)
        except HisError as exc:
            return rx.toast.error(exc.message)
        name = f"签名监控_{what}_{self.date_from}_{self.date_to}.csv"
        return rx.download(data=data, filename=name, mime_type="text/csv")

    @rx.event
    def export_doctors(self):
        """导出 CSV: the per-doctor table for the current filter."""
        return self._download(
            "医生", lambda user: view.doctors_csv(user, self._filters())
        )

    @rx.event
    def export_records(self):
        """导出 CSV: every record behind the open drill-down."""
        return self._download(
            "病历",
            lambda user: view.records_csv(
                user, self._filters(self.drill_doctor), self.drill_kind
            ),
        )

    @rx.event(background=True)
    async def watch(self):
        """Refresh every :data:`REFRESH_SECONDS` while this tab is connected; a
        newer watch (the page opened again) ends this one."""
        async with self:
            self._watch += 1
            generation = self._watch
            token = self.router.session.client_token
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            if not await view.connected(token):
                return
            async with self:
                user = self._require(Role.MANAGER)
                if user is None or self._watch != generation:
                    return
                asked = self.date_from, self.date_to, self.clinic, self.doctor
                filters = self._valid_filters()
            if filters is None:
                continue  # a filter being edited; the next round tries again
            try:
                shot = await asyncio.to_thread(view.snapshot, user, filters)
            except HisError:
                continue
            async with self:
                if self._watch != generation:
                    return
                if (self.date_from, self.date_to, self.clinic, self.doctor) == asked:
                    self._apply(shot)

    @rx.var
    def refreshed(self) -> str:
        return f"数据每{REFRESH_SECONDS}秒自动刷新 · 更新于 {self.updated_at}"
