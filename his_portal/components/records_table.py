"""The medical-records table and its pager, shared by the record lists."""

from __future__ import annotations

import reflex as rx

from his_portal.services.records import RecordRow

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
    "锁定状态",
)


def _label(value: rx.Var, labels: dict[str, str]) -> rx.Var:
    return rx.Var.create(labels).get(value, "")


def _row(row: rx.Var[RecordRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.badge(
                _label(row.sign_status, SIGN_LABELS),
                color_scheme=rx.cond(row.sign_status == "signed", "green", "gray"),
            )
        ),
        rx.table.row_header_cell(row.patient_name),
        rx.table.cell(row.record_no),
        rx.table.cell(row.clinic_name),
        rx.table.cell(row.doctor_name),
        rx.table.cell(row.visit_item),
        rx.table.cell(row.created_at),
        rx.table.cell(_label(row.lock_status, LOCK_LABELS)),
    )


def records_table(rows: rx.Var[list[RecordRow]], caption: str) -> rx.Component:
    return rx.table.root(
        rx.el.caption(caption, class_name="sr-only"),
        rx.table.header(
            rx.table.row(
                *(rx.table.column_header_cell(c, scope="col") for c in COLUMNS)
            )
        ),
        rx.table.body(rx.foreach(rows, _row)),
        variant="surface",
        width="100%",
    )


def pager(
    total: rx.Var[int], page: rx.Var[int], pages: rx.Var[int], on_page
) -> rx.Component:
    """共N条 and previous/next; ``on_page`` receives the new page number."""
    return rx.hstack(
        rx.text(f"共{total}条"),
        rx.spacer(),
        rx.button(
            "上一页",
            variant="soft",
            disabled=page <= 1,
            on_click=on_page(page - 1),
        ),
        rx.text(f"第 {page} / {pages} 页", aria_live="polite"),
        rx.button(
            "下一页",
            variant="soft",
            disabled=page >= pages,
            on_click=on_page(page + 1),
        ),
        align="center",
        width="100%",
        padding_top="12px",
    )
