"""Tests for his_portal.services.willingness.sms: 短信验证码 (send, check, limits)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.adapters.sms import DemoSmsProvider
from his_portal.models import AuditEvent, SmsMessage
from his_portal.services.audit import verify_chain
from his_portal.services.willingness import core as w
from his_portal.services.willingness import sms as ws
from tests.conftest import NOW
from tests.services.identity.identity_helpers import GOOD, save
from tests.services.willingness.willingness_helpers import (
    SECRET,
    TOKEN,
    Outbox,
    begin,
    check,
    consume,
    failures,
    row,
    send,
    wrong,
)

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
    used = consume(db, started)
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
    for _ in range(ws.SMS_PER_HOUR - 1):
        moment += timedelta(seconds=61)
        send(db, begin(db, now=moment), sms, now=moment)
    moment += timedelta(seconds=61)
    with pytest.raises(w.WillingnessError, match="1小时后再试"):
        send(db, begin(db, now=moment), sms, now=moment)
    assert len(sms.sent) == ws.SMS_PER_HOUR


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
