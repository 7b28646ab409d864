"""Tests for his_portal.services.willingness_qr: 二维码 + 人脸核验 on the phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.adapters.face import (
    DEMO_FACE_OK,
    DemoFaceCheckProvider,
    FaceCheckError,
    FaceResult,
)
from his_portal.models import AuditEvent, DoctorProfile, MedicalRecord, Patient
from his_portal.services import willingness as w
from his_portal.services import willingness_qr as wq
from his_portal.services.audit import Actor, verify_chain
from tests.conftest import NOW, user_by_login
from tests.services.identity_helpers import DOCTOR
from tests.services.willingness_helpers import (
    OTHER_DOCTOR,
    OTHER_TOKEN,
    SECRET,
    TOKEN,
    Outbox,
    begin,
    consume,
    doctor,
    failures,
    record_ids,
    row,
    send,
)

PUBLIC = "https://his.example.cn/"
# --- QR + face ---------------------------------------------------------------


def qr_token(session, started, now=NOW):
    issued = wq.new_qr_token(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=TOKEN,
        public_url=PUBLIC,
        secret=SECRET,
        now=now,
    )
    assert issued.url.startswith("https://his.example.cn/confirm/")
    assert issued.expires_at == now + timedelta(minutes=2)
    return issued.url.rsplit("/", 1)[1]


def face(session, token, evidence=DEMO_FACE_OK, now=NOW, provider=None):
    return wq.confirm_qr(
        session,
        token=token,
        face=provider or DemoFaceCheckProvider(),
        evidence=evidence,
        secret=SECRET,
        actor=Actor(ip="10.0.0.8"),
        now=now,
    )


def status(session, started, now=NOW):
    return w.confirmation_status(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=TOKEN,
        secret=SECRET,
        now=now,
    )


def test_qr_happy_path(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    assert len(token) == 32
    assert token not in row(db, started).qr_token_hash
    view = wq.describe_qr(db, token=token, secret=SECRET, now=NOW)
    assert (view.doctor_name, view.record_count, view.status) == ("郑程", 3, "pending")
    assert len(view.record_nos) == 3 and all(view.record_nos)
    assert status(db, started).status == "pending"
    done = face(db, token, now=NOW + timedelta(seconds=30))
    assert done.status == "confirmed"
    assert status(db, started, now=NOW + timedelta(seconds=31)).status == "confirmed"
    assert consume(db, started, now=NOW + timedelta(seconds=40)).status == "used"
    confirmed = db.exec(
        select(AuditEvent).where(AuditEvent.action == "willingness.confirmed")
    ).one()
    assert confirmed.ip == "10.0.0.8" and confirmed.actor_login == DOCTOR
    assert '"via": "face"' in confirmed.detail


def test_qr_describe_shows_record_numbers(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    view = wq.describe_qr(db, token=token, secret=SECRET, now=NOW)
    expected = tuple(
        db.get(Patient, db.get(MedicalRecord, i).patient_id).record_no
        for i in sorted(record_ids(db))
    )
    assert view.record_nos == expected


def test_qr_token_expires_after_two_minutes(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    just = NOW + timedelta(minutes=1, seconds=59)
    assert wq.describe_qr(db, token=token, secret=SECRET, now=just).record_count == 3
    late = NOW + timedelta(minutes=2, seconds=1)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        wq.describe_qr(db, token=token, secret=SECRET, now=late)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        face(db, token, now=late)
    assert status(db, started, now=late).status == "expired"
    fresh = qr_token(db, started, now=late)  # 重新生成 after expiry
    assert face(db, fresh, now=late).status == "confirmed"


def test_qr_token_single_use(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    face(db, token)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        face(db, token)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        wq.describe_qr(db, token=token, secret=SECRET, now=NOW)
    assert failures(db)[-1]["reason"] == "unknown_token"


def test_regenerate_invalidates_old_token(db):
    started = begin(db, "qr")
    old = qr_token(db, started)
    new = qr_token(db, started, now=NOW + timedelta(seconds=10))
    assert old != new
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        wq.describe_qr(db, token=old, secret=SECRET, now=NOW)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        face(db, old)
    assert face(db, new).status == "confirmed"


def test_face_failure_keeps_it_pending(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    with pytest.raises(w.WillingnessError) as caught:
        face(db, token, evidence="someone-else")
    assert caught.value.message == "人脸核验未通过，还可尝试4次"
    view = status(db, started)
    assert (view.status, view.attempts_left) == ("pending", 4)
    assert face(db, token).status == "confirmed"


def test_face_failures_are_limited(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    for _ in range(w.MAX_ATTEMPTS):
        with pytest.raises(w.WillingnessError):
            face(db, token, evidence="bad")
    assert row(db, started).status == "failed"
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        face(db, token)


class BrokenFace:
    name = "broken"

    def verify(self, *, name, id_number_masked, evidence):
        raise FaceCheckError("人脸核身服务暂时不可用")


class SpyFace:
    name = "spy"
    seen: dict = {}

    def verify(self, *, name, id_number_masked, evidence):
        SpyFace.seen = {"name": name, "id": id_number_masked, "evidence": evidence}
        return FaceResult(matched=True, reference="spy-1", message="ok")


def test_face_provider_error_gives_the_attempt_back(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    with pytest.raises(w.WillingnessError, match="暂时不可用"):
        face(db, token, provider=BrokenFace())
    assert row(db, started).attempts == 0
    face(db, token, evidence="e-1", provider=SpyFace())
    assert SpyFace.seen["name"] == "郑程"
    profile = db.exec(select(DoctorProfile)).first()
    assert SpyFace.seen["id"] == profile.id_number_masked


def test_qr_consume_binding(db):
    started = begin(db, "qr")
    face(db, qr_token(db, started))
    wang = user_by_login(db, OTHER_DOCTOR)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, user=wang)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, token=OTHER_TOKEN)
    with pytest.raises(w.WillingnessError, match="不一致"):
        consume(db, started, ids=record_ids(db, count=2))
    reasons = [f["reason"] for f in failures(db)]
    assert reasons == ["other_doctor", "other_session", "other_records"]
    assert consume(db, started).status == "used"
    with pytest.raises(w.WillingnessError, match="已使用"):
        consume(db, started)
    assert verify_chain(session=db).ok


def test_methods_do_not_mix(db):
    qr = begin(db, "qr")
    with pytest.raises(w.WillingnessError, match="方式不符"):
        send(db, qr, Outbox())
    sms = begin(db)
    with pytest.raises(w.WillingnessError, match="方式不符"):
        qr_token(db, sms)
