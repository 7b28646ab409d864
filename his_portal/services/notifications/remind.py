"""催签: a clinic manager reminds a doctor to sign, in the portal and by SMS.

Only a manager may remind, only a doctor of a 分院 they manage (a chain-wide manager:
any), and only about that doctor's unsigned records in their scope. The in-app
notification is always added; the SMS goes out when a provider is given, the doctor
has a mobile number on file, and no 催签 SMS reached that doctor within
:data:`REMIND_SMS_INTERVAL` (``SmsMessage`` is the counter; the doctor's profile row
is locked while checking, so two managers at once send one text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from his_portal.adapters.sms import SmsProvider, SmsProviderError
from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import (
    DoctorProfile,
    MedicalRecord,
    Patient,
    Role,
    SignStatus,
    SmsMessage,
    User,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.notifications.core import Kind, notify
from his_portal.settings import get_settings

__all__ = ["REMIND_SMS_INTERVAL", "SMS_PURPOSE", "RemindResult", "remind"]

SMS_PURPOSE = "remind"
REMIND_SMS_INTERVAL = timedelta(hours=1)
_HOURS = int(REMIND_SMS_INTERVAL.total_seconds() // 3600)
MAX_RECORDS = 200
SHOWN_RECORD_NOS = 10
MSG_MANAGERS_ONLY = "只有门诊管理者可以催签"
MSG_NO_DOCTOR = "没有这位医生，或该医生不在您管理的分院"
MSG_RECORDS_DENIED = "无权催签所选病历"
MSG_NOT_PENDING = "所选病历不是该医生的待签病历"
MSG_NOTHING_PENDING = "该医生没有待签病历，无需催签"
MSG_NO_PROVIDER = "未配置短信服务，仅发送站内通知"
MSG_NO_MOBILE = "该医生未登记手机号，仅发送站内通知"
MSG_RATE_LIMITED = f"该医生{_HOURS}小时内已收到过催签短信，本次仅发送站内通知"
SMS_TEXT = (
    "【牙医云HIS】{sender}提醒您：您有{count}份病历待签署，请尽快登录系统完成电子签名。"
)


@dataclass(frozen=True)
class RemindResult:
    """What one 催签 did."""

    doctor_name: str
    records: int  # how many records the reminder is about
    notified: bool  # the in-app notification was added
    sms_sent: bool
    sms_reason: str = ""  # why no SMS went out ("" when one did)

    @property
    def summary(self) -> str:
        """One Chinese sentence for the manager's toast."""
        sent = "，并已发送短信" if self.sms_sent else f"；{self.sms_reason}"
        return f"已向{self.doctor_name}发送催签通知（{self.records}份病历）{sent}"


def _in_scope(manager: CurrentUser, clinic_id: int) -> bool:
    return manager.chain_wide or clinic_id == manager.clinic_id


def _doctor(session: Session, manager: CurrentUser, doctor_id) -> User:
    if manager.role != Role.MANAGER:
        raise AccessDenied(MSG_MANAGERS_ONLY)
    if type(doctor_id) is not int:
        raise InvalidInput("请选择要催签的医生")
    doctor = session.get(User, doctor_id)
    if (
        doctor is None
        or doctor.role != Role.DOCTOR
        or not _in_scope(manager, doctor.clinic_id)
    ):
        raise AccessDenied(MSG_NO_DOCTOR)
    if not doctor.is_active:
        raise InvalidInput("该医生账号已停用")
    return doctor


def _chosen(session, manager, doctor: User, record_ids) -> tuple[list[int], list[str]]:
    """The chosen records' ids and 病历号, checked: in scope, the doctor's, unsigned."""
    if not isinstance(record_ids, list | tuple) or any(
        type(i) is not int for i in record_ids
    ):
        raise InvalidInput("所选病历无效")
    ids = list(dict.fromkeys(record_ids))
    if len(ids) > MAX_RECORDS:
        raise InvalidInput(f"一次最多催签{MAX_RECORDS}份病历")
    found = {
        record.id: (record, record_no)
        for record, record_no in session.exec(
            select(MedicalRecord, Patient.record_no)
            .join(Patient, Patient.id == MedicalRecord.patient_id)
            .where(col(MedicalRecord.id).in_(ids))
        )
    }
    if any(i not in found for i in ids) or any(
        not _in_scope(manager, record.clinic_id) for record, _ in found.values()
    ):
        raise AccessDenied(MSG_RECORDS_DENIED)
    if any(
        found[i][0].doctor_id != doctor.id
        or found[i][0].sign_status != SignStatus.UNSIGNED
        for i in ids
    ):
        raise InvalidInput(MSG_NOT_PENDING)
    return ids, [found[i][1] for i in ids]


