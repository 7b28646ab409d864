"""个人中心 tabs: 个人信息 form, 实名认证, 数字证书 (the doctor's identity)."""

from __future__ import annotations

import reflex as rx

from his_portal.components.error_callout import error_callout
from his_portal.services.identity import idcard
from his_portal.state import AuthState
from his_portal.states.profile import ProfileState

__all__ = ["account_details", "certificate_tab", "info_tab", "verification_tab"]


def _field(label: str, key: str, control: rx.Component, required: bool = True):
    return rx.el.div(
        rx.el.label(
            ("* " if required else "") + label + ":",
            html_for=f"pf-{key}",
            class_name="form-label",
        ),
        rx.vstack(
            control,
            rx.cond(
                ProfileState.errors.contains(key),
                rx.text(
                    ProfileState.errors[key],
                    class_name="field-error",
                    id=f"pf-{key}-error",
                    role="alert",
                ),
            ),
            spacing="1",
            width="100%",
        ),
        class_name="form-row",
    )


def _input(key: str, **props) -> rx.Component:
    return rx.input(
        id=f"pf-{key}",
        name=key,
        value=ProfileState.form[key],
        on_change=lambda value: ProfileState.set_field(key, value),
        aria_invalid=rx.cond(ProfileState.errors.contains(key), "true", "false"),
        aria_describedby=f"pf-{key}-error",
        width="100%",
        **props,
    )


def info_tab() -> rx.Component:
    id_type = rx.el.select(
        *(rx.el.option(label, value=key) for key, label in idcard.ID_TYPES.items()),
        id="pf-id_type",
        name="id_type",
        value=ProfileState.form["id_type"],
        on_change=lambda value: ProfileState.set_field("id_type", value),
        class_name="native-select",
    )
    number_hint = rx.cond(
        ProfileState.id_masked != "",
        "已保存：" + ProfileState.id_masked + "（不修改请留空）",
        "请输入证件号码",
    )
    return rx.form(
        rx.vstack(
            _field("姓名", "name", _input("name", auto_complete="name")),
            _field("证件类型", "id_type", id_type),
            _field(
                "证件号码", "id_number", _input("id_number", placeholder=number_hint)
            ),
            _field("联系邮箱", "email", _input("email", type="email"), required=False),
            _field("联系手机", "mobile", _input("mobile", type="tel")),
            rx.text("强烈建议使用自己实名认证的手机号码", class_name="form-hint"),
            _field("详细地址", "address", _input("address"), required=False),
            rx.text(
                "必须正确完整地填写个人信息，才能进行下一步实名认证",
                class_name="form-hint",
            ),
            rx.button("保存", type="submit", color_scheme="green", margin_left="110px"),
            spacing="3",
            max_width="560px",
        ),
        on_submit=ProfileState.save,
    )


def verification_tab() -> rx.Component:
    verified = ProfileState.status == "verified"
    return rx.vstack(
        rx.hstack(
            rx.text("实名认证状态:"),
            rx.badge(
                ProfileState.status_label,
                size="2",
                color_scheme=rx.cond(verified, "green", "gray"),
            ),
            rx.cond(
                verified,
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button("解除", variant="soft", color_scheme="red")
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("解除实名认证"),
                        rx.alert_dialog.description(
                            "解除后您的数字证书将被吊销，电子签名将关闭；再次签名前需重新实名认证。"
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(rx.button("取消", variant="soft")),
                            rx.alert_dialog.action(
                                rx.button(
                                    "确认解除",
                                    color_scheme="red",
                                    on_click=ProfileState.revoke,
                                )
                            ),
                            justify="end",
                            spacing="3",
                            margin_top="16px",
                        ),
                    ),
                ),
            ),
            align="center",
            spacing="3",
        ),
        rx.cond(
            verified,
            rx.text(
                "认证时间：" + ProfileState.verified_at, color_scheme="gray", size="2"
            ),
        ),
        rx.cond(
            ~verified,
            rx.vstack(
                rx.button(
                    "一键实名认证",
                    color_scheme="green",
                    size="3",
                    disabled=~ProfileState.complete
                    | (ProfileState.status == "pending_review"),
                    on_click=ProfileState.verify,
                ),
                rx.text(
                    "个人信息填写完成后, 点击此按钮一键完成实名认证",
                    size="2",
                    color_scheme="gray",
                ),
                rx.cond(
                    ~ProfileState.complete,
                    rx.text(
                        "必须正确完整地填写个人信息，才能进行下一步实名认证",
                        class_name="field-error",
                    ),
                ),
                rx.link(
                    "其他方式认证 →",
                    href="#",
                    on_click=ProfileState.request_review,
                    aria_disabled=rx.cond(ProfileState.complete, "false", "true"),
                ),
                rx.text(
                    "也可以选择其他方式认证, 不主推（提交后由系统管理员人工审核）",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="2",
            ),
        ),
        error_callout(ProfileState.failure),
        spacing="4",
    )


def _cert_item(label: str, key: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label), rx.data_list.value(ProfileState.cert[key])
    )


def certificate_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(
            ProfileState.cert.contains("serial"),
            rx.data_list.root(
                _cert_item("证书主题", "subject"),
                _cert_item("颁发者", "issuer"),
                _cert_item("序列号", "serial"),
                _cert_item("生效时间", "not_before"),
                _cert_item("到期时间", "not_after"),
                _cert_item("状态", "status"),
                _cert_item("SHA-256 指纹", "fingerprint"),
            ),
            rx.text(
                "尚无有效的数字证书：实名认证通过后自动签发。", color_scheme="gray"
            ),
        ),
        rx.hstack(
            rx.button(
                "下载我的证书",
                variant="soft",
                on_click=ProfileState.download_certificate,
                disabled=~ProfileState.cert.contains("serial"),
            ),
            rx.button(
                "下载本院CA证书", variant="soft", on_click=ProfileState.download_ca
            ),
            spacing="3",
        ),
        spacing="4",
    )


def account_details() -> rx.Component:
    def item(label: str, value) -> rx.Component:
        return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))

    return rx.data_list.root(
        item("姓名", AuthState.user_name),
        item("账号", AuthState.user_login),
        item("角色", AuthState.role_label),
        item("分院", AuthState.clinic_name),
    )
