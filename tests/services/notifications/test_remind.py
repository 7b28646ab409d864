"""催签: managers only, in scope only, the doctor's unsigned records only; SMS
through the provider, rate-limited per doctor; nothing written when refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from his_portal.adapters.sms import DemoSmsProvider, SmsProviderError
from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import (
    AuditEvent,
    MedicalRecord,
    Notification,
    Patient,
    SignStatus,
    SmsMessage,
)
from his_portal.services.notifications import REMIND_SMS_INTERVAL, Kind, remind
from tests.conftest import NOW, user_by_login
from tests.services.notifications.notify_helpers import (
    ADMIN,
    DOCTOR,
    OTHER_DOCTOR,
    actor_of,
    branch_manager,
    chain_manager,
    notes_of,
    other_clinic,
    set_mobile,
)


class FailingSms:
    name = "broken"

    def send(self, *, mobile, text, params):
        raise SmsProviderError("短信服务暂时不可用，请稍后重试")


def _written(session: Session) -> tuple[int, int, int]:
    """(notifications, 催签 audit events, SMS) in the database."""
    count = lambda model, *where: session.exec(  # noqa: E731
        select(func.count()).select_from(model).where(*where)
    ).one()
    return (
        count(Notification),
        count(AuditEvent, AuditEvent.action == "notify.remind"),
        count(SmsMessage),
    )


def _unsigned(session: Session, login: str) -> list[int]:
    doctor = user_by_login(session, login)
    return list(
        session.exec(
            select(MedicalRecord.id)
            .where(MedicalRecord.doctor_id == doctor.id)
            .where(MedicalRecord.sign_status == SignStatus.UNSIGNED)
            .order_by(MedicalRecord.id)
        ).all()
    )


def _mark_signed(session: Session, record_id: int) -> None:
    record = session.get(MedicalRecord, record_id)
    record.sign_status = SignStatus.SIGNED
    session.add(record)
    session.commit()


def _remind(session, manager, doctor_id, record_ids=(), sms=None, now=NOW):
    return remind(
        session,
        manager=manager,
        doctor_id=doctor_id,
        record_ids=record_ids,
        sms=sms,
        actor=actor_of(manager),
        now=now,
    )


def test_chosen_records_are_named_in_the_doctors_notification(demo):
    manager = branch_manager(demo)
    doctor = user_by_login(demo, DOCTOR)
    ids = _unsigned(demo, DOCTOR)[:3]
    numbers = [
        demo.exec(
            select(Patient.record_no)
            .join(MedicalRecord, MedicalRecord.patient_id == Patient.id)
            .where(MedicalRecord.id == i)
        ).one()
        for i in ids
    ]
    result = _remind(demo, manager, doctor.id, ids + ids[:1])  # a repeat counts once
    assert (result.notified, result.sms_sent, result.records) == (True, False, 3)
    assert result.sms_reason == "未配置短信服务，仅发送站内通知"
    assert result.summary.startswith("已向郑程发送催签通知（3份病历）")
    (note,) = notes_of(demo, doctor.id)
    assert note.kind == Kind.REMIND and note.sender_id == manager.id
    assert note.record_id is None
    assert note.body == f"陈静提醒您尽快签署以下3份病历：{'、'.join(numbers)}"
    event = demo.exec(
        select(AuditEvent).where(AuditEvent.action == "notify.remind")
    ).one()
    assert event.target == f"user:{doctor.id}" and event.actor_id == manager.id
    _remind(demo, manager, doctor.id, ids[:1])
    assert notes_of(demo, doctor.id)[-1].record_id == ids[0]


def test_without_records_the_notification_counts_pending_and_overdue(demo):
    doctor = user_by_login(demo, DOCTOR)
    cutoff = NOW - timedelta(hours=24)
    pending = demo.exec(
        select(MedicalRecord.created_at).where(
            MedicalRecord.doctor_id == doctor.id,
            MedicalRecord.sign_status == SignStatus.UNSIGNED,
        )
    ).all()
    late = sum(1 for created in pending if created.astimezone(NOW.tzinfo) <= cutoff)
    assert pending and late
    result = _remind(demo, chain_manager(demo), doctor.id)
    assert result.records == len(pending)
    (note,) = notes_of(demo, doctor.id)
    assert note.body == (
        f"陈静提醒您尽快签署待签病历：共{len(pending)}份，其中{late}份已超过24小时未签"
    )


def test_only_managers_may_remind(demo):
    doctor = user_by_login(demo, DOCTOR)
    for login in (OTHER_DOCTOR, ADMIN, DOCTOR):
        with pytest.raises(AccessDenied, match="只有门诊管理者可以催签"):
            _remind(demo, user_by_login(demo, login), doctor.id)
    assert _written(demo) == (0, 0, 0)


def test_a_branch_manager_reaches_only_their_clinics_doctors(demo):
    outsider, outside_records = other_clinic(demo)
    manager = branch_manager(demo)
    for target in (outsider.id, manager.id, user_by_login(demo, ADMIN).id, 10_000):
        with pytest.raises(AccessDenied, match="不在您管理的分院"):
            _remind(demo, manager, target, sms=DemoSmsProvider())
    assert _written(demo) == (0, 0, 0)
    assert _remind(demo, chain_manager(demo), outsider.id, outside_records).notified
    assert [n.user_id for n in demo.exec(select(Notification))] == [outsider.id]


def test_records_must_be_the_doctors_unsigned_records_in_scope(demo):
    _, outside_records = other_clinic(demo)
    manager = branch_manager(demo)
    doctor = user_by_login(demo, DOCTOR)
    mine, signed = _unsigned(demo, DOCTOR)[:1], _unsigned(demo, DOCTOR)[-1:]
    _mark_signed(demo, signed[0])
    cases = [
        (
            mine + _unsigned(demo, OTHER_DOCTOR)[:1],
            InvalidInput,
            "不是该医生的待签病历",
        ),
        (mine + signed, InvalidInput, "不是该医生的待签病历"),
        (mine + outside_records[:1], AccessDenied, "无权催签所选病历"),
        ([999_999], AccessDenied, "无权催签所选病历"),
        (["1"], InvalidInput, "所选病历无效"),
        ([True], InvalidInput, "所选病历无效"),
        ("12", InvalidInput, "所选病历无效"),
        (list(range(1, 300)), InvalidInput, "一次最多催签200份病历"),
    ]
    for ids, error, message in cases:
        assert ids
        with pytest.raises(error, match=message):
            _remind(demo, manager, doctor.id, ids, sms=DemoSmsProvider())
    for bad_doctor in ("1", None, 1.0):
        with pytest.raises(InvalidInput):
            _remind(demo, manager, bad_doctor)
    assert _written(demo) == (0, 0, 0)


def test_a_doctor_with_nothing_pending_is_not_reminded(demo):
    outsider, records = other_clinic(demo)
    for record_id in records:
        _mark_signed(demo, record_id)
    with pytest.raises(InvalidInput, match="该医生没有待签病历"):
        _remind(demo, chain_manager(demo), outsider.id)
    assert _written(demo) == (0, 0, 0)


def test_sms_is_sent_once_an_hour_per_doctor(demo):
    set_mobile(demo, DOCTOR, "13800138000")
    manager, doctor = branch_manager(demo), user_by_login(demo, DOCTOR)
    sms = DemoSmsProvider()
    first = _remind(demo, manager, doctor.id, sms=sms)
    assert (
        first.sms_sent
        and first.sms_reason == ""
        and first.summary.endswith("，并已发送短信")
    )
    (message,) = demo.exec(select(SmsMessage)).all()
    assert (message.user_id, message.purpose, message.provider) == (
        doctor.id,
        "remind",
        "demo",
    )
    assert message.mobile == "13800138000"
    assert (
        message.body.startswith("【牙医云HIS】陈静提醒您：您有")
        and "份病历待签署" in message.body
    )
    later = NOW + REMIND_SMS_INTERVAL - timedelta(minutes=1)
    second = _remind(demo, chain_manager(demo), doctor.id, sms=sms, now=later)
    assert second.notified and not second.sms_sent
    assert second.sms_reason == "该医生1小时内已收到过催签短信，本次仅发送站内通知"
    assert len(notes_of(demo, doctor.id)) == 2
    assert len(demo.exec(select(SmsMessage)).all()) == 1
    third = _remind(demo, manager, doctor.id, sms=sms, now=NOW + REMIND_SMS_INTERVAL)
    assert third.sms_sent and len(demo.exec(select(SmsMessage)).all()) == 2


def test_no_mobile_or_a_failing_gateway_still_notifies(demo):
    manager, doctor = branch_manager(demo), user_by_login(demo, DOCTOR)
    no_mobile = _remind(demo, manager, doctor.id, sms=DemoSmsProvider())
    assert (
        no_mobile.notified
        and no_mobile.sms_reason == "该医生未登记手机号，仅发送站内通知"
    )
    set_mobile(demo, DOCTOR, "13800138000")
    failed = _remind(demo, manager, doctor.id, sms=FailingSms())
    assert failed.notified and not failed.sms_sent
    assert failed.sms_reason == "短信发送失败：短信服务暂时不可用，请稍后重试"
    assert len(notes_of(demo, doctor.id)) == 2 and _written(demo)[2] == 0
    events = demo.exec(
        select(AuditEvent).where(AuditEvent.action == "notify.remind")
    ).all()
    assert [json.loads(e.detail)["sms"] for e in events] == [
        no_mobile.sms_reason,
        failed.sms_reason,
    ]
