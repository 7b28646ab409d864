"""个人中心: 个人信息 · 实名认证 · 数字证书 · 签名状态通知 · 个性设置 (doctors);
account details for the other roles."""

from __future__ import annotations

import reflex as rx

from his_portal import db, deps
from his_portal.components.seal_editor import seal_settings_tab
from his_portal.models import Role
from his_portal.pages.seal_settings import SealState
from his_portal.services import certificates, idcard, identity, pki, verification
from his_portal.services.audit import Actor
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.template import template

FIELDS = ("name", "id_type", "id_number", "email", "mobile", "address")
STATUS_LABELS = {
    "unverified": "未验证",
    "pending_review": "人工审核中",
    "verified": "通过",
}


def _local(moment) -> str:
    return moment.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M") if moment else ""


class ProfileState(AuthState):
    form: dict[str, str] = dict.fromkeys(FIELDS, "") | {"id_type": "resident"}
    errors: dict[str, str] = {}
    id_masked: str = ""
    mobile_masked: str = ""
    status: str = "unverified"
    verified_at: str = ""
    verified_via: str = ""
    complete: bool = False
    notice: str = ""
    failure: str = ""
    cert: dict[str, str] = {}

    @rx.var
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @rx.event
    def set_field(self, name: str, value: str):
        self.form[name] = value
        self.errors.pop(name, None)

    def _actor(self, user) -> Actor:
        ip, agent = self._client()
        return Actor(user.id, user.login_id, ip, agent)

    def _show_profile(self, view: identity.ProfileView) -> None:
        self.form = {
            "name": view.name,
            "id_type": view.id_type,
            "id_number": "",
            "email": view.email,
            "mobile": view.mobile,
            "address": view.address,
        }
        self.id_masked, self.mobile_masked = view.id_number_masked, view.mobile_masked
        self.status, self.complete = view.status, view.complete
        self.verified_at, self.verified_via = (
            _local(view.verified_at),
            view.verified_via,
        )

    def _show_certificate(self, session, user_id: int) -> None:
        row = certificates.active_certificate(session=session, user_id=user_id)
        if row is None:
            self.cert = {}
            return
        info = pki.certificate_info(row.cert_pem.encode())
        self.cert = {
            "subject": info.subject,
            "issuer": info.issuer,
            "serial": info.serial_hex,
            "not_before": _local(info.not_before),
            "not_after": _local(info.not_after),
            "fingerprint": info.sha256_fingerprint,
            "status": "有效",
        }

    def _refresh(self, user) -> None:
        with db.session() as session:
            self._show_profile(identity.get_profile(session=session, user=user))
            self._show_certificate(session, user.id)

    @rx.event
    def on_load(self):
        user = self._require(Role.DOCTOR)
        if user is not None:
            self.notice = self.failure = ""
            self.errors = {}
            self._refresh(user)

    @rx.event
    def save(self, _form: dict):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        data = identity.ProfileInput(**{key: self.form.get(key, "") for key in FIELDS})
        self.notice = self.failure = ""
        try:
            with db.session() as session:
                was = self.status
                view = identity.save_profile(
                    session=session,
                    user=user,
                    data=data,
                    kek=deps.kek(),
                    actor=self._actor(user),
                )
        except identity.ProfileInvalid as exc:
            self.errors, self.failure = exc.errors, exc.message
            return None
        self.errors = {}
        self._refresh(user)
        ended = was != "unverified" and view.status == "unverified"
        self.notice = "已保存。证件信息已变更，请重新实名认证" if ended else "已保存"
        return [rx.toast.success(self.notice), SealState.on_load]

    @rx.event
    def verify(self):
        return self._identity_action(
            lambda session, user: verification.verify(
                session=session,
                user=user,
                provider=deps.identity_provider(),
                context=deps.issue_context(self._actor(user), user.clinic_name),
            ),
            "实名认证通过，数字证书已签发",
        )

    @rx.event
    def revoke(self):
        return self._identity_action(
            lambda session, user: verification.revoke_verification(
                session=session, user=user, actor=self._actor(user)
            ),
            "已解除实名认证，数字证书已吊销",
        )

    @rx.event
    def request_review(self):
        return self._identity_action(
            lambda session, user: verification.request_review(
                session=session, user=user, actor=self._actor(user)
            ),
            "已提交人工审核，请等待系统管理员审核",
        )

    def _identity_action(self, action, success: str):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        self.notice = self.failure = ""
        try:
            with db.session() as session:
                action(session, user)
        except (identity.IdentityError, pki.PkiError) as exc:
            self.failure = exc.message
            return rx.toast.error(exc.message)
        self._refresh(user)
        self.notice = success
        # 个性设置 depends on the verification state: refresh it too.
        return [rx.toast.success(success), SealState.on_load]

    @rx.event
    def download_certificate(self):
        user = self._require(Role.DOCTOR)
        if user is None or not self.cert:
            return rx.toast.error("当前没有有效的数字证书")
        with db.session() as session:
            row = certificates.active_certificate(session=session, user_id=user.id)
            if row is None:
                return rx.toast.error("当前没有有效的数字证书")
            return rx.download(data=row.cert_pem, filename=f"{user.login_id}.crt")

    @rx.event
    def download_ca(self):
        if self._require() is None:
            return AuthState.guard
        with db.session() as session:
            pem = certificates.ca_certificate_pem(session=session)
        return rx.download(data=pem.decode(), filename="clinic-ca.crt")


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
        rx.cond(
            ProfileState.failure != "",
            rx.callout(
                ProfileState.failure,
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
            ),
        ),
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


def _account() -> rx.Component:
    def item(label: str, value) -> rx.Component:
        return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))

    return rx.data_list.root(
        item("姓名", AuthState.user_name),
        item("账号", AuthState.user_login),
        item("角色", AuthState.role_label),
        item("分院", AuthState.clinic_name),
    )


def _later(text: str) -> rx.Component:
    return rx.text(text, color_scheme="gray")


@template("个人中心")
def profile_page() -> rx.Component:
    tabs = rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("个人信息", value="info"),
            rx.tabs.trigger("实名认证", value="verify"),
            rx.tabs.trigger("数字证书", value="cert"),
            rx.tabs.trigger("签名状态通知", value="notify"),
            rx.tabs.trigger("个性设置", value="settings"),
        ),
        rx.tabs.content(info_tab(), value="info", padding_top="20px"),
        rx.tabs.content(verification_tab(), value="verify", padding_top="20px"),
        rx.tabs.content(certificate_tab(), value="cert", padding_top="20px"),
        rx.tabs.content(
            _later("签名状态通知将在签名功能上线后提供。"),
            value="notify",
            padding_top="20px",
        ),
        rx.tabs.content(seal_settings_tab(), value="settings", padding_top="20px"),
        default_value="info",
    )
    return rx.cond(AuthState.user_role == Role.DOCTOR, tabs, _account())
