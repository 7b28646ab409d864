"""医生工作: the signing workbench (a manager sees the clinic's records, read-only)."""

from __future__ import annotations

import reflex as rx

from his_portal.components.error_callout import error_callout
from his_portal.components.records_table import pager, records_table
from his_portal.components.sign_dialogs import sign_dialogs
from his_portal.components.workbench_view import (
    appointments_table,
    details_dialog,
    esign_banner,
    filters_bar,
    kpi_strip,
    revoke_dialog,
    sign_button,
    tab_bar,
)
from his_portal.models import Role
from his_portal.states.sign_flow import SignFlowState
from his_portal.states.workbench import WorkbenchState
from his_portal.template import template

__all__ = ["WorkbenchState", "workbench_page"]


@template("医生工作")
def workbench_page() -> rx.Component:
    doctor = WorkbenchState.user_role == Role.DOCTOR
    return rx.vstack(
        kpi_strip(),
        esign_banner(),
        tab_bar(),
        rx.cond(
            WorkbenchState.tab == "appointments",
            appointments_table(),
            rx.vstack(
                rx.hstack(
                    filters_bar(),
                    rx.cond(
                        doctor & (WorkbenchState.tab != "signed"),
                        rx.button(
                            "批量签名",
                            color_scheme="green",
                            disabled=~WorkbenchState.can_sign
                            | (WorkbenchState.selected.length() == 0),
                            on_click=SignFlowState.begin(WorkbenchState.selected),
                        ),
                    ),
                    rx.cond(
                        WorkbenchState.selected.length() > 0,
                        rx.text(
                            f"已选 {WorkbenchState.selected.length()} 条", size="2"
                        ),
                    ),
                    wrap="wrap",
                    spacing="4",
                    align="center",
                    width="100%",
                ),
                error_callout(WorkbenchState.error),
                records_table(
                    WorkbenchState.rows,
                    "病历列表",
                    selectable=doctor & WorkbenchState.can_sign,
                    selected=WorkbenchState.selected,
                    on_toggle=WorkbenchState.toggle,
                    on_toggle_page=WorkbenchState.toggle_page,
                    all_selected=WorkbenchState.all_selected,
                    actions=sign_button,
                    on_sort=WorkbenchState.toggle_order,
                    oldest_first=WorkbenchState.oldest_first,
                ),
                rx.cond(
                    WorkbenchState.total == 0,
                    rx.text("所选条件下暂无病历", color_scheme="gray"),
                ),
                pager(
                    WorkbenchState.total,
                    WorkbenchState.page,
                    WorkbenchState.pages,
                    WorkbenchState.go_page,
                ),
                width="100%",
                spacing="3",
            ),
        ),
        sign_dialogs(),
        details_dialog(),
        revoke_dialog(),
        width="100%",
        spacing="3",
    )
