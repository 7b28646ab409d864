"""签名动作真实意愿校验 and 签署 dialogs, and the batch progress."""

from __future__ import annotations

import reflex as rx

from his_portal.components.error_callout import error_callout
from his_portal.services.willingness.core import QR_TTL
from his_portal.states.sign_flow import SignFlowState

QR_MINUTES = int(QR_TTL.total_seconds() // 60)
WHY = "意愿校验是证明病历的签署是得到您自己知晓和认可的，而不是被盗用的。"


def _sms_panel() -> rx.Component:
    return rx.vstack(
        rx.text("方式1 短信方式签署", weight="bold"),
        rx.text(
            "验证码将发送至您实名认证的手机：" + SignFlowState.mobile_masked, size="2"
        ),
        rx.hstack(
            rx.el.label("验证码", html_for="otp-code", class_name="sr-only"),
            rx.input(
                id="otp-code",
                placeholder="6位验证码",
                value=SignFlowState.code,
                on_change=SignFlowState.set_code,
                max_length=6,
                input_mode="numeric",
                auto_complete="one-time-code",
                width="140px",
            ),
            rx.button(
                rx.cond(
                    SignFlowState.resend_in > 0,
                    f"{SignFlowState.resend_in}秒后重新获取",
                    "获取验证码",
                ),
                variant="soft",
                disabled=SignFlowState.resend_in > 0,
                on_click=SignFlowState.send_code,
            ),
            rx.button(
                "确认", color_scheme="green", on_click=SignFlowState.confirm_code
            ),
            spacing="3",
            align="center",
        ),
        rx.text(
            "ⓘ 您登记的手机号码是必须本人实名认证。", size="1", color_scheme="gray"
        ),
        spacing="2",
    )


def _qr_panel() -> rx.Component:
    return rx.vstack(
        rx.text("方式2 微信人脸识别认证", weight="bold"),
        rx.cond(
            SignFlowState.qr_image != "",
            rx.vstack(
                rx.image(
                    src=SignFlowState.qr_image, alt="签名确认二维码", width="180px"
                ),
                rx.button(
                    "点击重新生成", variant="soft", on_click=SignFlowState.make_qr
                ),
                align="center",
            ),
            rx.button(
                "点击生成二维码", color_scheme="green", on_click=SignFlowState.make_qr
            ),
        ),
        rx.text(
            f"ⓘ 请用手机微信扫码。二维码{QR_MINUTES}分钟内有效，"
            "手机确认后本窗口自动进入签署。",
            size="1",
            color_scheme="gray",
        ),
        spacing="2",
    )


def willingness_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("签名动作真实意愿校验"),
            rx.dialog.description(
                f"即将签署 {SignFlowState.record_count} 份病历。" + WHY, size="2"
            ),
            rx.tabs.root(
                rx.tabs.list(
                    rx.tabs.trigger("短信方式签署", value="sms"),
                    rx.cond(
                        SignFlowState.qr_available,
                        rx.tabs.trigger("微信人脸识别认证", value="qr"),
                    ),
                ),
                rx.tabs.content(_sms_panel(), value="sms", padding_y="12px"),
                rx.tabs.content(_qr_panel(), value="qr", padding_y="12px"),
                value=SignFlowState.method,
                on_change=SignFlowState.set_method,
            ),
            rx.cond(
                SignFlowState.message != "",
                rx.callout(SignFlowState.message, icon="info", role="status"),
            ),
            rx.hstack(
                rx.button("取消", variant="soft", on_click=SignFlowState.close),
                justify="end",
                width="100%",
            ),
            max_width="560px",
        ),
        open=SignFlowState.step == "willing",
    )


def _progress() -> rx.Component:
    total = SignFlowState.record_ids.length()
    return rx.vstack(
        rx.text(f"签署进度：{SignFlowState.done} / {total}", aria_live="polite"),
        rx.progress(
            value=SignFlowState.done, max=total, width="100%", aria_label="签署进度"
        ),
        rx.foreach(
            SignFlowState.results,
            lambda r: rx.hstack(
                rx.icon(
                    rx.cond(r["ok"] != "", "circle-check", "circle-x"),
                    size=16,
                    color=rx.cond(r["ok"] != "", "green", "red"),
                ),
                rx.text(r["record"] + "：" + r["message"], size="2"),
                align="center",
            ),
        ),
        width="100%",
    )


def signing_dialog() -> rx.Component:
    running = SignFlowState.step == "running"
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("电子签"),
            rx.text("签约主体：" + SignFlowState.signer_name, weight="medium"),
            rx.text("文件签署", size="2", color_scheme="gray"),
            rx.text(SignFlowState.file_names[SignFlowState.index], size="2"),
            rx.text("1.选择签章", weight="bold", margin_top="8px"),
            rx.radio_group.root(
                rx.hstack(
                    rx.radio_group.item(
                        value="personal",
                        id="seal-personal",
                        disabled=~SignFlowState.has_personal_seal,
                    ),
                    rx.el.label("个性签章", html_for="seal-personal"),
                    rx.radio_group.item(value="system", id="seal-system"),
                    rx.el.label("系统签名", html_for="seal-system"),
                    spacing="2",
                    align="center",
                ),
                value=SignFlowState.seal_choice,
                on_change=SignFlowState.choose_seal,
                aria_label="选择签章",
                disabled=running,
            ),
            rx.text("2.签署内容的预览", weight="bold", margin_top="8px"),
            rx.box(
                rx.cond(
                    SignFlowState.preview != "",
                    rx.image(
                        src=SignFlowState.preview, alt="签署内容预览", width="100%"
                    ),
                ),
                class_name="sign-preview",
                # It scrolls: keyboard users must be able to focus it.
                tab_index=0,
                role="region",
                aria_label="签署内容预览区",
            ),
            rx.hstack(
                rx.button(
                    "上一份",
                    variant="soft",
                    on_click=SignFlowState.move(-1),
                    disabled=SignFlowState.index <= 0,
                ),
                rx.text(
                    f"{SignFlowState.index + 1} / {SignFlowState.record_ids.length()}"
                ),
                rx.button(
                    "下一份",
                    variant="soft",
                    on_click=SignFlowState.move(1),
                    disabled=SignFlowState.index
                    >= SignFlowState.record_ids.length() - 1,
                ),
                justify="center",
                width="100%",
                align="center",
            ),
            rx.cond(
                (SignFlowState.step == "running") | (SignFlowState.step == "done"),
                _progress(),
            ),
            error_callout(SignFlowState.message),
            rx.hstack(
                rx.cond(
                    running,
                    rx.hstack(
                        rx.button(
                            "停止",
                            variant="soft",
                            color_scheme="red",
                            on_click=SignFlowState.stop,
                        ),
                        rx.button("关闭", variant="soft", on_click=SignFlowState.close),
                        spacing="3",
                    ),
                    rx.button(
                        rx.cond(SignFlowState.step == "done", "关闭", "撤销"),
                        variant="soft",
                        on_click=SignFlowState.close,
                    ),
                ),
                rx.cond(
                    SignFlowState.step == "sign",
                    rx.button(
                        "签署", color_scheme="green", on_click=SignFlowState.sign
                    ),
                ),
                justify="end",
                spacing="3",
                width="100%",
            ),
            max_width="720px",
        ),
        open=(SignFlowState.step == "sign") | running | (SignFlowState.step == "done"),
    )


def sign_dialogs() -> rx.Component:
    return rx.fragment(willingness_dialog(), signing_dialog())
