"""Tests for his_portal.services.willingness.core: start, consume, status, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from his_portal.models import AuditEvent, MedicalRecord, SignStatus
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.pki.keyvault import mac_key
from his_portal.services.seals import store as seals
from his_portal.services.willingness import core as w
from his_portal.services.willingness.cancel import cancel_open
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import DOCTOR, KEK, save, verify
from tests.services.willingness.willingness_helpers import (
    OTHER_DOCTOR,
    OTHER_TOKEN,
    SECRET,
    TOKEN,
    Outbox,
    begin,
    check,
    confirmed_by_sms,
    consume,
    doctor,
    failures,
    record_ids,
    row,
    send,
)

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
        begin(db, ids=list(range(1, 52)))
    with pytest.raises(w.WillingnessError, match="意愿校验方式"):
        begin(db, method="email")
    record = db.get(MedicalRecord, record_ids(db)[0])
    record.sign_status = SignStatus.SIGNED
    db.add(record)
    db.commit()
    with pytest.raises(w.WillingnessError, match="已签名"):
        begin(db)


# --- binding at consume ------------------------------------------------------


def test_consume_twice_is_refused(db):
    started = confirmed_by_sms(db)
    consume(db, started)
    with pytest.raises(w.WillingnessError, match="已使用"):
        consume(db, started)
    assert failures(db)[-1]["reason"] == "reused"


def test_consume_spends_the_confirmations_own_records(db):
    started = confirmed_by_sms(db)
    used = consume(db, started, seal="personal")
    assert w.record_ids_of(used) == tuple(sorted(record_ids(db)))
    assert (used.status, used.seal_choice) == ("used", "personal")


def test_consume_refuses_an_altered_record_list(db):
    started = confirmed_by_sms(db)
    tampered = row(db, started)
    tampered.record_ids += f",{record_ids(db, count=4)[3]}"
    db.add(tampered)
    db.commit()
    with pytest.raises(w.WillingnessError, match="意愿校验不存在或已失效"):
        consume(db, started)
    assert failures(db)[-1]["reason"] == "records_altered"


@pytest.mark.parametrize(
    "ids", [[1, "2"], [1.5], "1,2", [None], [True], [-1], [2**63], {"a": 1}, [[1]]]
)
def test_start_refuses_crafted_record_lists(db, ids):
    with pytest.raises(w.WillingnessError, match="请选择要签署的病历"):
        begin(db, ids=ids)


def test_start_refuses_a_huge_list(db):
    with pytest.raises(w.WillingnessError, match="每次最多签署50份病历"):
        begin(db, ids=list(range(1, 10_001)))


def test_consume_refuses_an_unknown_seal_choice(db):
    started = confirmed_by_sms(db)
    with pytest.raises(w.WillingnessError, match="请选择签章"):
        consume(db, started, seal="<script>")
    assert consume(db, started).status == "used"


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
    assert cancel_open(db, user_id=doctor(db).id, now=NOW) == 2
    db.commit()  # joins the caller's transaction
    assert row(db, pending).status == "cancelled"
    assert row(db, confirmed).status == "cancelled"
    assert row(db, used).status == "used"
    with pytest.raises(w.WillingnessError, match="不存在或已失效"):
        consume(db, confirmed)
    assert "willingness.cancelled" in db.exec(select(AuditEvent.action)).all()


# --- concurrency -------------------------------------------------------------


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


def test_secret_must_be_a_key():
    with pytest.raises(ValueError, match="too short"):
        w.mac(b"short", "code", "123456")
    assert mac_key(KEK, "willingness") != mac_key(bytes(32), "willingness")
    assert mac_key(KEK, "willingness") != mac_key(KEK, "audit")
