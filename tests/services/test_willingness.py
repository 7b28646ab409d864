"""Tests for his_portal.services.willingness: SMS codes, QR + face, consume."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from sqlmodel import Session, SQLModel, create_engine, select

from his_portal.adapters.face import (
    DEMO_FACE_OK,
    DemoFaceCheckProvider,
    FaceCheckError,
    FaceResult,
)
from his_portal.adapters.sms import DemoSmsProvider, SmsProviderError, SmsReceipt
from his_portal.models import (
    AuditEvent,
    Confirmation,
    DoctorProfile,
    MedicalRecord,
    Patient,
    SignStatus,
    SmsMessage,
)
from his_portal.services import certificates, seals
from his_portal.services import willingness as w
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.demo_data import load_demo_data
from tests.conftest import NOW, user_by_login
from tests.services.identity_helpers import CRL_URL, DOCTOR, GOOD, KEK, save, verify

SECRET = w.derive_secret(KEK)
TOKEN = "login-token-of-the-doctor-browser"
OTHER_TOKEN = "login-token-of-another-browser"
PUBLIC = "https://his.example.cn/"
OTHER_DOCTOR = "sh-wangli@8112"


@dataclass
class Outbox:
    """A gateway double that keeps what it was asked to send."""

    name: str = "fake"
    fail: str = ""
    sent: list[tuple[str, str, dict]] = field(default_factory=list)

    def send(self, *, mobile, text, params):
        if self.fail:
            raise SmsProviderError(self.fail)
        self.sent.append((mobile, text, dict(params)))
        return SmsReceipt(provider=self.name, reference=f"ref-{len(self.sent)}")

    @property
    def code(self) -> str:
        return self.sent[-1][2]["code"]


def prepare(session: Session) -> None:
    """郑程 verified with 电子签名 on."""
    save(session)
    verify(session)
    doctor = user_by_login(session, DOCTOR)
    actor = Actor(doctor.id, DOCTOR)
    seals.set_esign(session=session, user=doctor, enabled=True, actor=actor, now=NOW)


@pytest.fixture
def db(clinic):
    prepare(clinic)
    return clinic


def doctor(session):
    return user_by_login(session, DOCTOR)


def record_ids(session, login=DOCTOR, count=3):
    user = user_by_login(session, login)
    query = select(MedicalRecord.id).where(MedicalRecord.doctor_id == user.id)
    return list(session.exec(query.order_by(MedicalRecord.id)).all()[:count])


def begin(session, method="sms", ids=None, token=TOKEN, now=NOW):
    return w.start(
        session,
        user=doctor(session),
        session_token=token,
        record_ids=ids if ids is not None else record_ids(session),
        method=method,
        secret=SECRET,
        now=now,
    )


def send(session, started, sms, now=NOW, token=TOKEN):
    return w.send_code(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=token,
        sms=sms,
        secret=SECRET,
        now=now,
    )


def check(session, started, code, now=NOW, token=TOKEN, user=None):
    return w.check_code(
        session,
        confirmation_id=started.confirmation_id,
        user=user or doctor(session),
        session_token=token,
        code=code,
        secret=SECRET,
        now=now,
    )


def consume(session, started, ids=None, now=NOW, token=TOKEN, user=None):
    return w.consume(
        session,
        user=user or doctor(session),
        confirmation_id=started.confirmation_id,
        session_token=token,
        record_ids=ids if ids is not None else record_ids(session),
        secret=SECRET,
        now=now,
    )


def confirmed_by_sms(session, now=NOW):
    started, sms = begin(session, now=now), Outbox()
    send(session, started, sms, now=now)
    check(session, started, sms.code, now=now)
    return started


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def failures(session) -> list[dict]:
    query = select(AuditEvent).where(AuditEvent.action == "willingness.failed")
    return [json.loads(e.detail) for e in session.exec(query.order_by(AuditEvent.seq))]


def row(session, started) -> Confirmation:
    return session.get(Confirmation, started.confirmation_id, populate_existing=True)


# --- start ---------------------------------------------------------------------


def test_start_shows_masked_mobile(db):
    started = begin(db)
    assert (started.method, started.record_count) == ("sms", 3)
    assert started.mobile_masked == "138****8000"
    stored = row(db, started)
    assert stored.status == "pending"
    assert stored.record_ids == ",".join(map(str, sorted(record_ids(db))))
    assert TOKEN not in stored.session_hash


def test_start_refuses_unverified_and_esign_off(clinic):
    with pytest.raises(w.WillingnessError, match="实名认证"):
        begin(clinic)
    save(clinic)
    verify(clinic)
    with pytest.raises(w.WillingnessError) as caught:
        begin(clinic)
    assert "个人中心" in caught.value.message and "电子签名" in caught.value.message


def test_start_refuses_manager(db):
    manager = user_by_login(db, "sh-manager@8112")
    with pytest.raises(w.WillingnessError, match="只有医生"):
        w.start(
            db,
            user=manager,
            session_token=TOKEN,
            record_ids=record_ids(db),
            method="sms",
            secret=SECRET,
            now=NOW,
        )


def test_start_refuses_records_of_another_doctor(db):
    mixed = record_ids(db, count=2) + record_ids(db, OTHER_DOCTOR, count=1)
    with pytest.raises(w.WillingnessError) as caught:
        begin(db, ids=mixed)
    assert caught.value.message == "只能签署本人的病历"
    with pytest.raises(w.WillingnessError, match="只能签署本人的病历"):
        begin(db, ids=[999_999])  # unknown ids look the same
    assert failures(db)[0]["reason"] == "not_own_records"


def test_start_refuses_empty_too_many_signed_and_bad_method(db):
    with pytest.raises(w.WillingnessError, match="请选择要签署的病历"):
        begin(db, ids=[])
    with pytest.raises(w.WillingnessError, match="最多签署50份"):
        begin(db, ids=range(1, 52))
    with pytest.raises(w.WillingnessError, match="意愿校验方式"):
        begin(db, method="email")
    record = db.get(MedicalRecord, record_ids(db)[0])
    record.sign_status = SignStatus.SIGNED
    db.add(record)
    db.commit()
    with pytest.raises(w.WillingnessError, match="已签名"):
        begin(db)


# --- SMS code ------------------------------------------------------------------


def test_sms_happy_path_and_audit(db):
    started, sms = begin(db), Outbox()
    sent = send(db, started, sms)
    assert (sent.mobile_masked, sent.resend_in) == ("138****8000", 60)
    assert sent.expires_at == NOW + timedelta(minutes=5)
    mobile, text, params = sms.sent[0]
    assert mobile == "13800138000"
    assert text == (
        f"【牙医云】您正在签署3份病历，验证码{params['code']}，5分钟内有效。"
        "如非本人操作请忽略。"
    )
    assert len(params["code"]) == 6 and params["code"].isdigit()
    view = check(db, started, sms.code, now=NOW + timedelta(seconds=30))
    assert view.status == "confirmed"
    used = consume(db, started, ids=list(reversed(record_ids(db))))  # any order
    assert (used.status, used.used_at) == ("used", NOW)
    actions = [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    for action in ("started", "code_sent", "confirmed", "used"):
        assert f"willingness.{action}" in actions
    assert verify_chain(session=db).ok
    details = " ".join(e.detail for e in db.exec(select(AuditEvent)))
    assert sms.code not in details


def test_code_expires_after_five_minutes(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    just = NOW + timedelta(minutes=4, seconds=59)
    assert check(db, started, sms.code, now=just).status == "confirmed"
    late_start = NOW + timedelta(minutes=10)
    started, sms = begin(db, now=late_start), Outbox()
    send(db, started, sms, now=late_start)
    late = late_start + timedelta(minutes=5, seconds=1)
    with pytest.raises(w.WillingnessError, match="验证码已过期"):
        check(db, started, sms.code, now=late)
    assert row(db, started).status == "pending"  # a new code may be sent
    assert failures(db)[-1]["reason"] == "expired"


def test_five_wrong_codes_end_the_confirmation(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    for left in (4, 3, 2, 1):
        with pytest.raises(w.WillingnessError) as caught:
            check(db, started, wrong(sms.code))
        assert caught.value.message == f"验证码错误，还可尝试{left}次"
    with pytest.raises(w.WillingnessError) as caught:
        check(db, started, wrong(sms.code))
    assert caught.value.message == w.MSG_FAILED
    assert row(db, started).status == "failed"
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        check(db, started, sms.code)  # the 6th, even right, is refused
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        send(db, started, sms, now=NOW + timedelta(minutes=2))
    reasons = [f["reason"] for f in failures(db)]
    assert reasons == [*["wrong_code"] * 4, "too_many_attempts", *["not_pending"] * 2]
    assert verify_chain(session=db).ok


def test_resend_does_not_reset_attempts(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    for _ in range(4):
        with pytest.raises(w.WillingnessError):
            check(db, started, wrong(sms.code))
    send(db, started, sms, now=NOW + timedelta(seconds=61))
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        check(db, started, wrong(sms.code), now=NOW + timedelta(seconds=62))


def test_attempts_never_exceed_the_limit(db):
    """Concurrent guesses may all be counted before any marks the row failed."""
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    stored = row(db, started)
    stored.attempts = w.MAX_ATTEMPTS  # five guesses counted, row still pending
    db.add(stored)
    db.commit()
    with pytest.raises(w.WillingnessError, match="错误次数过多"):
        check(db, started, sms.code)
    assert failures(db)[-1]["reason"] == "too_many_attempts"


def test_malformed_code_is_not_an_attempt(db):
    started, sms = begin(db), Outbox()
    with pytest.raises(w.WillingnessError, match="请先获取验证码"):
        check(db, started, "123456")
    send(db, started, sms)
    for typo in ("12345", "abcdef", ""):
        with pytest.raises(w.WillingnessError, match="6位数字"):
            check(db, started, typo)
    assert row(db, started).attempts == 0
    assert check(db, started, f" {sms.code} ").status == "confirmed"


def test_code_is_single_use(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    check(db, started, sms.code)
    with pytest.raises(w.WillingnessError, match="已完成意愿校验"):
        check(db, started, sms.code)
    assert row(db, started).code_hash == ""


def test_resend_cooldown_and_new_code_replaces_old(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    first = sms.code
    with pytest.raises(w.WillingnessError) as caught:
        send(db, started, sms, now=NOW + timedelta(seconds=59))
    assert caught.value.retry_after == 1
    assert caught.value.message == "请1秒后再重新获取验证码"
    assert len(sms.sent) == 1
    later = NOW + timedelta(seconds=61)
    while True:  # make sure the new code differs from the old one
        send(db, started, sms, now=later)
        if sms.code != first:
            break
        later += timedelta(seconds=61)
    with pytest.raises(w.WillingnessError, match="验证码错误"):
        check(db, started, first, now=later)
    assert check(db, started, sms.code, now=later).status == "confirmed"


def test_cooldown_and_hourly_cap_are_per_mobile(db):
    sms = Outbox()
    send(db, begin(db), sms)
    with pytest.raises(w.WillingnessError) as caught:
        send(db, begin(db, now=NOW + timedelta(seconds=20)), sms, now=NOW)
    assert caught.value.retry_after == 60
    moment = NOW
    for _ in range(w.SMS_PER_HOUR - 1):
        moment += timedelta(seconds=61)
        send(db, begin(db, now=moment), sms, now=moment)
    moment += timedelta(seconds=61)
    with pytest.raises(w.WillingnessError, match="1小时后再试"):
        send(db, begin(db, now=moment), sms, now=moment)
    assert len(sms.sent) == w.SMS_PER_HOUR


def test_code_stored_only_as_keyed_hash(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    stored = row(db, started)
    code = sms.code
    assert code not in " ".join(str(v) for v in stored.model_dump().values())
    assert stored.code_hash != hashlib.sha256(code.encode()).hexdigest()
    parts = ("code", stored.id, stored.user_id, stored.session_hash)
    message = "\x1f".join(map(str, (*parts, stored.records_digest, code)))
    expected = hmac.new(SECRET, message.encode(), "sha256").hexdigest()
    assert stored.code_hash == expected
    assert (
        stored.session_hash
        == hmac.new(SECRET, f"session\x1f{TOKEN}".encode(), "sha256").hexdigest()
    )
    logged = db.exec(select(SmsMessage)).one()
    assert code not in logged.body and "验证码******" in logged.body  # real gateway


def test_sms_goes_only_to_the_verified_mobile(db):
    started = begin(db)
    send(db, started, DemoSmsProvider())
    logged = db.exec(select(SmsMessage)).one()
    assert (logged.mobile, logged.purpose, logged.provider) == (
        "13800138000",
        "willingness",
        "demo",
    )
    assert logged.provider_ref.startswith("demo-")
    code = logged.body.split("验证码")[1][:6]  # the demo outbox shows the code
    assert check(db, started, code).status == "confirmed"
    # Changing the mobile ends the verification: no code goes to the new number.
    other = begin(db, now=NOW + timedelta(minutes=1))
    save(db, data=replace(GOOD, mobile="13900139000"))
    with pytest.raises(w.WillingnessError):  # cancelled, or not verified
        send(db, other, DemoSmsProvider(), now=NOW + timedelta(minutes=2))
    with pytest.raises(w.WillingnessError, match="实名认证"):
        begin(db, now=NOW + timedelta(minutes=2))
    assert db.exec(select(SmsMessage.mobile)).all() == ["13800138000"]


def test_gateway_failure_releases_the_cooldown(db):
    started = begin(db)
    with pytest.raises(w.WillingnessError, match="短信发送过于频繁"):
        send(db, started, Outbox(fail="短信发送过于频繁，请稍后再试"))
    assert row(db, started).last_sent_at is None
    assert db.exec(select(SmsMessage)).all() == []
    sms = Outbox()
    send(db, started, sms)
    assert check(db, started, sms.code).status == "confirmed"
    actions = db.exec(select(AuditEvent.action)).all()
    assert "willingness.sms_failed" in actions


# --- binding at consume ------------------------------------------------------


def test_consume_twice_is_refused(db):
    started = confirmed_by_sms(db)
    consume(db, started)
    with pytest.raises(w.WillingnessError, match="已使用"):
        consume(db, started)
    assert failures(db)[-1]["reason"] == "reused"


def test_consume_with_other_records_is_refused(db):
    started = confirmed_by_sms(db)
    four = record_ids(db, count=4)
    for ids in (four[:2], four, [*four[:2], four[3]]):
        with pytest.raises(w.WillingnessError, match="所选病历与意愿校验时不一致"):
            consume(db, started, ids=ids)
    assert {f["reason"] for f in failures(db)} == {"other_records"}
    assert consume(db, started, ids=four[:3] + four[:1]).status == "used"  # a set


def test_other_login_session_is_refused(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        check(db, started, sms.code, token=OTHER_TOKEN)
    check(db, started, sms.code)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, token=OTHER_TOKEN)
    assert [f["reason"] for f in failures(db)] == ["other_session"] * 2
    assert consume(db, started).status == "used"


def test_other_doctor_is_refused(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    wang = user_by_login(db, OTHER_DOCTOR)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        check(db, started, sms.code, user=wang)
    check(db, started, sms.code)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        consume(db, started, user=wang)
    assert [f["reason"] for f in failures(db)] == ["other_doctor"] * 2
    assert verify_chain(session=db).ok


def test_consume_needs_confirmation_and_use_window(db):
    started, sms = begin(db), Outbox()
    send(db, started, sms)
    with pytest.raises(w.WillingnessError, match="尚未完成意愿校验"):
        consume(db, started)
    check(db, started, sms.code)
    with pytest.raises(w.WillingnessError, match="10分钟有效期"):
        consume(db, started, now=NOW + w.USE_WINDOW + timedelta(seconds=1))
    assert row(db, started).status == "expired"
    late = confirmed_by_sms(db, now=NOW + timedelta(minutes=20))
    window_end = NOW + timedelta(minutes=20) + w.USE_WINDOW - timedelta(seconds=1)
    assert consume(db, late, now=window_end).status == "used"


def test_consume_refused_after_esign_switched_off(db):
    started = confirmed_by_sms(db)
    user = doctor(db)
    seals.set_esign(
        session=db, user=user, enabled=False, actor=Actor(user.id, DOCTOR), now=NOW
    )
    with pytest.raises(w.WillingnessError, match="电子签名未开启"):
        consume(db, started)


def test_cancel_open_on_revocation(db):
    pending, confirmed = begin(db), confirmed_by_sms(db)
    used = confirmed_by_sms(db, now=NOW + timedelta(minutes=1))
    consume(db, used, now=NOW + timedelta(minutes=1))
    assert w.cancel_open(db, user_id=doctor(db).id, now=NOW) == 2
    db.commit()  # joins the caller's transaction
    assert row(db, pending).status == "cancelled"
    assert row(db, confirmed).status == "cancelled"
    assert row(db, used).status == "used"
    with pytest.raises(w.WillingnessError, match="不存在或已失效"):
        consume(db, confirmed)
    assert "willingness.cancelled" in db.exec(select(AuditEvent.action)).all()


# --- concurrency -------------------------------------------------------------


@pytest.fixture
def file_engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'race.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=NOW, records=10)
        certificates.ensure_authority(
            session=session,
            kek=KEK,
            clinic_name="上海维乐海趣路门诊",
            crl_url=CRL_URL,
            now=NOW,
        )
        session.commit()
        prepare(session)
    yield engine
    engine.dispose()


def test_stale_session_loses_the_race(file_engine):
    with Session(file_engine) as first, Session(file_engine) as second:
        started = confirmed_by_sms(first)
        seen = row(second, started)  # held, so its identity map keeps it
        consume(first, started)
        assert (seen.status, seen.used_at) == ("confirmed", None)  # stale copy
        with pytest.raises(w.WillingnessError, match="已使用"):
            consume(second, started)  # only the conditional UPDATE can tell
    with Session(file_engine) as session:
        assert verify_chain(session=session).ok


def test_concurrent_consume_only_one_wins(file_engine):
    with Session(file_engine) as session:
        started = confirmed_by_sms(session)
    barrier, results = threading.Barrier(4), []

    def attempt():
        with Session(file_engine) as session:
            row(session, started)
            barrier.wait()
            try:
                results.append(consume(session, started).status)
            except w.WillingnessError as exc:
                results.append(exc.message)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(["used"] + [w.MSG_REUSED] * 3)
    with Session(file_engine) as session:
        assert verify_chain(session=session).ok


# --- QR + face ---------------------------------------------------------------


def qr_token(session, started, now=NOW):
    issued = w.new_qr_token(
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
    return w.confirm_qr(
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
    view = w.describe_qr(db, token=token, secret=SECRET, now=NOW)
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
    view = w.describe_qr(db, token=token, secret=SECRET, now=NOW)
    expected = tuple(
        db.get(Patient, db.get(MedicalRecord, i).patient_id).record_no
        for i in sorted(record_ids(db))
    )
    assert view.record_nos == expected


def test_qr_token_expires_after_two_minutes(db):
    started = begin(db, "qr")
    token = qr_token(db, started)
    just = NOW + timedelta(minutes=1, seconds=59)
    assert w.describe_qr(db, token=token, secret=SECRET, now=just).record_count == 3
    late = NOW + timedelta(minutes=2, seconds=1)
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        w.describe_qr(db, token=token, secret=SECRET, now=late)
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
        w.describe_qr(db, token=token, secret=SECRET, now=NOW)
    assert failures(db)[-1]["reason"] == "unknown_token"


def test_regenerate_invalidates_old_token(db):
    started = begin(db, "qr")
    old = qr_token(db, started)
    new = qr_token(db, started, now=NOW + timedelta(seconds=10))
    assert old != new
    with pytest.raises(w.WillingnessError, match="二维码已失效"):
        w.describe_qr(db, token=old, secret=SECRET, now=NOW)
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


def test_secret_must_be_a_key():
    with pytest.raises(ValueError, match="密钥过短"):
        w._mac(b"short", "code", "123456")
    assert w.derive_secret(KEK) != w.derive_secret(bytes(32))
