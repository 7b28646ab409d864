"""管理中心 · 签名监控: the manager's landing page — filters, KPI cards, the daily
trend and per-doctor charts, the records behind each number, CSV exports and 催签.
State: :mod:`his_portal.states.monitor`."""

from __future__ import annotations

import reflex as rx

from his_portal.components.monitor_charts import charts, trend_table
from his_portal.components.monitor_drill import drill_dialog
from his_portal.components.monitor_parts import doctor_table, filter_bar, kpi_cards
from his_portal.states.monitor import MonitorState
from his_portal.template import template

__all__ = ["MonitorState", "manage_page"]


@template("管理中心 · 签名监控")
def manage_page() -> rx.Component:
    return rx.vstack(
        filter_bar(),
        kpi_cards(),
        charts(),
        doctor_table(),
        trend_table(),
        drill_dialog(),
        width="100%",
        spacing="4",
    )
