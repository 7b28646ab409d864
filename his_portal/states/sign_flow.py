"""The signing flow behind 签名 / 批量签名: 意愿校验 (SMS code or QR + face check on
the phone), then the 签署 dialog (seal, preview), then the batch in the background.

Every handler here can be called by any client in any order: the state only carries
the confirmation id, and :mod:`his_portal.services.signing.batch` decides, from the
database, which records a confirmation covers and whether its step may run.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from his_portal import db, deps
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services.signing import batch as sign_batch
from his_portal.services.willingness import core as willingness
from his_portal.services.willingness import qr as willingness_qr
from his_portal.services.willingness import sms as willingness_sms
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState
from his_portal.states import sign_work
from his_portal.states.workbench import WorkbenchState

#: How often a running batch's progress is read back from the database.
FOLLOW_SECONDS = 0.5


class SignFlowState(AuthState):
    step: str = ""
    record_count: int = 0
    record_ids: list[int] = []
    method: str = "sms"
    qr_available: bool = False
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
    _batch_running: bool = False
    _preview_ticket: int = 0  # only the newest requested preview is shown

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

    def _reset(self) -> None:
        self.record_ids, self.file_names = [], []
        self.preview, self.qr_image, self.code, self.message = "", "", "", ""
        self.results, self.done, self.index, self.resend_in = [], 0, 0, 0

    def _start(self, user, method: str, record_ids) -> None:
        with db.session() as session:
            started = willingness.start(
                session,
                user=user,
                session_token=self.token,
                method=method,
                record_ids=record_ids,
                secret=deps.willingness_secret(),
            )
        self._reset()
        self.confirmation_id, self.method = started.confirmation_id, method
        self.record_count, self.mobile_masked = (
            started.record_count,
            started.mobile_masked,
        )

    def _started_ids(self, user) -> tuple[int, ...]:
        with db.session() as session:
            row, _ = willingness.load(
                session,
                self.confirmation_id,
                user,
                self.token,
                deps.willingness_secret(),
            )
            return willingness.record_ids_of(row)

    @rx.event
    def begin(self, record_ids: list[int]):
        """签名 (one row) or 批量签名 (the ticked rows): open 意愿校验."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if self._batch_running:
            return rx.toast.warning("正在签署，请等待完成或点击停止")
        if not record_ids:
            return rx.toast.warning("请先勾选要签名的病历")
        self.qr_available = deps.face_provider() is not None
        try:
            self._start(user, "sms", record_ids)
        except HisError as exc:
            return rx.toast.error(exc.message)
        self.step = "willing"
        return None

    @rx.event
    def set_method(self, method: str | list[str]):
        user = self._require(Role.DOCTOR)
        if user is None or self.step != "willing" or method == self.method:
            return None
        if method not in ("sms", "qr") or (method == "qr" and not self.qr_available):
            return None
        try:
            self._start(user, str(method), self._started_ids(user))
        except HisError as exc:
            self.message = exc.message
        return None

    @rx.event
    def set_code(self, value: str):
        self.code = value.strip()[:6] if isinstance(value, str) else ""

    @rx.event
    def send_code(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            sent = self._bound(willingness_sms.send_code, user, sms=deps.sms_provider())
        except HisError as exc:
            self.message, self.resend_in = exc.message, exc.retry_after
            return SignFlowState.tick if exc.retry_after else None
        minutes = int(willingness_sms.CODE_TTL.total_seconds() // 60)
        self.message = f"验证码已发送至 {sent.mobile_masked}，{minutes}分钟内有效"
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
        except HisError as exc:
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
                willingness_qr.new_qr_token,
                user,
                face=deps.face_provider(),
                public_url=get_settings().public_url,
            )
        except HisError as exc:
            self.message = exc.message
            return None
        self.qr_image, self.message = (
            sign_work.qr_url(issued.url),
            "请用手机微信扫码，在手机上完成人脸识别",
        )
        return SignFlowState.watch_qr

    @rx.event(background=True)
    async def watch_qr(self):
        """Move on by itself when the phone confirms; ends with the confirmation."""
        next_step = None
        while True:
            await asyncio.sleep(1.5)
            async with self:
                user = self._require(Role.DOCTOR)
                if user is None or self.step != "willing" or self.method != "qr":
                    return
                try:
                    view = self._bound(willingness.confirmation_status, user)
                except HisError:
                    return
                if view.status == "confirmed":
                    next_step = self._to_signing(user)
                    break
                if view.status != "pending":
                    self.message = "二维码已失效，请点击重新生成"
                    return
        if next_step is not None:
            yield next_step

    def _to_signing(self, user):
        try:
            with db.session() as session:
                shown = sign_batch.signing_view(
                    session,
                    user=user,
                    confirmation_id=self.confirmation_id,
                    session_token=self.token,
                    secret=deps.willingness_secret(),
                    zone=clinic_zone(),
                )
        except HisError as exc:
            self.message = exc.message
            return None
        self.record_ids, self.file_names = (
            list(shown.record_ids),
            list(shown.file_names),
        )
        self.has_personal_seal = shown.has_personal_seal
        self.seal_choice = "personal" if shown.has_personal_seal else "system"
        self.signer_name = shown.signer_name
        self.step, self.index, self.message, self.preview = "sign", 0, "", ""
        return SignFlowState.render_preview(0, self.seal_choice)

    def _preview_args(self, user, index: int, seal_choice: str) -> dict:
        return dict(
            user=user,
            confirmation_id=self.confirmation_id,
            session_token=self.token,
            secret=deps.willingness_secret(),
            index=index,
            seal_choice=seal_choice,
            data_dir=get_settings().data_dir,
            zone=clinic_zone(),
        )

    @rx.event(background=True)
    async def render_preview(self, index: int, seal_choice: str):
        """Render outside the state lock and off the event loop; the service renders
        only records of this doctor's confirmed confirmation."""
        async with self:
            user = self._require(Role.DOCTOR)
            if user is None or self.step != "sign":
                return
            args = self._preview_args(user, index, seal_choice)
            self._preview_ticket += 1
            ticket = self._preview_ticket
        try:
            png = await asyncio.to_thread(sign_work.render_preview_png, args)
        except HisError as exc:
            yield rx.toast.error(exc.message)
            return
        async with self:
            if ticket == self._preview_ticket and self.step == "sign":
                self.index, self.seal_choice = index, seal_choice
                self.preview = sign_work.png_url(png)

    @rx.event
    def choose_seal(self, value: str | list[str]):
        user = self._require(Role.DOCTOR)
        if user is None or self.step != "sign" or value not in ("personal", "system"):
            return None
        return SignFlowState.render_preview(self.index, str(value))

    @rx.event
    def move(self, step: int):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if self.step != "sign" or step not in (-1, 1):
            return None
        index = max(0, min(len(self.record_ids) - 1, self.index + step))
        return SignFlowState.render_preview(index, self.seal_choice)

    @rx.event
    def close(self):
        """Close the dialog; a running batch goes on in the signing workers."""
        if self._batch_running:
            self.step = ""
            return rx.toast.info("签署在后台继续，完成后会在 签名状态通知 中告诉您")
        self.step = ""
        self._reset()
        return None

    @rx.event
    def sign(self):
        """签署: spend the confirmation, then sign in the background."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if self.step != "sign" or self._batch_running:
            return None
        try:
            self._bound(willingness.consume, user, seal_choice=self.seal_choice)
        except HisError as exc:
            self.message = exc.message
            return None
        self.step, self.done, self.results = "running", 0, []
        return SignFlowState.run_batch

    @rx.event
    def stop(self):
        """停止: the records no worker has started on are not signed."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            sign_work.cancel_batch(user, self.confirmation_id)
        except HisError as exc:
            return rx.toast.error(exc.message)
        return None

    @rx.event(background=True)
    async def run_batch(self):
        """Queue the spent confirmation's records for the signing workers, then
        follow them. Safe to call directly: :func:`sign_batch.claim` refuses
        anything but this doctor's spent, not yet run confirmation, and runs it
        once."""
        async with self:
            user = self._require(Role.DOCTOR)
            if user is None or self._batch_running:
                return
            actor, token = self._actor(user), self.token
            confirmation_id = self.confirmation_id
        try:
            await asyncio.to_thread(
                sign_work.start_batch, user, confirmation_id, token, actor
            )
        except HisError as exc:
            async with self:
                self.message = exc.message
            return
        yield SignFlowState.follow_batch

    @rx.event(background=True)
    async def follow_batch(self):
        """Show the doctor's newest batch until it ends (also after a page reload)."""
        async with self:
            user = self._require(Role.DOCTOR)
            if user is None or self._batch_running:
                return
            self._batch_running = True
        try:
            finished = await self._follow(user)
        finally:
            async with self:
                self._batch_running = False
        if finished:
            yield WorkbenchState.after_signing

    async def _follow(self, user) -> bool:
        """Poll the batch until it ends; False when there was nothing to follow (no
        batch, or only one that had ended before this page looked)."""
        following = False
        while True:
            shown = await asyncio.to_thread(sign_work.latest_progress, user)
            async with self:
                following = following or self.step == "running"
                if shown is None or (shown.finished and not following):
                    return False
                self._show_progress(shown)
            if shown.finished:
                return True
            following = True
            await asyncio.sleep(FOLLOW_SECONDS)

    def _show_progress(self, shown) -> None:
        if self.step in ("", "done") and not shown.finished:
            self.step = "running"
        if self.step == "running" and shown.finished:
            self.step = "done"
        self.confirmation_id = shown.confirmation_id
        self.record_count, self.done = shown.total, shown.done
        self.results = [
            {
                "record": item.label,
                "ok": "1" if item.status == "signed" else "",
                "message": item.reason,
            }
            for item in shown.items
            if item.status != "queued"
        ]
