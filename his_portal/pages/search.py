"""Header search results: patients by 病历号, 姓名 or 拼音."""

from __future__ import annotations

import reflex as rx

from his_portal import db
from his_portal.components.data_table import data_table
from his_portal.models import Role
from his_portal.services.records import queries as records
from his_portal.state import AuthState
from his_portal.template import template

COLUMNS = ("姓名", "病历号", "性别", "出生日期", "病历数")


class SearchState(AuthState):
    hits: list[records.PatientHit] = []
    text: str = ""

    @rx.event
    def on_load(self):
        viewer = self._require(Role.DOCTOR, Role.MANAGER)
        if viewer is None:
            return AuthState.guard
        self.text = self.router.url.query_parameters.get("q", "")
        with db.session() as session:
            self.hits = records.search_patients(
                session=session, viewer=viewer, text=self.text
            )
        return None


def _cells(hit: rx.Var[records.PatientHit]) -> list:
    return [hit.name, hit.record_no, hit.sex, hit.birth_date, hit.records]


@template("患者查询")
def search_page() -> rx.Component:
    return rx.vstack(
        rx.text(
            f"“{SearchState.text}” 的查询结果: 共{SearchState.hits.length()}位患者"
        ),
        data_table("患者查询结果", COLUMNS, SearchState.hits, _cells),
        width="100%",
    )
