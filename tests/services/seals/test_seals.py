"""个性签章 storage, 系统签名 and the 电子签名 switch."""

from __future__ import annotations

import io
import stat
from datetime import timedelta

import pytest
from PIL import Image
from sqlmodel import select

from his_portal.models import AuditEvent, DoctorProfile, Seal
from his_portal.services.audit import Actor
from his_portal.services.seals import store as seals
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import save, verify

DOCTOR = "sh-feihuan@8112"


def png(size=(300, 120), mode="RGBA") -> bytes:
    image = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else (255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def verified(clinic):
    save(clinic)
    verify(clinic)
    return clinic


def store(session, data_dir, data=None, source="photo"):
    return seals.save_seal(
        session=session,
        user=user_by_login(session, DOCTOR),
        png=data or png(),
        source=source,
        data_dir=data_dir,
        actor=Actor(login_id=DOCTOR),
    )


def test_a_seal_needs_verification_first(clinic, tmp_path):
    save(clinic)
    with pytest.raises(seals.SealError, match="完成实名认证后请继续完成个性签章的设置"):
        store(clinic, tmp_path)
    assert not (tmp_path / "seals").exists()


def test_seal_files_are_private_and_kept_when_replaced(verified, tmp_path):
    first = store(verified, tmp_path)
    second = store(verified, tmp_path, png((200, 80)), source="pad")
    rows = verified.exec(select(Seal).order_by(Seal.id)).all()
    assert [(r.id, r.active) for r in rows] == [(first.id, False), (second.id, True)]
    for row in rows:
        path = tmp_path / "seals" / row.file_name
        assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    doctor = user_by_login(verified, DOCTOR)
    assert seals.current_seal(session=verified, user_id=doctor.id).id == second.id
    old = seals.read_seal(
        session=verified, user=doctor, seal_id=first.id, data_dir=tmp_path
    )
    assert Image.open(io.BytesIO(old)).size == (300, 120)
    actions = verified.exec(select(AuditEvent.action)).all()
    assert actions.count("seal.saved") == 2


def test_only_the_owner_reads_a_seal(verified, tmp_path):
    seal = store(verified, tmp_path)
    other = user_by_login(verified, "sh-wangli@8112")
    with pytest.raises(seals.SealError, match="签章不存在"):
        seals.read_seal(
            session=verified, user=other, seal_id=seal.id, data_dir=tmp_path
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a png", "签章图片无效"),
        (png(mode="RGB"), "签章图片必须带透明通道"),
        (png((1200, 300)), "签章图片尺寸过大"),
    ],
)
def test_invalid_seal_images_are_refused_and_nothing_changes(
    verified, tmp_path, data, message
):
    kept = store(verified, tmp_path)
    with pytest.raises(seals.SealError, match=message):
        store(verified, tmp_path, data)
    doctor = user_by_login(verified, DOCTOR)
    assert seals.current_seal(session=verified, user_id=doctor.id).id == kept.id
    assert len(list((tmp_path / "seals").rglob("*.png"))) == 1


def test_delete_leaves_the_file_for_past_signatures(verified, tmp_path):
    seal = store(verified, tmp_path)
    doctor = user_by_login(verified, DOCTOR)
    seals.delete_seal(session=verified, user=doctor, actor=Actor())
    assert seals.current_seal(session=verified, user_id=doctor.id) is None
    row = verified.get(Seal, seal.id)
    assert row.deleted_at is not None and (tmp_path / "seals" / row.file_name).exists()
    with pytest.raises(seals.SealError, match="尚未设置个性签章"):
        seals.delete_seal(session=verified, user=doctor, actor=Actor())


def test_system_seal_is_a_transparent_png_of_the_name():
    image = Image.open(io.BytesIO(seals.system_seal_png("郑程")))
    assert image.mode == "RGBA" and image.width <= 600 and image.height <= 240
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255)
    assert alpha.getpixel((0, 0)) == 0
    with pytest.raises(seals.SealError):
        seals.system_seal_png("  ")


def test_esign_switch_needs_verification_and_a_valid_certificate(clinic):
    save(clinic)
    doctor = user_by_login(clinic, DOCTOR)
    with pytest.raises(seals.SealError):
        seals.set_esign(session=clinic, user=doctor, enabled=True, actor=Actor())
    verify(clinic)
    assert seals.set_esign(
        session=clinic,
        user=doctor,
        enabled=True,
        actor=Actor(),
        now=NOW + timedelta(minutes=1),
    )
    assert clinic.exec(select(DoctorProfile)).one().esign_enabled
    with pytest.raises(seals.SealError, match="数字证书无效或已过期"):
        seals.set_esign(
            session=clinic,
            user=doctor,
            enabled=True,
            actor=Actor(),
            now=NOW + timedelta(days=400),
        )
    assert (
        seals.set_esign(session=clinic, user=doctor, enabled=False, actor=Actor())
        is False
    )
    assert not clinic.exec(select(DoctorProfile)).one().esign_enabled
    actions = clinic.exec(select(AuditEvent.action)).all()
    assert "esign.enabled" in actions and "esign.disabled" in actions
