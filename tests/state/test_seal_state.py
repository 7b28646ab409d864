"""个性设置 handlers: upload, preview, 保存, bad uploads, signature pad, switch."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from pathlib import Path

import pytest
import reflex as rx
from PIL import Image

from his_portal import routes
from his_portal.pages.profile import ProfileState
from his_portal.services.seals import image as seal_image
from his_portal.states.seals import SealState
from tests.services.seals.seal_synthetic import synthetic_photo
from tests.state.test_states import make, spy_threads, token_for

pytestmark = pytest.mark.usefixtures("app_db")


def photo_bytes(seed: int = 5) -> bytes:
    image, _ = synthetic_photo(seed)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def upload(state: SealState, data: bytes, name: str = "sign.jpg"):
    files = [rx.UploadFile(file=io.BytesIO(data), path=Path(name))]
    return asyncio.run(state.handle_upload(files))


def seal_state(token: str) -> SealState:
    state = make(SealState, token=token, path=routes.PROFILE)
    state.on_load()
    return state


def test_upload_preview_save_and_switch_on(zheng_token, monkeypatch):
    decoded = spy_threads(monkeypatch, seal_image, "decode_upload")
    extracted = spy_threads(monkeypatch, seal_image, "extract_signature")
    state = seal_state(zheng_token)
    assert state.verified and state.system_url.startswith("data:image/png;base64,")
    state.open_editor()
    upload(state, photo_bytes())
    assert state.error == "" and state.original_url.startswith("data:image/jpeg")
    result = Image.open(io.BytesIO(base64.b64decode(state.result_url.split(",")[1])))
    assert result.mode == "RGBA" and result.width <= 600 and result.height <= 240
    asyncio.run(state.set_ink("blue"))
    asyncio.run(state.turn(90))
    rotated = Image.open(io.BytesIO(base64.b64decode(state.result_url.split(",")[1])))
    assert rotated.height > rotated.width or rotated.size != result.size
    asyncio.run(state.turn(270))
    asyncio.run(state.set_strength([70]))
    asyncio.run(state.set_crop(False))
    assert state.strength == 70 and not state.crop and state.result_url
    # Decoding and background removal ran off the event loop, once per change.
    assert len(extracted) == 6 and len(decoded) == 7
    assert threading.main_thread() not in decoded + extracted
    state.save()
    assert not state.editor_open and state.seal_url.startswith("data:image/png")
    state.set_esign(True)
    assert state.esign


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, not an image", "仅支持 JPG、PNG、WebP 格式的图片"),
        (b"", "请选择图片文件"),
        (photo_bytes()[:5000], "图片文件已损坏或不完整"),
        (b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "图片不能超过10MB"),
    ],
)
def test_bad_uploads_get_a_message_and_keep_the_previous_seal(
    zheng_token, data, message
):
    state = seal_state(zheng_token)
    before = state.seal_url
    state.open_editor()
    upload(state, data)
    assert message in state.error
    assert state.result_url == ""
    state.save()
    assert state.error == "请先上传签名照片或在签名板上书写"
    state.on_load()
    assert state.seal_url == before


def test_a_white_photo_has_no_ink():
    image = Image.new("RGB", (800, 600), (250, 250, 248))
    out = io.BytesIO()
    image.save(out, format="PNG")
    state = seal_state(token_for("sh-feihuan@8112"))
    state.open_editor()
    upload(state, out.getvalue(), "white.png")
    assert "未识别到签名笔迹" in state.error and state.result_url == ""


def test_signature_pad_drawing_becomes_the_seal(zheng_token):
    canvas = Image.new("RGB", (720, 260), "white")
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).line(
        [(60, 180), (200, 60), (340, 190), (520, 70)], fill="black", width=7
    )
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    state = seal_state(zheng_token)
    state.open_editor()
    asyncio.run(state.save_pad(""))
    assert state.error == "请先在签名板上写下您的签名"
    asyncio.run(state.save_pad("data:image/png;base64,@@@"))
    assert state.error == "签名板数据无效，请重新书写"
    data_url = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    asyncio.run(state.save_pad(data_url))
    assert state.error == "" and state.result_url
    state.save()
    assert state.seal_url


def test_an_unverified_doctor_cannot_open_the_editor():
    token = token_for("sh-wangli@8112")
    profile = make(ProfileState, token=token, path=routes.PROFILE)
    profile.on_load()
    assert profile.status == "unverified"
    state = seal_state(token)
    assert not state.verified
    assert state.open_editor() is not None and not state.editor_open
    state.set_esign(True)
    assert not state.esign
