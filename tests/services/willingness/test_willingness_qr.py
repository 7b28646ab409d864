"""Tests for his_portal.services.willingness.qr: 二维码 + 人脸核验 on the phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.adapters.face import (
    DEMO_FACE_OK,
    DemoFaceCheckProvider,
    FaceCheckError,
    FaceResult,
    FaceSession,
)
from his_portal.models import AuditEvent, MedicalRecord, Patient
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.willingness import core as w
from his_portal.services.willingness import qr as wq
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import DEMO_ZHENG_ID, DOCTOR, KEK
from tests.services.willingness import willingness_helpers as wh
from tests.services.willingness.willingness_helpers import (
    SECRET,
    begin,
    consume,
    doctor,
    failures,
    row,
)

PUBLIC = "https://his.example.cn/"
# --- QR + face ---------------------------------------------------------------


def qr_token(session, started, now=NOW):
    issued = wq.new_qr_token(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=wh.TOKEN,
        face=DemoFaceCheckProvider(),
        public_url=PUBLIC,
        secret=SECRET,
        now=now,
    )
    assert issued.url.startswith("https://his.example.cn/confirm/")
    assert issued.expires_at == now + timedelta(minutes=2)
    return issued.url.rsplit("/", 1)[1]


def start_face(session, token, now=NOW, provider=None):
    return wq.begin_face(
        session,
        token=token,
        face=provider or DemoFaceCheckProvider(),
        return_url=PUBLIC + "confirm/" + token,
        secret=SECRET,
        kek=KEK,
        actor=Actor(ip="10.0.0.8"),
        now=now,
    )


def result(session, token, evidence=DEMO_FACE_OK, now=NOW, provider=None):
    return wq.confirm_qr(
        session,
        token=token,
        face=provider or DemoFaceCheckProvider(),
        evidence=evidence,
        secret=SECRET,
        kek=KEK,
        actor=Actor(ip="10.0.0.8"),
        now=now,
    )


def face(session, token, evidence=DEMO_FACE_OK, now=NOW, provider=None):
    """开始人脸识别, then the result (the phone's two steps)."""
    start_face(session, token, now=now, provider=provider)
    return result(session, token, evidence, now=now, provider=provider)


def status(session, started, now=NOW):
    return w.confirmation_status(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=wh.TOKEN,
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
        for i in sorted(wh.record_ids(db))
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
    assert result(db, token).status == "confirmed"


def test_face_failures_are_limited(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    start_face(db, token)
    for _ in range(w.MAX_ATTEMPTS):
        with pytest.raises(w.WillingnessError):
            result(db, token, evidence="bad")
    assert row(db, started).status == "failed"
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        face(db, token)


class BrokenFace(DemoFaceCheckProvider):
    def result(self, *, ref, name, id_number, evidence=""):
        raise FaceCheckError("人脸核身服务暂时不可用")


class SpyFace:
    """A real-provider double: records what the server asked it."""

    name, demo = "spy", False

    def __init__(self):
        self.begun: dict = {}
        self.asked: dict = {}

    def begin(self, *, name, id_number, return_url):
        self.begun = {"name": name, "id": id_number, "back": return_url}
        return FaceSession(ref="biz-token-1", url="https://face.example/h5?t=1")

    def result(self, *, ref, name, id_number, evidence=""):
        self.asked = {"ref": ref, "name": name, "id": id_number}
        return FaceResult(matched=True, reference=ref, message="ok")


def test_face_provider_error_gives_the_attempt_back(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    start_face(db, token)
    with pytest.raises(w.WillingnessError, match="暂时不可用"):
        result(db, token, provider=BrokenFace())
    assert row(db, started).attempts == 0
    assert result(db, token).status == "confirmed"


def test_the_provider_checks_the_verified_identity_and_the_stored_transaction(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    spy = SpyFace()
    assert start_face(db, token, provider=spy) == "https://face.example/h5?t=1"
    assert spy.begun["name"] == "郑程" and spy.begun["back"].endswith(token)
    full = DEMO_ZHENG_ID
    assert spy.begun["id"] == full  # the full number goes to the provider only
    assert row(db, started).face_ref == "biz-token-1"
    assert full not in str(wq.describe_qr(db, token=token, secret=SECRET, now=NOW))
    # The phone's evidence is ignored by a real provider: the stored ref is asked.
    assert result(db, token, evidence="forged", provider=spy).status == "confirmed"
    assert spy.asked == {"ref": "biz-token-1", "name": "郑程", "id": full}


class UnfinishedFace(DemoFaceCheckProvider):
    def result(self, *, ref, name, id_number, evidence=""):
        return FaceResult(
            matched=False, reference=ref, message="人脸核验尚未完成", finished=False
        )


def test_an_unfinished_face_check_spends_no_attempt(db):
    """The phone coming back (or reloading) before the check ends is no failure."""
    started = begin(db, "qr")
    token = qr_token(db, started)
    start_face(db, token)
    for _ in range(w.MAX_ATTEMPTS + 1):
        with pytest.raises(w.WillingnessError, match="人脸核验尚未完成"):
            result(db, token, provider=UnfinishedFace())
    assert (row(db, started).attempts, row(db, started).status) == (0, "pending")
    assert result(db, token).status == "confirmed"


def test_the_result_needs_a_started_face_check(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    with pytest.raises(w.WillingnessError, match="请先点击开始人脸识别"):
        result(db, token)
    assert row(db, started).attempts == 0


def test_starting_the_face_check_gives_five_minutes(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    start_face(db, token, now=NOW + timedelta(seconds=100))
    late = NOW + timedelta(seconds=100) + wq.FACE_TTL - timedelta(seconds=1)
    assert result(db, token, now=late).status == "confirmed"


def test_regenerating_the_qr_drops_a_started_face_check(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    start_face(db, token)
    fresh = qr_token(db, started, now=NOW + timedelta(seconds=5))
    assert row(db, started).face_ref == ""
    with pytest.raises(w.WillingnessError, match="请先点击开始人脸识别"):
        result(db, fresh)


def test_without_a_face_provider_the_qr_method_is_refused(db):
    started = begin(db, "qr")
    with pytest.raises(w.WillingnessError, match="未配置人脸核身服务"):
        wq.new_qr_token(
            db,
            confirmation_id=started.confirmation_id,
            user=doctor(db),
            session_token=wh.TOKEN,
            face=None,
            public_url=PUBLIC,
            secret=SECRET,
        )
    token = qr_token(db, started)
    with pytest.raises(w.WillingnessError, match="未配置人脸核身服务"):
        wq.begin_face(db, token=token, face=None, return_url="", secret=SECRET, kek=KEK)


def test_qr_consume_binding(db):
    started = begin(db, "qr")
    face(db, qr_token(db, started))
    wang = user_by_login(db, wh.OTHER_DOCTOR)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, user=wang)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, token=wh.OTHER_TOKEN)
    reasons = [f["reason"] for f in failures(db)]
    assert reasons == ["other_doctor", "other_session"]
    assert consume(db, started).status == "used"
    with pytest.raises(w.WillingnessError, match="已使用"):
        consume(db, started)
    assert verify_chain(session=db).ok


def test_methods_do_not_mix(db):
    qr = begin(db, "qr")
    with pytest.raises(w.WillingnessError, match="方式不符"):
        wh.send(db, qr, wh.Outbox())
    sms = begin(db)
    with pytest.raises(w.WillingnessError, match="方式不符"):
        qr_token(db, sms)
