"""个人中心 state: 个人信息, 实名认证 and 数字证书 handlers for doctors.

一键实名认证 asks the identity provider and generates the doctor's key pair: it runs
in a worker thread, so the event loop keeps serving everyone else meanwhile.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db, deps
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services.identity import profile as identity
from his_portal.services.identity import verification
from his_portal.services.pki import authority as pki
from his_portal.services.pki import certificates
from his_portal.settings import clinic_zone
from his_portal.state import AuthState
from his_portal.states.seals import SealState

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
        except HisError as exc:
            self.errors, self.failure = exc.errors, exc.message
            return None
        self.errors = {}
        self._refresh(user)
        ended = was != "unverified" and view.status == "unverified"
        self.notice = "已保存。证件信息已变更，请重新实名认证" if ended else "已保存"
        return [rx.toast.success(self.notice), SealState.on_load]

    @rx.event
    async def verify(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        self.notice = self.failure = ""
        provider = deps.identity_provider()
        context = deps.issue_context(self._actor(user), user.clinic_name)

        def verify_in_session() -> None:
            with db.session() as session:
                verification.verify(
                    session=session, user=user, provider=provider, context=context
                )

        try:
            await asyncio.to_thread(verify_in_session)
        except HisError as exc:
            return self._failed(exc)
        return self._succeeded(user, "实名认证通过，数字证书已签发")

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
        except HisError as exc:
            return self._failed(exc)
        return self._succeeded(user, success)

    def _failed(self, exc: identity.IdentityError | pki.PkiError):
        self.failure = exc.message
        return rx.toast.error(exc.message)

    def _succeeded(self, user, success: str):
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
