"""医生工作 view pieces: KPI strip, tabs, filters, 电子签名 banner, 今日预约, row
actions and the 签名详情 / 撤销签名 dialogs."""

from __future__ import annotations

import reflex as rx

from his_portal import routes
from his_portal.components.data_table import data_table
from his_portal.components.date_range import date_inputs
from his_portal.models import Role
from his_portal.states.sign_flow import SignFlowState
from his_portal.states.workbench import (
    APPOINTMENT_COLUMNS,
    OUTSIDE_TABS,
    TABS,
    WorkbenchState,
)


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
                    *date_inputs(
                        "wb-date",
                        (WorkbenchState.date_from, WorkbenchState.date_to),
                        (WorkbenchState.set_date_from, WorkbenchState.set_date_to),
                        rx.text("~", aria_hidden="true"),
                        labelled_from=False,
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


def kpi_strip() -> rx.Component:
    def card(label: str) -> rx.Component:
        return rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.text(WorkbenchState.kpis.get(label, "—"), size="6", weight="bold"),
            spacing="1",
            class_name="kpi",
        )

    labels = ("今日接诊", "待签名", "今日已签", "签署完成率", "超期未签")
    return rx.hstack(*(card(label) for label in labels), wrap="wrap", spacing="3")


def tab_bar() -> rx.Component:
    outside = [
        rx.el.span(
            label,
            aria_disabled="true",
            title="不在本系统范围内",
            class_name="wb-tab wb-tab-disabled",
        )
        for label in OUTSIDE_TABS
    ]
    return rx.hstack(
        rx.el.div(
            rx.segmented_control.root(
                *(
                    rx.segmented_control.item(label, value=key)
                    for key, label in TABS.items()
                ),
                value=WorkbenchState.tab,
                on_change=WorkbenchState.set_tab,
                aria_label="病历分类",
            ),
            class_name="wb-tabs",
        ),
        *outside,
        wrap="wrap",
        spacing="3",
        align="center",
        width="100%",
    )


def appointments_table() -> rx.Component:
    def cells(item) -> list:
        return [
            item.time,
            item.patient_name,
            item.record_no,
            item.visit_item,
            item.doctor_name,
            item.status,
        ]

    return rx.vstack(
        data_table(
            "今日预约",
            APPOINTMENT_COLUMNS,
            WorkbenchState.appointments,
            cells,
            row_header=1,
        ),
        rx.cond(
            WorkbenchState.appointments.length() > 0,
            rx.text(f"共{WorkbenchState.appointments.length()}条"),
            rx.text("今日暂无预约", color_scheme="gray"),
        ),
        width="100%",
    )


def _row_button(text: str, aria_label, event, **props) -> rx.Component:
    return rx.button(
        text, size="1", variant="soft", aria_label=aria_label, on_click=event, **props
    )


def _signed_actions(row) -> rx.Component:
    label = " " + row.patient_name + " " + row.record_no
    return rx.hstack(
        _row_button("查看", "查看签名文件" + label, WorkbenchState.view_pdf(row.id)),
        _row_button(
            "下载", "下载签名文件" + label, WorkbenchState.download_pdf(row.id)
        ),
        rx.cond(
            (WorkbenchState.user_role == Role.DOCTOR) & row.amendable,
            _row_button(
                "撤销签名",
                "撤销签名" + label,
                WorkbenchState.ask_revoke(row.id),
                color_scheme="red",
            ),
        ),
        _row_button("详情", "签名详情" + label, WorkbenchState.show_details(row.id)),
        spacing="1",
        wrap="wrap",
    )


def sign_button(row) -> rx.Component:
    return rx.cond(
        row.sign_status == "unsigned",
        rx.cond(
            WorkbenchState.user_role == Role.DOCTOR,
            rx.button(
                "签名",
                size="1",
                color_scheme="green",
                disabled=~WorkbenchState.can_sign,
                aria_label="签名 " + row.patient_name + " " + row.record_no,
                on_click=SignFlowState.begin([row.id]),
            ),
        ),
        _signed_actions(row),
    )


def revoke_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("撤销签名"),
            rx.alert_dialog.description(
                "撤销后病历解除锁定并生成新版本，修改后需重新签名；"
                "已签名的版本和签名文件会保留并可查阅。"
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button(
                        "取消", variant="soft", on_click=WorkbenchState.cancel_revoke
                    )
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "确认撤销", color_scheme="red", on_click=WorkbenchState.revoke
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=WorkbenchState.revoke_target != 0,
    )


def details_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("签名详情"),
            rx.data_list.root(
                rx.foreach(
                    WorkbenchState.details,
                    lambda item: rx.data_list.item(
                        rx.data_list.label(item[0]),
                        rx.data_list.value(item[1], word_break="break-all"),
                    ),
                )
            ),
            rx.hstack(
                rx.button(
                    "关闭", variant="soft", on_click=WorkbenchState.close_details
                ),
                justify="end",
                margin_top="16px",
            ),
            max_width="640px",
        ),
        open=WorkbenchState.details.length() > 0,
    )
