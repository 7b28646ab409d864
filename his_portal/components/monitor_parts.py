"""签名监控 pieces: the filter bar, the KPI cards and the per-doctor table."""

from __future__ import annotations

import reflex as rx

from his_portal.components.data_table import data_table
from his_portal.components.date_range import date_inputs
from his_portal.services.records.dashboard_records import FIGURE_LABELS
from his_portal.states.monitor import MonitorState
from his_portal.states.monitor_view import ALL

#: Card tones: the accent stripe and the figure's colour (AA on white).
TONES = {
    "blue": ("#3b6fd4", "#1f4fa8"),
    "green": ("#268356", "#1e734d"),
    "amber": ("#e0a526", "#985700"),
    "red": ("#d8262b", "#b8262b"),
    "gray": ("#8a94a6", "#1f2d4d"),
}
PANEL = {
    "border": "1px solid #e3e7ef",
    "border_radius": "8px",
    "background": "#fff",
    "padding": "14px 16px",
}
DOCTOR_COLUMNS = (
    "医生",
    "账号",
    *FIGURE_LABELS,
    "分院",
    "操作",
)


def _select(control_id: str, label: str, value, on_change, options) -> rx.Component:
    return rx.hstack(
        rx.el.label(label, html_for=control_id, font_size="14px"),
        rx.el.select(
            *options,
            id=control_id,
            value=value,
            on_change=on_change,
            class_name="native-select",
            min_width="150px",
        ),
        align="center",
        spacing="2",
    )


def _clinic_filter() -> rx.Component:
    options = [
        rx.el.option("全部分院", value=ALL),
        rx.foreach(MonitorState.clinics, lambda c: rx.el.option(c[1], value=c[0])),
    ]
    mine = rx.hstack(
        rx.text("分院", size="2"),
        rx.badge(
            rx.cond(MonitorState.clinics.length() > 0, MonitorState.clinics[0][1], ""),
            color_scheme="gray",
            size="2",
        ),
        align="center",
    )
    chain = _select(
        "monitor-clinic",
        "分院",
        MonitorState.clinic,
        MonitorState.set_clinic,
        options,
    )
    return rx.cond(MonitorState.chain_wide, chain, mine)


def _doctor_filter() -> rx.Component:
    options = [
        rx.el.option("全部医生", value=ALL),
        rx.foreach(
            MonitorState.doctor_choices, lambda d: rx.el.option(d[1], value=d[0])
        ),
    ]
    return _select(
        "monitor-doctor", "医生", MonitorState.doctor, MonitorState.set_doctor, options
    )


def _dates() -> rx.Component:
    return rx.form(
        rx.hstack(
            *date_inputs(
                "monitor",
                (MonitorState.date_from, MonitorState.date_to),
                (MonitorState.set_date_from, MonitorState.set_date_to),
                rx.text("至", size="2", aria_hidden="true"),
            ),
            rx.button("查询", type="submit", variant="soft"),
            align="center",
            spacing="2",
        ),
        on_submit=lambda _: MonitorState.apply_dates(),
        aria_label="自定义时间范围",
    )


def filter_bar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("统计周期", id="monitor-period-label", size="2"),
            rx.segmented_control.root(
                *(rx.segmented_control.item(q, value=q) for q in MonitorState.QUICK),
                value=MonitorState.quick,
                on_change=MonitorState.set_quick,
                aria_labelledby="monitor-period-label",
            ),
            _dates(),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.hstack(
            _clinic_filter(),
            _doctor_filter(),
            rx.el.div(class_name="header-gap"),
            rx.text(MonitorState.refreshed, size="1", color_scheme="gray"),
            rx.button(
                rx.icon("download", size=16),
                "导出 CSV",
                variant="soft",
                on_click=MonitorState.export_doctors,
                aria_label="导出各医生签署情况 CSV",
            ),
            align="center",
            spacing="4",
            wrap="wrap",
            width="100%",
        ),
        spacing="3",
        width="100%",
        style=PANEL,
    )


def _card_body(card) -> rx.Component:
    return rx.vstack(
        rx.text(card.label, size="2", color="#4a5568"),
        rx.match(
            card.tone,
            *(
                (
                    tone,
                    rx.text(card.value, size="6", weight="bold", color=text),
                )
                for tone, (_, text) in TONES.items()
            ),
            rx.text(card.value, size="6", weight="bold"),
        ),
        rx.text(card.hint, size="1", color="#5f6b7d"),
        spacing="1",
        align="start",
    )


def _stripe(tone) -> rx.Var:
    return rx.match(
        tone,
        *((name, f"4px solid {stripe}") for name, (stripe, _) in TONES.items()),
        "4px solid #8a94a6",
    )


def _card(card) -> rx.Component:
    style = {**PANEL, "padding": "12px", "border_left": _stripe(card.tone)}
    clickable = rx.el.button(
        _card_body(card),
        on_click=MonitorState.open_kind(card.key),
        aria_label=card.label + " " + card.value + "，查看病历",
        style={**style, "cursor": "pointer", "text_align": "left", "font": "inherit"},
    )
    return rx.cond(
        card.key != "",
        clickable,
        rx.el.div(_card_body(card), style=style),
    )


def kpi_cards() -> rx.Component:
    return rx.grid(
        rx.foreach(MonitorState.cards, _card),
        columns="7",
        spacing="3",
        width="100%",
        aria_label="签署指标",
        role="group",
    )


def _doctor_cells(row) -> list:
    return [
        row.name,
        row.login_id,
        row.total,
        row.signed,
        row.pending,
        rx.cond(
            row.overdue > 0,
            rx.text(row.overdue, color="#b8262b", weight="bold"),
            rx.text(row.overdue),
        ),
        row.late,
        row.completion,
        row.median,
        row.clinic_name,
        rx.hstack(
            rx.button(
                "查看病历",
                size="1",
                variant="soft",
                on_click=MonitorState.open_doctor(row.id),
                aria_label="查看 " + row.name + " 的病历",
            ),
            rx.button(
                "催签",
                size="1",
                color_scheme="amber",
                variant="soft",
                on_click=MonitorState.remind_doctor(row.id),
                aria_label="催签 " + row.name,
                disabled=(row.pending + row.overdue) == 0,
            ),
            spacing="1",
        ),
    ]


def doctor_table() -> rx.Component:
    """各医生签署情况: also the per-doctor chart's text alternative."""
    return rx.vstack(
        data_table(
            "各医生签署情况（各医生图表的数据）",
            DOCTOR_COLUMNS,
            MonitorState.doctors,
            _doctor_cells,
            size="1",
        ),
        rx.cond(
            MonitorState.doctors.length() == 0,
            rx.text("所选范围内没有病历", color_scheme="gray", size="2"),
        ),
        width="100%",
    )
