"""The notices the actions send themselves, each in the action's own transaction:
a signing batch's result, 实名认证 ended, the 个性签章 changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from his_portal.models import MedicalRecord, Patient
from his_portal.services.notifications.core import Kind, notify

__all__ = ["batch_finished", "seal_changed", "verification_ended"]

MSG_NOT_YOU = "如非本人操作，请立即联系系统管理员。"
SHOWN_FAILURES = 10


def batch_finished(
    session: Session,
    *,
    user_id: int,
    confirmation_id: int,
    planned: int,
    outcomes: Sequence,
    now: datetime | None = None,
) -> bool:
    """已签署N份，失败M份, with each failure's 病历号 and reason (once per batch).

    Args:
        planned: How many records the batch was to sign.
        outcomes: The batch's ``SignOutcome`` values (``record_id``, ``ok``,
            ``message``); a planned record without an outcome counts as failed.
    """
    signed = sum(1 for outcome in outcomes if outcome.ok)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    ids = [outcome.record_id for outcome in failed]
    numbers = dict(
        session.exec(
            select(MedicalRecord.id, Patient.record_no)
            .join(Patient, Patient.id == MedicalRecord.patient_id)
            .where(col(MedicalRecord.id).in_(ids))
        ).all()
    )
    reasons = "；".join(
        f"{numbers.get(outcome.record_id, '未知病历')}：{outcome.message}"
        for outcome in failed[:SHOWN_FAILURES]
    )
    more = "等" if len(failed) > SHOWN_FAILURES else ""
    body = f"失败原因：{reasons}{more}" if failed else "全部签署成功。"
    return notify(
        session,
        user_id=user_id,
        kind=Kind.BATCH,
        title=f"批量签名完成：已签署{signed}份，失败{planned - signed}份",
        body=body,
        record_id=outcomes[0].record_id if planned == len(outcomes) == 1 else None,
        dedup_key=f"batch:{confirmation_id}",
        now=now,
    )


def verification_ended(
    session: Session,
    *,
    user_id: int,
    revoked_serial: str | None,
    now: datetime | None = None,
) -> bool:
    """实名认证 was ended (解除): the certificate is revoked, 电子签名 off."""
    cert = f"数字证书（序列号 {revoked_serial}）已吊销，" if revoked_serial else ""
    return notify(
        session,
        user_id=user_id,
        kind=Kind.VERIFICATION_REVOKED,
        title="实名认证已解除",
        body=f"您的实名认证已解除，{cert}电子签名已关闭；"
        f"再次签名前需重新实名认证。{MSG_NOT_YOU}",
        now=now,
    )


def seal_changed(
    session: Session,
    *,
    user_id: int,
    deleted: bool = False,
    now: datetime | None = None,
) -> bool:
    """The doctor's 个性签章 was set, replaced or deleted."""
    if deleted:
        title, text = "个性签章已删除", "今后签署将使用系统签名。"
    else:
        title, text = "个性签章已更新", "今后签署将使用新的个性签章。"
    return notify(
        session,
        user_id=user_id,
        kind=Kind.SEAL_CHANGED,
        title=title,
        body=f"{text}{MSG_NOT_YOU}",
        now=now,
    )
