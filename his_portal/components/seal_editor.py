"""The 个性设置 tab: 签章信息 table, seal editor dialog, 系统签名, 电子签名 switch."""

from __future__ import annotations

import reflex as rx

from his_portal.components.data_table import data_table
from his_portal.components.error_callout import error_callout
from his_portal.components.labelled_slider import labelled_slider
from his_portal.states.seals import PAD_ID, UPLOAD_ID, SealState

ACCEPT = {
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/webp": [".webp"],
}


def _preview(title: str, url, checker: bool = False) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="2", color_scheme="gray"),
        rx.box(
            rx.cond(
                url != "",
                rx.image(src=url, alt=title, max_width="100%", max_height="180px"),
            ),
            class_name="seal-preview checker" if checker else "seal-preview",
        ),
        width="100%",
    )


def _name_file_input(upload: rx.Component, name: str) -> rx.Component:
    """rx.upload renders its own <input type="file"> and takes no props for it:
    give it an accessible name (axe: label)."""
    for child in upload.children:
        if getattr(child, "tag", None) == "input":
            child.custom_attrs["aria-label"] = name
        else:
            _name_file_input(child, name)
    return upload


def _photo_panel() -> rx.Component:
    upload = rx.upload.root(
        rx.vstack(
            rx.icon("camera", size=28, aria_hidden="true"),
            rx.text("点击选择或拖入签名照片（JPG、PNG、WebP，不超过10MB）"),
            align="center",
        ),
        id=UPLOAD_ID,
        accept=ACCEPT,
        max_files=1,
        multiple=False,
        on_drop=SealState.handle_upload(
            rx.upload_files(
                upload_id=UPLOAD_ID, on_upload_progress=SealState.upload_progress
            )
        ),
        class_name="seal-drop",
        aria_label="上传签名照片",
    )
    return rx.vstack(
        _name_file_input(upload, "上传签名照片"),
        rx.progress(
            value=SealState.progress, max=100, aria_label="上传进度", width="100%"
        ),
        width="100%",
    )


def _pad_panel() -> rx.Component:
    return rx.vstack(
        rx.el.canvas(
            id=PAD_ID,
            width="720",
            height="260",
            data_signature_pad="1",
            class_name="signature-pad",
            aria_label="签名板：用鼠标或手指书写",
        ),
        rx.hstack(
            rx.button(
                "清除",
                variant="soft",
                on_click=rx.call_script(f"window.hisPad.clear('{PAD_ID}')"),
            ),
            rx.button(
                "使用手写签名",
                on_click=rx.call_script(
                    f"window.hisPad.data('{PAD_ID}')", callback=SealState.save_pad
                ),
            ),
        ),
        width="100%",
    )


def _controls() -> rx.Component:
    return rx.hstack(
        rx.hstack(
            rx.text("笔迹强度", id="seal-strength-label", size="2"),
            labelled_slider(
                labelled_by="seal-strength-label",
                default=50,
                min=0,
                max=100,
                width="140px",
                on_value_commit=SealState.set_strength,
            ),
            align="center",
        ),
        rx.hstack(
            rx.el.label("笔迹颜色", html_for="seal-ink", font_size="14px"),
            rx.el.select(
                *(
                    rx.el.option(label, value=key)
                    for key, label in SealState.INK_CHOICES.items()
                ),
                id="seal-ink",
                value=SealState.ink,
                on_change=SealState.set_ink,
                class_name="native-select",
                width="110px",
            ),
            align="center",
        ),
        rx.button(
            rx.icon("rotate-ccw", size=16),
            "左转",
            variant="soft",
            on_click=SealState.turn(270),
            aria_label="向左旋转90度",
        ),
        rx.button(
            rx.icon("rotate-cw", size=16),
            "右转",
            variant="soft",
            on_click=SealState.turn(90),
            aria_label="向右旋转90度",
        ),
        rx.checkbox("裁剪到签名", checked=SealState.crop, on_change=SealState.set_crop),
        wrap="wrap",
        spacing="4",
        align="center",
    )


def seal_editor() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("设置个性签章"),
            rx.dialog.description(
                "在白纸上用深色笔写下姓名后拍照上传，系统自动去除背景；也可以直接在签名板上书写。",
                size="2",
            ),
            rx.tabs.root(
                rx.tabs.list(
                    rx.tabs.trigger("拍照上传", value="photo"),
                    rx.tabs.trigger("手写签名板", value="pad"),
                ),
                rx.tabs.content(_photo_panel(), value="photo", padding_y="12px"),
                rx.tabs.content(_pad_panel(), value="pad", padding_y="12px"),
                default_value="photo",
            ),
            error_callout(SealState.error),
            rx.grid(
                _preview("原图", SealState.original_url),
                _preview("去除背景后（透明背景）", SealState.result_url, checker=True),
                columns="2",
                spacing="3",
                width="100%",
            ),
            _controls(),
            rx.hstack(
                rx.button("取消", variant="soft", on_click=SealState.close_editor),
                rx.button(
                    "保存",
                    color_scheme="green",
                    on_click=SealState.save,
                    disabled=SealState.result_url == "",
                ),
                justify="end",
                spacing="3",
                width="100%",
            ),
            max_width="820px",
        ),
        open=SealState.editor_open,
        on_open_change=SealState.set_editor_open,
    )


def _seal_table() -> rx.Component:
    personal = rx.cond(
        SealState.seal_url != "",
        rx.image(
            src=SealState.seal_url, alt="个性签章", height="60px", class_name="checker"
        ),
        rx.text("未设置", color_scheme="gray"),
    )
    actions = rx.cond(
        SealState.seal_url != "",
        rx.hstack(
            rx.button("更换", size="1", on_click=SealState.open_editor),
            rx.button(
                "删除",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=SealState.delete,
            ),
        ),
        rx.button(
            "设置个性签章",
            size="1",
            color_scheme="green",
            on_click=SealState.open_editor,
        ),
    )
    system = rx.image(
        src=SealState.system_url, alt="系统签名", height="60px", class_name="checker"
    )
    always = rx.text("始终可用", size="1", color_scheme="gray")
    return data_table(
        "签章信息",
        ("签章", "个性签章", "操作"),
        (("个性签章", personal, actions), ("系统签名", system, always)),
        lambda row: row,
        max_width="640px",
    )


def seal_settings_tab() -> rx.Component:
    return rx.cond(
        SealState.verified,
        rx.vstack(
            rx.heading("签章信息", size="3", as_="h3"),
            _seal_table(),
            rx.text(
                "个性签章制作小tips：在白纸上用深色笔写好姓名，拍照上传即可，"
                "系统会自动去除背景，无需借助其他网站。",
                size="2",
                color_scheme="gray",
            ),
            rx.heading("其他设置", size="3", as_="h3", margin_top="12px"),
            rx.hstack(
                rx.text("电子签名", id="esign-label"),
                rx.switch(
                    checked=SealState.esign,
                    on_change=SealState.set_esign,
                    aria_labelledby="esign-label",
                    color_scheme="green",
                ),
                rx.text(
                    rx.cond(SealState.esign, "已开启", "未开启"),
                    size="2",
                    color_scheme="gray",
                ),
                align="center",
                spacing="3",
            ),
            seal_editor(),
            spacing="3",
            width="100%",
        ),
        rx.callout("完成实名认证后请继续完成个性签章的设置", icon="info"),
    )
