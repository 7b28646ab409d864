"""The signing flow behind 签名 / 批量签名: 意愿校验 (SMS code or QR + face check on
the phone), then the 签署 dialog (seal, preview), then the batch in the background."""

from __future__ import annotations

import asyncio
import base64
import io
from datetime import datetime

import qrcode
import reflex as rx
from sqlmodel import select

from his_portal import db, deps
from his_portal.models import MedicalRecord, Role
from his_portal.services import (
    record_signing,
    seals,
    willingness,
    willingness_qr,
    willingness_sms,
)
from his_portal.services.audit import Actor
from his_portal.services.documents import render_preview_png, render_record_pdf
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState


def _png_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _qr_url(text: str) -> str:
    out = io.BytesIO()
    qrcode.make(text, box_size=6, border=2).save(out, format="PNG")
    return _png_url(out.getvalue())


class SignFlowState(AuthState):
    step: str = ""
    record_ids: list[int] = []
    method: str = "sms"
    confirmation_id: int = 0
    mobile_masked: str = ""
    code: str = ""
    resend_in: int = 0
    message: str = ""
    qr_image: str = ""
    seal_choice: str = "system"
    has_personal_seal: bool = False
    signer_name: str = ""
    index: int = 0
    file_names: list[str] = []
    preview: str = ""
    done: int = 0
    results: list[dict[str, str]] = []
    cancel_requested: bool = False

    def _actor(self, user) -> Actor:
        ip, agent = self._client()
        return Actor(user.id, user.login_id, ip, agent)

    def _bound(self, step, user, **extra):
        """Call a 意愿校验 step bound to this confirmation, doctor and login session."""
        with db.session() as session:
            return step(
                session,
                confirmation_id=self.confirmation_id,
                user=user,
                session_token=self.token,
                secret=deps.willingness_secret(),
                **extra,
            )

    def _start(self, user, method: str) -> None:
        with db.session() as session:
            started = willingness.start(
                session,
                user=user,
                session_token=self.token,
                method=method,
                record_ids=self.record_ids,
                secret=deps.willingness_secret(),
            )
        self.confirmation_id, self.method = started.confirmation_id, method
        self.mobile_masked, self.code, self.message = started.mobile_masked, "", ""
        self.qr_image, self.resend_in = "", 0

    @rx.event
    def begin(self, record_ids: list[int]):
        """签名 (one row) or 批量签名 (the ticked rows): open 意愿校验."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if not record_ids:
            return rx.toast.warning("请先勾选要签名的病历")
        self.record_ids, self.results, self.done = list(record_ids), [], 0
        try:
            self._start(user, "sms")
        except willingness.WillingnessError as exc:
            return rx.toast.error(exc.message)
        self.step = "willing"
        return None

    @rx.event
    def set_method(self, method: str | list[str]):
        user = self._require(Role.DOCTOR)
        if user is None or method not in ("sms", "qr") or method == self.method:
            return None
        try:
            self._start(user, str(method))
        except willingness.WillingnessError as exc:
            self.message = exc.message
        return None

    @rx.event
    def set_code(self, value: str):
        self.code = value.strip()[:6]

    @rx.event
    def send_code(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            sent = self._bound(willingness_sms.send_code, user, sms=deps.sms_provider())
        except willingness.WillingnessError as exc:
            self.message, self.resend_in = exc.message, exc.retry_after
            return SignFlowState.tick if exc.retry_after else None
        self.message = f"验证码已发送至 {sent.mobile_masked}，5分钟内有效"
        self.resend_in = sent.resend_in
        return SignFlowState.tick

    @rx.event(background=True)
    async def tick(self):
        """The 60 s resend countdown."""
        while True:
            await asyncio.sleep(1)
            async with self:
                if self.resend_in <= 0 or self.step != "willing":
                    return
                self.resend_in -= 1

    @rx.event
    def confirm_code(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if len(self.code) != 6 or not self.code.isdigit():
            self.message = "请输入6位数字验证码"
            return None
        try:
            self._bound(willingness_sms.check_code, user, code=self.code)
        except willingness.WillingnessError as exc:
            self.message = exc.message
            return None
        return self._to_signing(user)

    @rx.event
    def make_qr(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            issued = self._bound(
                willingness_qr.new_qr_token, user, public_url=get_settings().public_url
            )
        except willingness.WillingnessError as exc:
            self.message = exc.message
            return None
        self.qr_image, self.message = (
            _qr_url(issued.url),
            "请用手机微信扫码，在手机上完成人脸识别",
        )
        return SignFlowState.watch_qr

    @rx.event(background=True)
    async def watch_qr(self):
        """Move on by itself when the phone confirms."""
        for _ in range(200):
            await asyncio.sleep(1.5)
            async with self:
                if self.step != "willing" or self.method != "qr":
                    return
                user = self._require(Role.DOCTOR)
                if user is None:
                    return
                view = self._bound(willingness.confirmation_status, user)
                if view.status == "confirmed":
                    self._to_signing(user)
                    return
                if view.status in ("failed", "expired", "cancelled"):
                    self.message = "二维码已失效，请点击重新生成"
                    return

    def _to_signing(self, user):
        with db.session() as session:
            seal = seals.current_seal(session=session, user_id=user.id)
            records = session.exec(
                select(MedicalRecord).where(MedicalRecord.id.in_(self.record_ids))
            ).all()
            names = {}
            for record in records:
                doc = record_signing.record_document(
                    session=session,
                    record=record,
                    zone=clinic_zone(),
                    doctor_name=user.display_name,
                )
                stamp = datetime.now(clinic_zone()).strftime("%Y%m%d%H%M%S")
                names[record.id] = (
                    f"{stamp}_{doc.patient_name}_{doc.record_no}_{doc.title}"
                )
        self.has_personal_seal = seal is not None
        self.seal_choice = "personal" if seal is not None else "system"
        self.signer_name = user.display_name
        self.file_names = [names.get(i, "") for i in self.record_ids]
        self.step, self.index, self.message = "sign", 0, ""
        self._render_preview(user)

    def _render_preview(self, user) -> None:
        record_id = self.record_ids[self.index]
        data_dir = get_settings().data_dir
        with db.session() as session:
            record = session.get(MedicalRecord, record_id)
            doc = record_signing.record_document(
                session=session,
                record=record,
                zone=clinic_zone(),
                doctor_name=user.display_name,
            )
            if self.seal_choice == "personal":
                seal = seals.current_seal(session=session, user_id=user.id)
                png = seals.read_seal(
                    session=session, user=user, seal_id=seal.id, data_dir=data_dir
                )
            else:
                png = seals.system_seal_png(user.display_name)
        pdf = render_record_pdf(
            doc, seal_png=png, signer_name=user.display_name, signed_at="（签署时生成）"
        )
        self.preview = _png_url(render_preview_png(pdf, dpi=80)[0])

    @rx.event
    def choose_seal(self, value: str | list[str]):
        user = self._require(Role.DOCTOR)
        if user is None or value not in ("personal", "system"):
            return None
        if value == "personal" and not self.has_personal_seal:
            return rx.toast.error("尚未设置个性签章")
        self.seal_choice = str(value)
        self._render_preview(user)
        return None

    @rx.event
    def move(self, step: int):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        self.index = max(0, min(len(self.record_ids) - 1, self.index + step))
        self._render_preview(user)
        return None

    @rx.event
    def close(self):
        if self.step == "running":
            return rx.toast.warning("正在签署，请等待完成或点击停止")
        self.step, self.preview, self.qr_image = "", "", ""
        return None

    @rx.event
    def sign(self):
        """签署: spend the confirmation, then sign in the background."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            self._bound(willingness.consume, user, record_ids=self.record_ids)
        except willingness.WillingnessError as exc:
            self.message = exc.message
            return None
        self.step, self.done, self.results, self.cancel_requested = (
            "running",
            0,
            [],
            False,
        )
        return SignFlowState.run_batch

    @rx.event
    def stop(self):
        self.cancel_requested = True

    @rx.event(background=True)
    async def run_batch(self):
        """One record at a time, each in its own transaction; CPU work in a thread so
        the UI and other users stay responsive; failures do not stop the batch."""
        async with self:
            user = self._require(Role.DOCTOR)
            actor = self._actor(user) if user else Actor()
            ids, choice = list(self.record_ids), self.seal_choice
            method, confirmation = self.method, self.confirmation_id
        if user is None:
            return
        settings = get_settings()
        try:
            with db.session() as session:
                kit = record_signing.load_signer(
                    session=session,
                    user=user,
                    kek=deps.kek(),
                    now=datetime.now(clinic_zone()),
                    tsa_url=settings.tsa_url,
                )
        except record_signing.SigningRefused as exc:
            async with self:
                self.step, self.message = "done", exc.message
            return
        for record_id in ids:
            async with self:
                if self.cancel_requested:
                    self.results.append(
                        {
                            "record": str(record_id),
                            "ok": "",
                            "message": "已停止，未签署",
                        }
                    )
                    continue

            def work(record_id=record_id):
                with db.session() as session:
                    try:
                        return record_signing.sign_record(
                            session=session,
                            kit=kit,
                            record_id=record_id,
                            seal_choice=choice,
                            method=method,
                            confirmation_id=confirmation,
                            data_dir=settings.data_dir,
                            amend_days=settings.amend_days,
                            zone=clinic_zone(),
                            actor=actor,
                        )
                    except (record_signing.SigningRefused, OSError) as exc:
                        message = getattr(exc, "message", "保存签名文件失败")
                        return record_signing.SignOutcome(
                            record_id, "", "", False, message
                        )

            outcome = await asyncio.to_thread(work)
            async with self:
                self.done += 1
                self.results.append(
                    {
                        "record": f"{outcome.patient_name} {outcome.record_no}".strip()
                        or str(record_id),
                        "ok": "1" if outcome.ok else "",
                        "message": outcome.message,
                    }
                )
        async with self:
            self.step = "done"
        from his_portal.pages.workbench_state import WorkbenchState

        yield WorkbenchState.after_signing
