"""The medical-records table (with selection and 签名 for the signing workbench)
and its pager."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from his_portal.components.data_table import data_table
from his_portal.services.records.queries import RecordRow

SIGN_LABELS = {"unsigned": "未签名", "signed": "已签名"}
LOCK_LABELS = {"open": "未完成", "locked": "已完成"}

COLUMNS = (
    "签署状态",
    "姓名",
    "病历号",
    "分院",
    "医生",
    "挂号项目",
    "创建时间",
    "过期时间",
    "签署者",
    "锁定状态",
)


def _label(value: rx.Var, labels: dict[str, str]) -> rx.Var:
    return rx.Var.create(labels).get(value, "")


def _cells(row: rx.Var[RecordRow]) -> list:
    return [
        rx.badge(
            _label(row.sign_status, SIGN_LABELS),
            color_scheme=rx.cond(row.sign_status == "signed", "green", "gray"),
        ),
        row.patient_name,
        row.record_no,
        row.clinic_name,
        row.doctor_name,
        row.visit_item,
        row.created_at,
        row.amend_until,
        row.signer,
        _label(row.lock_status, LOCK_LABELS),
    ]


def records_table(
    rows: rx.Var[list[RecordRow]],
    caption: str,
    *,
    selectable: rx.Var[bool] | bool = False,
    selected: rx.Var[list[int]] | None = None,
    on_toggle: Callable | None = None,
    on_toggle_page: Callable | None = None,
    all_selected: rx.Var[bool] | bool = False,
    actions: Callable[[rx.Var[RecordRow]], rx.Component] | None = None,
    on_sort: Callable | None = None,
    oldest_first: rx.Var[bool] | bool = False,
) -> rx.Component:
    """Real table markup; with ``selectable`` a checkbox column (header: the page)."""

    def cells(record: rx.Var[RecordRow]) -> list:
        first = []
        if on_toggle is not None:
            first = [
                rx.cond(
                    selectable & (record.sign_status == "unsigned"),
                    rx.checkbox(
                        checked=selected.contains(record.id),
                        on_change=lambda _: on_toggle(record.id),
                        aria_label="选择 "
                        + record.patient_name
                        + " "
                        + record.record_no,
                    ),
                )
            ]
        last = [actions(record)] if actions is not None else []
        return [*first, *_cells(record), *last]

    head = []
    if on_toggle_page is not None:
        head = [
            rx.table.column_header_cell(
                rx.checkbox(
                    checked=all_selected,
                    on_change=lambda _: on_toggle_page(),
                    aria_label="选择本页全部未签名病历",
                    disabled=~selectable,
                ),
                scope="col",
            )
        ]
    tail = [rx.table.column_header_cell("操作", scope="col")] if actions else []

    def header(name: str) -> rx.Component:
        if name != "创建时间" or on_sort is None:
            return rx.table.column_header_cell(name, scope="col")
        return rx.table.column_header_cell(
            rx.button(
                name,
                rx.icon(rx.cond(oldest_first, "arrow-up", "arrow-down"), size=14),
                variant="ghost",
                size="1",
                on_click=on_sort,
                aria_label=rx.cond(
                    oldest_first,
                    "创建时间：由早到晚，点击改为由晚到早",
                    "创建时间：由晚到早，点击改为由早到晚",
                ),
            ),
            scope="col",
            aria_sort=rx.cond(oldest_first, "ascending", "descending"),
        )

    return data_table(
        caption,
        [*head, *(header(c) for c in COLUMNS), *tail],
        rows,
        cells,
        row_header=1 + len(head),
        size="1",
    )


def pager(
    total: rx.Var[int], page: rx.Var[int], pages: rx.Var[int], on_page
) -> rx.Component:
    """共N条 and previous/next; ``on_page`` receives the new page number."""
    return rx.hstack(
        rx.text(f"共{total}条"),
        rx.spacer(),
        rx.button(
            "上一页", variant="soft", disabled=page <= 1, on_click=on_page(page - 1)
        ),
        rx.text(f"第 {page} / {pages} 页", aria_live="polite"),
        rx.button(
            "下一页", variant="soft", disabled=page >= pages, on_click=on_page(page + 1)
        ),
        align="center",
        width="100%",
        padding_top="12px",
    )
