"""The periodic notices: records past their signing deadline, certificates about
to expire. Run by ``his_portal.maintenance`` through ``jobs.run_if_due``, so once
per interval however many workers there are; each notice also carries a
``dedup_key``, so a second run (or a second worker) adds nothing new.

* 超期未签: one notice per doctor per clinic day, summarising that doctor's records
  still unsigned ``deadline_hours`` after the visit (counted in SQL, grouped by
  doctor; no record rows are loaded).
* 证书到期: one notice per active certificate expiring within
  :data:`CERT_WARNING`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from his_portal.models import (
    CertStatus,
    DoctorCertificate,
    MedicalRecord,
    Role,
    SignStatus,
    User,
    utcnow,
)
from his_portal.services.notifications.core import Kind, notify

__all__ = [
    "CERT_WARNING",
    "JOB_NAME",
    "cert_expiry_notices",
    "overdue_by_doctor",
    "overdue_notices",
    "run",
]

JOB_NAME = "notifications"
CERT_WARNING = timedelta(days=30)
_WARNING_DAYS = CERT_WARNING.days


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def overdue_by_doctor(session: Session, *, cutoff: datetime) -> list[tuple]:
    """(doctor id, how many, the oldest visit) of each active doctor's records
    unsigned since before ``cutoff``; read off the (sign_status, doctor_id,
    created_at) index, one range per status, no record rows."""
    doctors = select(User.id).where(
        User.role == Role.DOCTOR, col(User.is_active).is_(True)
    )
    return session.exec(
        select(
            MedicalRecord.doctor_id,
            func.count(),
            func.min(MedicalRecord.created_at),
        )
        .where(
            MedicalRecord.sign_status == SignStatus.UNSIGNED,
            col(MedicalRecord.created_at) <= cutoff,
            col(MedicalRecord.doctor_id).in_(doctors),
        )
        .group_by(MedicalRecord.doctor_id)
        .order_by(MedicalRecord.doctor_id)
    ).all()


def overdue_notices(
    session: Session, *, now: datetime, deadline_hours: int, zone: ZoneInfo
) -> int:
    """超期未签: notify each doctor with records past the deadline (once a day).

    Returns:
        How many notices were added (doctors already told today count 0).
    """
    cutoff = now - timedelta(hours=deadline_hours)
    day = now.astimezone(zone).date().isoformat()
    added = 0
    for doctor_id, count, oldest in overdue_by_doctor(session, cutoff=cutoff):
        added += notify(
            session,
            user_id=doctor_id,
            kind=Kind.OVERDUE,
            title=f"{count}份病历超期未签",
            body=f"您有{count}份病历在就诊后超过{deadline_hours}小时仍未签署，"
            f"最早一份的病历时间为{_local(oldest, zone)}，请尽快到待完善病历签署。",
            dedup_key=f"overdue:{doctor_id}:{day}",
            now=now,
        )
    return added


def cert_expiry_notices(session: Session, *, now: datetime, zone: ZoneInfo) -> int:
    """证书到期: notify each active certificate's holder once, 30 days ahead.

    Returns:
        How many notices were added.
    """
    expiring = session.exec(
        select(DoctorCertificate.user_id, DoctorCertificate.serial_hex)
        .add_columns(DoctorCertificate.not_after)
        .where(
            DoctorCertificate.status == CertStatus.ACTIVE,
            col(DoctorCertificate.not_after) > now,
            col(DoctorCertificate.not_after) <= now + CERT_WARNING,
        )
        .order_by(DoctorCertificate.id)
    ).all()
    return sum(
        notify(
            session,
            user_id=user_id,
            kind=Kind.CERT_EXPIRING,
            title="数字证书即将到期",
            body=f"您的数字证书（序列号 {serial}）将于{_local(not_after, zone)}到期"
            f"（{_WARNING_DAYS}天内），到期后将无法签名。请在到期前于个人中心"
            "解除并重新实名认证，以签发新证书。",
            dedup_key=f"cert_expiring:{serial}",
            now=now,
        )
        for user_id, serial, not_after in expiring
    )


def run(
    session: Session,
    *,
    deadline_hours: int,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> dict:
    """One round of both (commits); the counts, for the job's row."""
    now = now or utcnow()
    result = {
        "overdue": overdue_notices(
            session, now=now, deadline_hours=deadline_hours, zone=zone
        ),
        "cert_expiring": cert_expiry_notices(session, now=now, zone=zone),
    }
    session.commit()
    return result