def _pending(session, manager, doctor: User, cutoff: datetime) -> tuple[int, int]:
    """(unsigned, of which past the deadline) of the doctor's records in scope."""
    overdue = func.sum(case((col(MedicalRecord.created_at) <= cutoff, 1), else_=0))
    query = select(func.count(), func.coalesce(overdue, 0)).where(
        MedicalRecord.doctor_id == doctor.id,
        MedicalRecord.sign_status == SignStatus.UNSIGNED,
    )
    if not manager.chain_wide:
        query = query.where(MedicalRecord.clinic_id == manager.clinic_id)
    unsigned, late = session.exec(query).one()
    return int(unsigned), int(late)


def _send_sms(session, sms, doctor: User, text: str, count: int, now) -> str:
    """Text the doctor unless rate-limited; the reason when no SMS went out."""
    mine = select(DoctorProfile).where(DoctorProfile.user_id == doctor.id)
    profile = session.exec(mine.with_for_update()).first()
    mobile = profile.mobile if profile else ""
    if not mobile:
        return MSG_NO_MOBILE
    recent = session.exec(
        select(SmsMessage.id).where(
            SmsMessage.user_id == doctor.id,
            SmsMessage.purpose == SMS_PURPOSE,
            SmsMessage.created_at > now - REMIND_SMS_INTERVAL,
        )
    ).first()
    if recent is not None:
        return MSG_RATE_LIMITED
    try:
        receipt = sms.send(mobile=mobile, text=text, params={"count": str(count)})
    except SmsProviderError as exc:
        return f"短信发送失败：{exc.message}"
    session.add(
        SmsMessage(
            mobile=mobile,
            user_id=doctor.id,
            body=text,
            purpose=SMS_PURPOSE,
            provider=receipt.provider,
            provider_ref=receipt.reference[:100],
            created_at=now,
        )
    )
    return ""


def remind(
    session: Session,
    *,
    manager: CurrentUser,
    doctor_id: int,
    record_ids: Sequence[int] = (),
    sms: SmsProvider | None,
    actor: Actor,
    now: datetime | None = None,
) -> RemindResult:
    """催签: notify a doctor (and text them, rate-limited) to sign (commits).

    Args:
        manager: The manager asking.
        doctor_id: A doctor of a 分院 the manager manages.
        record_ids: The doctor's unsigned records to name; empty: all of them.
        sms: The SMS gateway, or None for the in-app notification only.
        actor: The manager, for the audit log.

    Raises:
        AccessDenied: Not a manager, a doctor outside the manager's scope, or a
            record outside it; nothing is written.
        InvalidInput: A record that is not this doctor's unsigned record, or no
            unsigned record at all; nothing is written.
    """
    now = now or utcnow()
    doctor = _doctor(session, manager, doctor_id)
    ids: list[int] = []
    if record_ids:
        ids, numbers = _chosen(session, manager, doctor, record_ids)
        count = len(numbers)
        shown = "、".join(numbers[:SHOWN_RECORD_NOS])
        more = "等" if count > SHOWN_RECORD_NOS else ""
        body = f"{manager.display_name}提醒您尽快签署以下{count}份病历：{shown}{more}"
    else:
        hours = get_settings().sign_deadline_hours
        count, late = _pending(session, manager, doctor, now - timedelta(hours=hours))
        if count == 0:
            raise InvalidInput(MSG_NOTHING_PENDING)
        body = (
            f"{manager.display_name}提醒您尽快签署待签病历：共{count}份，"
            f"其中{late}份已超过{hours}小时未签"
        )
    notify(
        session,
        user_id=doctor.id,
        kind=Kind.REMIND,
        title="催签：请尽快签署病历",
        body=body,
        record_id=ids[0] if len(ids) == 1 else None,
        sender_id=manager.id,
        now=now,
    )
    reason = MSG_NO_PROVIDER
    if sms is not None:
        text = SMS_TEXT.format(sender=manager.display_name, count=count)
        reason = _send_sms(session, sms, doctor, text, count, now)
    record_event(
        session=session,
        actor=actor,
        action="notify.remind",
        target=f"user:{doctor.id}",
        detail={"records": ids or count, "sms": reason or "sent"},
    )
    session.commit()
    return RemindResult(doctor.display_name, count, True, not reason, reason)
