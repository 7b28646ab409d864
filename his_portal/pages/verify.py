"""验证 (public, no login): /verify checks an uploaded signed PDF, /verify/<id> shows
the signature status of the record version a footer's QR code names."""

from __future__ import annotations

import reflex as rx

from his_portal import routes
from his_portal.components.data_table import data_table
from his_portal.services.signing.verification import MAX_PDF_BYTES
from his_portal.states.verify import (
    UPLOAD_ID,
    SignatureView,
    VerifyRecordState,
    VerifyState,
)

INTRO = (
    "上传医生签名的病历PDF文件（不超过20MB），系统将逐一检查文件中的电子签名："
    "签名是否有效、签署者及其证书、签名时间与可信时间戳、签名后文件是否被改动，"
    "以及是否与本系统存档的签署文件一致。文件仅在内存中校验，不会被保存。"
)
STATUS_COLORS = {"valid": "green", "superseded": "amber", "cert_revoked": "red"}


def _shell(*children: rx.Component) -> rx.Component:
    """A public page: the brand, one white card, no menu."""
    return rx.el.main(
        rx.center(
            rx.vstack(
                rx.hstack(
                    rx.image(src="/logo.svg", alt="", width="40px", height="40px"),
                    rx.text("牙医云 HIS · 电子病历签名验证", weight="bold", size="4"),
                    align="center",
                ),
                rx.card(
                    rx.vstack(*children, spacing="4", width="100%"),
                    width="100%",
                    background="white",
                    padding="28px",
                ),
                rx.link("返回登录", href=routes.LOGIN, size="2"),
                width="min(880px, 94vw)",
                spacing="4",
                padding_y="32px",
            ),
        ),
        min_height="100vh",
    )


def _items_table(caption: str, items) -> rx.Component:
    return data_table(
        caption, ["项目", "结果"], items, lambda row: [row[0], row[1]], size="1"
    )


def _drop_zone() -> rx.Component:
    upload = rx.upload.root(
        rx.vstack(
            rx.icon("file-check", size=28, aria_hidden="true"),
            rx.text("点击选择或拖入签名的病历PDF文件（不超过20MB）"),
            align="center",
        ),
        id=UPLOAD_ID,
        accept={"application/pdf": [".pdf"]},
        max_files=1,
        multiple=False,
        max_size=MAX_PDF_BYTES,
        disabled=VerifyState.busy,
        on_drop=VerifyState.handle_upload(rx.upload_files_chunk(upload_id=UPLOAD_ID)),
        on_drop_rejected=VerifyState.rejected,
        class_name="seal-drop",
        aria_label="上传签名的病历PDF文件",
    )
    for child in upload.children:  # rx.upload's own <input>: name it (axe: label)
        if getattr(child, "tag", None) == "input":
            child.custom_attrs["aria-label"] = "上传签名的病历PDF文件"
    return upload


def _signature(view: SignatureView) -> rx.Component:
    return rx.vstack(
        rx.heading(
            view.title,
            as_="h2",
            size="3",
            color=rx.cond(view.valid, "var(--green-11)", "var(--red-11)"),
        ),
        rx.foreach(
            view.reasons,
            lambda reason: rx.text("原因：" + reason, color_scheme="red", size="2"),
        ),
        _items_table("签名详情", view.rows),
        width="100%",
        spacing="2",
    )


def _report() -> rx.Component:
    return rx.vstack(
        rx.cond(
            VerifyState.all_valid,
            rx.callout(
                "验证通过：文件中的签名全部有效",
                icon="circle-check",
                color_scheme="green",
                role="status",
                width="100%",
            ),
            rx.callout(
                "验证未通过：文件中有无效的签名，原因见下",
                icon="circle-x",
                color_scheme="red",
                role="status",
                width="100%",
            ),
        ),
        rx.text("文件：" + VerifyState.file_name, size="2"),
        rx.text(
            "文件 SHA-256：" + VerifyState.sha256, size="2", word_break="break-all"
        ),
        rx.text(
            "与本系统存档比对：" + VerifyState.match,
            size="2",
            color_scheme=rx.cond(VerifyState.matched, "green", "gray"),
        ),
        rx.foreach(VerifyState.signatures, _signature),
        width="100%",
        spacing="3",
    )


def verify_page() -> rx.Component:
    return _shell(
        rx.heading("电子病历签名验证", size="6", as_="h1"),
        rx.text(INTRO, size="2", color_scheme="gray"),
        _drop_zone(),
        rx.cond(
            VerifyState.busy,
            rx.hstack(rx.spinner(), rx.text("正在验证…"), role="status"),
        ),
        rx.cond(
            VerifyState.error != "",
            rx.callout(
                VerifyState.error,
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
                width="100%",
            ),
        ),
        rx.cond(VerifyState.checked, _report()),
    )


def verify_record_page() -> rx.Component:
    return _shell(
        rx.heading("病历签名状态", size="6", as_="h1"),
        rx.cond(
            VerifyRecordState.found,
            rx.vstack(
                rx.badge(
                    VerifyRecordState.label,
                    size="3",
                    color_scheme=rx.match(
                        VerifyRecordState.status,
                        *STATUS_COLORS.items(),
                        "gray",
                    ),
                ),
                rx.text(VerifyRecordState.note),
                _items_table("签名记录", VerifyRecordState.items),
                rx.text(
                    "持有该病历PDF文件时，可在",
                    rx.link("签名验证页面", href=routes.VERIFY),
                    "上传文件，核对文件内容是否与签署时一致。",
                    size="2",
                    color_scheme="gray",
                ),
                width="100%",
                spacing="3",
            ),
            rx.cond(
                VerifyRecordState.message != "",
                rx.callout(
                    VerifyRecordState.message,
                    icon="circle-help",
                    color_scheme="amber",
                    role="alert",
                    width="100%",
                ),
            ),
        ),
    )
