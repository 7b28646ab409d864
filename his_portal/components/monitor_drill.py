"""签名监控: the records behind a number (a KPI card or a doctor), in a dialog:
read-only, paginated, the signed PDF viewable, overdue records selectable for 催签."""

from __future__ import annotations

import reflex as rx

from his_portal.components.data_table import data_table
from his_portal.states.monitor import MonitorState

COLUMNS = (
    "选择",
    "病历号",
    "姓名",
    "医生",
    "分院",
    "挂号项目",
    "就诊时间",
    "签署状态",
    "签署时间",
    "签署时长",
    "签名文件",
)
STATUS_COLOURS = {"已签名": "green", "待签名": "amber", "超期未签": "red"}


def _status(row) -> rx.Component:
    badge = rx.match(
        row.status,
        *(
            (label, rx.badge(label, color_scheme=colour))
            for label, colour in STATUS_COLOURS.items()
        ),
        rx.badge(row.status),
    )
    return rx.hstack(
        badge,
        rx.cond(row.late, rx.badge("超时", color_scheme="orange", variant="outline")),
        spacing="1",
    )


def _cells(row) -> list:
    label = row.patient_name + " " + row.record_no
    pick = rx.cond(
        row.overdue,
        rx.checkbox(
            checked=MonitorState.selected.contains(row.id),
            on_change=lambda _: MonitorState.toggle_record(row.id),
            aria_label="选择 " + label,
        ),
        rx.fragment(),
    )
    pdf = rx.cond(
        row.status == "已签名",
        rx.button(
            "查看",
            size="1",
            variant="soft",
            on_click=MonitorState.view_pdf(row.id),
            aria_label="查看签名文件 " + label,
        ),
        rx.text("—", color_scheme="gray"),
    )
    return [
        pick,
        row.record_no,
        row.patient_name,
        row.doctor_name,
        row.clinic_name,
        row.visit_item,
        row.created_at,
        _status(row),
        row.signed_at,
        row.duration,
        pdf,
    ]


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(
            "共",
            MonitorState.drill_total,
            "条 · 第",
            MonitorState.drill_page,
            "/",
            MonitorState.drill_pages,
            "页",
            size="2",
        ),
        rx.button(
            "上一页",
            size="1",
            variant="soft",
            disabled=MonitorState.drill_page <= 1,
            on_click=MonitorState.drill_go(MonitorState.drill_page - 1),
        ),
        rx.button(
            "下一页",
            size="1",
            variant="soft",
            disabled=MonitorState.drill_page >= MonitorState.drill_pages,
            on_click=MonitorState.drill_go(MonitorState.drill_page + 1),
        ),
        align="center",
        spacing="2",
    )


def _actions() -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.icon("bell-ring", size=16),
            "催签所选（" + MonitorState.selected.length().to_string() + "）",
            color_scheme="amber",
            disabled=MonitorState.selected.length() == 0,
            on_click=MonitorState.remind_selected,
        ),
        rx.button(
            rx.icon("download", size=16),
            "导出病历 CSV",
            variant="soft",
            on_click=MonitorState.export_records,
        ),
        rx.dialog.close(rx.button("关闭", variant="soft", color_scheme="gray")),
        spacing="2",
    )


def drill_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(MonitorState.drill_title),
            rx.dialog.description(
                "只读：病历签署情况；超期未签的病历可勾选后催签。",
                size="2",
                color_scheme="gray",
            ),
            rx.vstack(
                rx.el.div(
                    data_table(
                        MonitorState.drill_title,
                        COLUMNS,
                        MonitorState.drill_rows,
                        _cells,
                        row_header=1,
                        size="1",
                    ),
                    max_height="60vh",
                    overflow_y="auto",
                    width="100%",
                ),
                rx.hstack(
                    _pager(),
                    rx.el.div(class_name="header-gap"),
                    _actions(),
                    width="100%",
                    align="center",
                    wrap="wrap",
                ),
                spacing="3",
                margin_top="12px",
            ),
            max_width="1120px",
            width="92vw",
        ),
        open=MonitorState.drill_kind != "",
        on_open_change=MonitorState.drill_open_change,
    )
