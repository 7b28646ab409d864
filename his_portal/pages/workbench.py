"""医生工作: records by 病历时间 and 病历号 (own records; a manager: the clinic's)."""

from __future__ import annotations

from datetime import date, datetime

import reflex as rx

from his_portal import db, routes
from his_portal.components.records_table import pager, records_table
from his_portal.models import Role
from his_portal.services import identity, records
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.template import template


def _today() -> str:
    return datetime.now(clinic_zone()).date().isoformat()


def _parse_day(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label}格式不正确，应为 年-月-日") from None


class WorkbenchState(AuthState):
    date_from: str = ""
    date_to: str = ""
    record_no: str = ""
    rows: list[records.RecordRow] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    error: str = ""
    esign_state: str = ""

    @rx.event
    def set_date_from(self, value: str):
        self.date_from = value

    @rx.event
    def set_date_to(self, value: str):
        self.date_to = value

    @rx.event
    def set_record_no(self, value: str):
        self.record_no = value

    @rx.event
    def on_load(self):
        if not self.date_from:
            self.date_from = self.date_to = _today()
        user = self._require(Role.DOCTOR)
        if user is not None:
            with db.session() as session:
                view = identity.get_profile(session=session, user=user)
            self.esign_state = (
                "on"
                if view.esign_enabled
                else "off"
                if view.status == "verified"
                else "unverified"
            )
        return self._load(1)

    @rx.event
    def search(self):
        return self._load(1)

    @rx.event
    def go_page(self, page: int):
        return self._load(page)

    def _load(self, page: int):
        viewer = self._require(Role.DOCTOR, Role.MANAGER)
        if viewer is None:
            return AuthState.guard
        try:
            filters = records.RecordFilter(
                date_from=_parse_day(self.date_from, "开始日期"),
                date_to=_parse_day(self.date_to, "结束日期"),
                record_no=self.record_no,
                page=page,
            )
            with db.session() as session:
                result = records.list_records(
                    session=session, viewer=viewer, filters=filters, zone=clinic_zone()
                )
        except ValueError as exc:
            self.error = str(exc)
            return None
        self.error = ""
        self.rows, self.total = result.rows, result.total
        self.page, self.pages = result.page, result.pages
        return None


def _labelled(label: str, control_id: str, control: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.el.label(label, html_for=control_id), control, align="center", spacing="2"
    )


def filters_bar() -> rx.Component:
    return rx.form(
        rx.hstack(
            _labelled(
                "病历时间:",
                "wb-date-from",
                rx.hstack(
                    rx.input(
                        id="wb-date-from",
                        type="date",
                        value=WorkbenchState.date_from,
                        on_change=WorkbenchState.set_date_from,
                    ),
                    rx.text("~", aria_hidden="true"),
                    rx.el.label(
                        "结束日期", html_for="wb-date-to", class_name="sr-only"
                    ),
                    rx.input(
                        id="wb-date-to",
                        type="date",
                        value=WorkbenchState.date_to,
                        on_change=WorkbenchState.set_date_to,
                    ),
                    align="center",
                ),
            ),
            _labelled(
                "病历号:",
                "wb-record-no",
                rx.input(
                    id="wb-record-no",
                    placeholder="请输入病历号",
                    value=WorkbenchState.record_no,
                    on_change=WorkbenchState.set_record_no,
                ),
            ),
            rx.button("查询", type="submit", color_scheme="green"),
            wrap="wrap",
            spacing="4",
            align="center",
        ),
        on_submit=lambda _: WorkbenchState.search(),
    )


ESIGN_HINTS = {
    "on": ("电子签名已开启", "green"),
    "off": ("电子签名未开启：请在 个人中心 → 个性设置 中开启后再签名", "amber"),
    "unverified": ("尚未实名认证：请先在 个人中心 完成实名认证和个性签章设置", "amber"),
}


def _hint(key: str, text: str, color: str) -> rx.Component:
    link = rx.link("去设置 →", href=routes.PROFILE) if key != "on" else rx.fragment()
    icon = "circle-check" if key == "on" else "info"
    return rx.callout(
        rx.hstack(rx.text(text), link), icon=icon, color_scheme=color, size="1"
    )


def esign_banner() -> rx.Component:
    """电子签名 on/off on the workbench, with the way to 个人中心 when it is off."""
    cases = [(key, _hint(key, *hint)) for key, hint in ESIGN_HINTS.items()]
    return rx.match(WorkbenchState.esign_state, *cases, rx.fragment())


@template("医生工作")
def workbench_page() -> rx.Component:
    return rx.vstack(
        esign_banner(),
        filters_bar(),
        rx.cond(
            WorkbenchState.error != "",
            rx.callout(
                WorkbenchState.error,
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
            ),
        ),
        records_table(WorkbenchState.rows, "病历列表"),
        pager(
            WorkbenchState.total,
            WorkbenchState.page,
            WorkbenchState.pages,
            WorkbenchState.go_page,
        ),
        width="100%",
        spacing="3",
    )
