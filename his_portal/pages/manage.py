"""管理中心: the clinic manager's signing-status overview per doctor (read-only)."""

from __future__ import annotations

from datetime import datetime, timedelta

import reflex as rx

from his_portal import db
from his_portal.components.data_table import data_table
from his_portal.models import Role
from his_portal.services.records import queries as records
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.template import template

PERIODS = {"今日": 0, "近7天": 6, "近30天": 29}
COLUMNS = ("医生", "账号", "病历数", "已签名", "未签名", "签署完成率")


class ManageState(AuthState):
    period: str = "近7天"
    rows: list[records.DoctorSummary] = []

    @rx.event
    def on_load(self):
        return self._load()

    @rx.event
    def set_period(self, value: str | list[str]):
        if value not in PERIODS:
            return rx.toast.error("无效的统计周期")
        self.period = value
        return self._load()

    def _load(self):
        viewer = self._require(Role.MANAGER)
        if viewer is None:
            return AuthState.guard
        today = datetime.now(clinic_zone()).date()
        with db.session() as session:
            self.rows = records.doctor_summary(
                session=session,
                viewer=viewer,
                date_from=today - timedelta(days=PERIODS[self.period]),
                date_to=today,
                zone=clinic_zone(),
            )
        return None


def _cells(row: rx.Var[records.DoctorSummary]) -> list:
    return [
        row.doctor_name,
        row.login_id,
        row.total,
        row.signed,
        row.unsigned,
        row.completion,
    ]


@template("管理中心 · 病历签署概况")
def manage_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("统计周期:", id="period-label"),
            rx.segmented_control.root(
                *(rx.segmented_control.item(p, value=p) for p in PERIODS),
                value=ManageState.period,
                on_change=ManageState.set_period,
                aria_labelledby="period-label",
            ),
            align="center",
        ),
        data_table("各医生病历签署情况", COLUMNS, ManageState.rows, _cells),
        width="100%",
        spacing="4",
    )
