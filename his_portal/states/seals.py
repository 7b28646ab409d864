"""个性设置: 签章信息, the seal editor (photo with in-app background removal, or the
signature pad), 系统签名, and 其他设置 (the 电子签名 switch).

Decoding an upload and removing its background take from tens of milliseconds to
seconds of CPU: the editor's handlers run them in a worker thread and change the
state only around the ``await``, so the event loop keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from typing import ClassVar

import reflex as rx

from his_portal import db
from his_portal.errors import HisError
from his_portal.models import Role
from his_portal.services.identity import profile as identity
from his_portal.services.pki import certificates
from his_portal.services.seals import image as seal_image
from his_portal.services.seals import store as seals
from his_portal.settings import get_settings
from his_portal.state import AuthState

UPLOAD_ID = "seal-upload"
PAD_ID = "seal-pad"
MAX_UPLOAD = 10 * 1024 * 1024
INK_LABELS = {"keep": "保持原色", "black": "黑色", "blue": "深蓝"}


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _preview_jpeg(data: bytes) -> bytes:
    """The upload decoded and shrunk to the JPEG the editor works on (CPU: run it in
    a thread).

    Raises:
        seal_image.SealImageError: Not a supported, intact image within the limits.
    """
    image = seal_image.decode_upload(data)
    image.thumbnail((1600, 1600))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def _extract(original: bytes, options: seal_image.SealOptions) -> bytes:
    """The signature on a transparent background, as PNG (CPU: run it in a thread).

    Raises:
        seal_image.SealImageError: No ink found, or the background-removal model
            cannot be used.
    """
    settings = get_settings()
    session = (
        seal_image.make_rembg_session(
            settings.rembg_model, models_dir=settings.models_dir
        )
        if settings.seal_engine == "rembg"
        else None
    )
    image = seal_image.decode_upload(original)
    return seal_image.extract_signature(image, options, rembg_session=session).png


class SealState(AuthState):
    verified: bool = False
    seal_url: str = ""
    system_url: str = ""
    esign: bool = False
    cert_ok: bool = False
    editor_open: bool = False
    progress: int = 0
    original_url: str = ""
    result_url: str = ""
    error: str = ""
    strength: int = 50
    ink: str = "keep"
    rotate: int = 0
    crop: bool = True
    _original: bytes = b""
    _result: bytes = b""
    _source: str = "photo"
    INK_CHOICES: ClassVar[dict[str, str]] = INK_LABELS

    def _refresh(self, user) -> None:
        settings = get_settings()
        with db.session() as session:
            view = identity.get_profile(session=session, user=user)
            seal = seals.current_seal(session=session, user_id=user.id)
            png = (
                seals.read_seal(
                    session=session,
                    user=user,
                    seal_id=seal.id,
                    data_dir=settings.data_dir,
                )
                if seal
                else b""
            )
            self.cert_ok = (
                certificates.active_certificate(session=session, user_id=user.id)
                is not None
            )
        self.verified = view.status == "verified"
        self.esign = view.esign_enabled
        self.seal_url = _data_url(png) if png else ""
        self.system_url = (
            _data_url(seals.system_seal_png(view.name)) if self.verified else ""
        )

    @rx.event
    def on_load(self):
        user = self._require(Role.DOCTOR)
        if user is not None:
            self._refresh(user)

    @rx.event
    def open_editor(self):
        if not self.verified:
            return rx.toast.error(seals.VERIFY_FIRST)
        self.editor_open, self.error, self.progress = True, "", 0
        self.original_url = self.result_url = ""
        self._original = self._result = b""
        return None

    @rx.event
    def close_editor(self):
        self.editor_open = False
        self._original = self._result = b""

    @rx.event
    def set_editor_open(self, value: bool):
        if not value:
            return SealState.close_editor
        return None

    @rx.event
    def upload_progress(self, progress: dict):
        self.progress = round(float(progress.get("progress", 0)) * 100)

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]):
        if self._require(Role.DOCTOR) is None:
            return AuthState.guard
        if not files:
            self.error = "请选择图片文件"
            return None
        data = await files[0].read(MAX_UPLOAD + 1)
        self._source = "photo"
        return await self._load_image(data)

    @rx.event
    async def save_pad(self, data_url: str):
        if not data_url:
            self.error = "请先在签名板上写下您的签名"
            return None
        try:
            data = base64.b64decode(data_url.split(",", 1)[1], validate=True)
        except (IndexError, binascii.Error):
            self.error = "签名板数据无效，请重新书写"
            return None
        self._source = "pad"
        return await self._load_image(data)

    async def _load_image(self, data: bytes):
        try:
            self._original = await asyncio.to_thread(_preview_jpeg, data)
        except HisError as exc:
            self.error = exc.message  # the previous seal stays as it was
            return None
        self.original_url = _data_url(self._original, "image/jpeg")
        return await self._process()

    async def _process(self):
        if not self._original:
            return None
        options = seal_image.SealOptions(
            engine=get_settings().seal_engine,
            strength=self.strength,
            ink=self.ink,
            rotate=self.rotate,
            crop=self.crop,
        )
        try:
            png = await asyncio.to_thread(_extract, self._original, options)
        except HisError as exc:
            self.error, self.result_url, self._result = exc.message, "", b""
            return None
        self.error = ""
        self._result = png
        self.result_url = _data_url(png)
        return None

    @rx.event
    async def set_strength(self, value: list[int | float]):
        self.strength = int(value[0]) if value else self.strength
        return await self._process()

    @rx.event
    async def set_ink(self, value: str):
        if value in INK_LABELS:
            self.ink = value
        return await self._process()

    @rx.event
    async def turn(self, degrees: int):
        self.rotate = (self.rotate + degrees) % 360
        return await self._process()

    @rx.event
    async def set_crop(self, value: bool):
        self.crop = bool(value)
        return await self._process()

    @rx.event
    def save(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        if not self._result:
            self.error = "请先上传签名照片或在签名板上书写"
            return None
        try:
            with db.session() as session:
                seals.save_seal(
                    session=session,
                    user=user,
                    png=self._result,
                    source=self._source,
                    data_dir=get_settings().data_dir,
                    actor=self._actor(user),
                )
        except HisError as exc:
            self.error = exc.message
            return None
        self.close_editor()
        self._refresh(user)
        return rx.toast.success("个性签章已保存")

    @rx.event
    def delete(self):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            with db.session() as session:
                seals.delete_seal(session=session, user=user, actor=self._actor(user))
        except HisError as exc:
            return rx.toast.error(exc.message)
        self._refresh(user)
        return rx.toast.success("个性签章已删除")

    @rx.event
    def set_esign(self, value: bool):
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        try:
            with db.session() as session:
                seals.set_esign(
                    session=session,
                    user=user,
                    enabled=bool(value),
                    actor=self._actor(user),
                )
        except HisError as exc:
            self._refresh(user)
            return rx.toast.error(exc.message)
        self._refresh(user)
        return rx.toast.success("电子签名已开启" if self.esign else "电子签名已关闭")
