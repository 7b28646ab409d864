"""签名监控 charts (Recharts): the daily trend and the per-doctor bars, each with
its data as a table (the per-doctor one right under the charts, the daily one
folded below it); the pictures themselves are hidden from screen readers."""

from __future__ import annotations

import reflex as rx

from his_portal.components.data_table import data_table
from his_portal.components.monitor_parts import PANEL
from his_portal.states.monitor import MonitorState

#: Series: data key, legend name, colour (the cards' tones).
SERIES = (
    ("signed", "已签名", "#268356"),
    ("pending", "待签名", "#e0a526"),
    ("overdue", "超期未签", "#d8262b"),
)
TICK = {"fontSize": 12, "fill": "#4a5568"}
#: The picture is hidden from screen readers (its table says the same), so Recharts'
#: keyboard layer (a focusable svg) must go too.
NOT_FOCUSABLE = {"accessibilityLayer": False}


def _bars() -> list[rx.Component]:
    return [
        rx.recharts.bar(
            data_key=key,
            name=name,
            stack_id="records",
            fill=colour,
            max_bar_size=28,
            # Drawn at once: a refresh every 20 s should not replay an animation.
            is_animation_active=False,
        )
        for key, name, colour in SERIES
    ]


def _chart_panel(title: str, chart_id: str, chart, summary: str) -> rx.Component:
    return rx.el.figure(
        rx.heading(title, size="3", as_="h3", id=f"{chart_id}-title"),
        rx.el.div(chart, aria_hidden="true", width="100%"),
        rx.el.figcaption(summary, class_name="sr-only"),
        aria_labelledby=f"{chart_id}-title",
        style={**PANEL, "margin": "0", "min_width": "0"},
    )


def trend_chart() -> rx.Component:
    chart = rx.recharts.bar_chart(
        *_bars(),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
        rx.recharts.x_axis(data_key="day", tick=TICK, min_tick_gap=12),
        rx.recharts.y_axis(allow_decimals=False, tick=TICK, width=36),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        data=MonitorState.trend,
        height=280,
        bar_category_gap="15%",
        custom_attrs=NOT_FOCUSABLE,
    )
    summary = "每日数据见页面下方的“每日签署情况（表格）”"
    return _chart_panel("每日签署趋势", "monitor-trend", chart, summary)


def doctor_chart() -> rx.Component:
    chart = rx.recharts.bar_chart(
        *_bars(),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", horizontal=False),
        rx.recharts.x_axis(type_="number", allow_decimals=False, tick=TICK),
        rx.recharts.y_axis(
            data_key="name", type_="category", tick=TICK, width=64, interval=0
        ),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        data=MonitorState.bars,
        layout="vertical",
        height=280,
        bar_category_gap="20%",
        custom_attrs=NOT_FOCUSABLE,
    )
    summary = "各医生数据见下方“各医生签署情况”表格"
    return _chart_panel("各医生签署情况", "monitor-doctors", chart, summary)


def trend_table() -> rx.Component:
    """The trend chart's data, a click (or Enter) away at the page's end (after
    the per-doctor table, which the charts' pair shares)."""
    return rx.el.details(
        rx.el.summary("每日签署情况（表格）", font_size="14px", cursor="pointer"),
        rx.box(
            data_table(
                "每日签署情况（每日签署趋势图表的数据）",
                ("日期", "已签名", "待签名", "超期未签"),
                MonitorState.days,
                lambda d: [d.day, d.signed, d.pending, d.overdue],
                size="1",
            ),
            margin_top="8px",
        ),
        width="100%",
    )


def charts() -> rx.Component:
    return rx.grid(
        trend_chart(),
        doctor_chart(),
        columns="2",
        spacing="4",
        width="100%",
    )
