"""Read queries over medical records and patients, scoped to who is asking.

A doctor sees their own records; a manager sees their clinic's; an administrator
manages accounts and sees no medical records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, or_, select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import (
    Appointment,
    Clinic,
    MedicalRecord,
    Patient,
    Role,
    SignStatus,
    User,
    utcnow,
)
from his_portal.services.auth import CurrentUser
from his_portal.services.paging import Page
from his_portal.services.records import keyset
from his_portal.services.records.keyset import Cursor

__all__ = [
    "AppointmentRow",
    "Cursor",
    "Kpis",
    "PatientHit",
    "RecordFilter",
    "RecordPage",
    "RecordRow",
    "list_records",
    "search_patients",
    "todays_appointments",
    "workbench_kpis",
]

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class RecordFilter:
    """病历时间 range (clinic-local dates, inclusive), 病历号, sign status, page and
    order (创建时间, newest first unless ``oldest_first``).

    ``after`` is the previous page's :attr:`RecordPage.next_after`: the page then
    starts right after that row (keyset) and ``page`` only numbers it; without it,
    page ``page`` is found by skipping the rows before it.
    """

    date_from: date
    date_to: date
    record_no: str = ""
    sign_status: SignStatus | None = None
    page: int = 1
    page_size: int = 20
    oldest_first: bool = False
    after: Cursor | None = None


@dataclass(frozen=True)
class RecordRow:
    """One row of the records table, display-ready."""

    id: int
    patient_name: str
    record_no: str
    clinic_name: str
    doctor_name: str
    visit_item: str
    title: str
    created_at: str
    sign_status: str
    lock_status: str
    amend_until: str = ""
    signer: str = ""
    amendable: bool = False


@dataclass(frozen=True)
class RecordPage(Page[RecordRow]):
    """One page of the records table; ``next_after`` starts the next page (None on
    the last one)."""

    next_after: Cursor | None = None


@dataclass(frozen=True)
class PatientHit:
    record_no: str
    name: str
    sex: str
    birth_date: str
    records: int


def _day_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def _stamp(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def clinic_scope(viewer: CurrentUser, clinic_column):
    """The clinics a manager sees: all 分院 (chain-wide) or their own."""
    return sa.true() if viewer.chain_wide else clinic_column == viewer.clinic_id


def _scope_condition(viewer: CurrentUser):
    if viewer.role == Role.DOCTOR:
        return MedicalRecord.doctor_id == viewer.id
    if viewer.role == Role.MANAGER:
        return clinic_scope(viewer, MedicalRecord.clinic_id)
    raise AccessDenied("当前账号无权查看病历")


def _conditions(viewer: CurrentUser, filters: RecordFilter, zone: ZoneInfo) -> list:
    if filters.date_from > filters.date_to:
        raise InvalidInput("开始日期不能晚于结束日期")
    start, end = _day_bounds(filters.date_from, filters.date_to, zone)
    conditions = [
        _scope_condition(viewer),
        MedicalRecord.created_at >= start,
        MedicalRecord.created_at < end,
    ]
    if filters.record_no.strip():
        # 病历号 is unique: one patient, found first (the count needs no join).
        patient = (
            select(Patient.id)
            .where(Patient.record_no == filters.record_no.strip().upper())
            .scalar_subquery()
        )
        conditions.append(MedicalRecord.patient_id == patient)
    if filters.sign_status is not None:
        conditions.append(MedicalRecord.sign_status == filters.sign_status)
    return conditions


def list_records(
    *, session: Session, viewer: CurrentUser, filters: RecordFilter, zone: ZoneInfo
) -> RecordPage:
    """The viewer's records in a date range, newest first, one page of them.

    Raises:
        AccessDenied: The viewer's role may not read medical records.
        InvalidInput: The date range is reversed, the page is not a number or
            ``after`` is no cursor.
    """
    if type(filters.page) is not int or type(filters.page_size) is not int:
        raise InvalidInput("页码无效")
    conditions = _conditions(viewer, filters, zone)
    newest_first = not filters.oldest_first
    total = session.exec(
        select(func.count()).select_from(MedicalRecord).where(*conditions)
    ).one()
    size = min(max(filters.page_size, 1), MAX_PAGE_SIZE)
    page = min(max(1, filters.page), max(1, -(-total // size)))
    signer = aliased(User)
    query = (
        select(MedicalRecord, Patient, User, Clinic, signer.login_id)
        .join(Patient, Patient.id == MedicalRecord.patient_id)
        .join(User, User.id == MedicalRecord.doctor_id)
        .join(Clinic, Clinic.id == MedicalRecord.clinic_id)
        .outerjoin(signer, signer.id == MedicalRecord.signer_id)
        .where(*conditions)
        .order_by(
            *keyset.order_by(
                MedicalRecord.created_at, MedicalRecord.id, newest_first=newest_first
            )
        )
        .limit(size + 1)
    )
    # keyset.after refuses what is not a cursor. A cursor belongs to the page asked
    # for; a page clamped to the last one (rows signed or gone since) is by OFFSET.
    after = (
        None
        if filters.after is None
        else keyset.after(
            MedicalRecord.created_at,
            MedicalRecord.id,
            filters.after,
            newest_first=newest_first,
        )
    )
    if after is not None and page == filters.page:
        query = query.where(after)
    else:
        query = query.offset((page - 1) * size)
    found = session.exec(query).all()
    rows = found[:size]
    now = utcnow()
    return RecordPage(
        rows=[
            RecordRow(
                id=record.id,
                patient_name=patient.name,
                record_no=patient.record_no,
                clinic_name=clinic.name,
                doctor_name=doctor.display_name,
                visit_item=record.visit_item,
                title=record.title,
                created_at=record.created_at.astimezone(zone).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                sign_status=record.sign_status,
                lock_status=record.lock_status,
                amend_until=_stamp(record.amend_until, zone),
                amendable=record.amend_until is not None and record.amend_until > now,
                signer=signer_login or "",
            )
            for record, patient, doctor, clinic, signer_login in rows
        ],
        total=total,
        page=page,
        page_size=size,
        next_after=(
            keyset.Cursor(rows[-1][0].created_at, rows[-1][0].id)
            if len(found) > size
            else None
        ),
    )


def search_patients(
    *, session: Session, viewer: CurrentUser, text: str, limit: int = 20
) -> list[PatientHit]:
    """Patients of the viewer's clinic by 病历号, 姓名 or 拼音 (full or initials)."""
    if viewer.role not in (Role.DOCTOR, Role.MANAGER):
        raise AccessDenied("当前账号无权查看患者")
    text = text.strip()
    if not text:
        return []
    pattern = f"%{text.lower()}%"
    record_count = (
        select(func.count())
        .where(MedicalRecord.patient_id == Patient.id)
        .scalar_subquery()
    )
    rows = session.exec(
        select(Patient, record_count)
        .where(
            clinic_scope(viewer, Patient.clinic_id)
            if viewer.role == Role.MANAGER
            else Patient.clinic_id == viewer.clinic_id,
            or_(
                Patient.record_no == text.upper(),
                col(Patient.name).contains(text),
                col(Patient.name_pinyin).like(pattern),
            ),
        )
        .order_by(Patient.name)
        .limit(limit)
    ).all()
    return [
        PatientHit(
            record_no=p.record_no,
            name=p.name,
            sex="男" if p.sex == "male" else "女",
            birth_date=p.birth_date.isoformat(),
            records=count,
        )
        for p, count in rows
    ]


@dataclass(frozen=True)
class Kpis:
    """The workbench's KPI strip."""

    today_visits: int
    pending: int
    signed_today: int
    completion: str
    overdue: int


OVERDUE_AFTER = timedelta(hours=24)


def workbench_kpis(
    *, session: Session, viewer: CurrentUser, now: datetime, zone: ZoneInfo
) -> Kpis:
    """今日接诊, 待签名, 今日已签, 签署完成率 (today), 超期未签 (unsigned > 24 h)."""
    start, end = _day_bounds(
        now.astimezone(zone).date(), now.astimezone(zone).date(), zone
    )
    unsigned = MedicalRecord.sign_status == SignStatus.UNSIGNED

    def count(*conditions) -> int:
        return session.exec(
            select(func.count())
            .select_from(MedicalRecord)
            .where(_scope_condition(viewer), *conditions)
        ).one()

    today = (MedicalRecord.created_at >= start, MedicalRecord.created_at < end)
    visits = count(*today)
    signed_of_today = count(*today, MedicalRecord.sign_status == SignStatus.SIGNED)
    pending = count(unsigned)
    # The few unsigned since the cutoff, not the many before it: one pass over the
    # unsigned records of all time (pending) is enough.
    recent = count(unsigned, MedicalRecord.created_at >= now - OVERDUE_AFTER)
    return Kpis(
        today_visits=visits,
        pending=pending,
        signed_today=count(
            MedicalRecord.signed_at >= start, MedicalRecord.signed_at < end
        ),
        completion=f"{signed_of_today * 100 / visits:.0f}%" if visits else "—",
        overdue=pending - recent,
    )


@dataclass(frozen=True)
class AppointmentRow:
    """One of today's bookings (今日预约)."""

    time: str
    patient_name: str
    record_no: str
    visit_item: str
    doctor_name: str
    status: str


APPOINTMENT_STATUS = {
    "booked": "待到诊",
    "arrived": "已到诊",
    "missed": "未到诊",
    "cancelled": "已取消",
}


def todays_appointments(
    *, session: Session, viewer: CurrentUser, now: datetime, zone: ZoneInfo
) -> list[AppointmentRow]:
    """The viewer's (a manager: the clinic's) bookings for the clinic's today."""
    day = now.astimezone(zone).date()
    start, end = _day_bounds(day, day, zone)
    query = (
        select(Appointment, Patient, User)
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(User, User.id == Appointment.doctor_id)
        .where(Appointment.scheduled_at >= start, Appointment.scheduled_at < end)
        .order_by(Appointment.scheduled_at)
    )
    if viewer.role == Role.DOCTOR:
        query = query.where(Appointment.doctor_id == viewer.id)
    elif viewer.role == Role.MANAGER:
        query = query.where(clinic_scope(viewer, Appointment.clinic_id))
    else:
        raise AccessDenied("当前账号无权查看预约")
    return [
        AppointmentRow(
            time=booking.scheduled_at.astimezone(zone).strftime("%H:%M"),
            patient_name=patient.name,
            record_no=patient.record_no,
            visit_item=booking.visit_item,
            doctor_name=doctor.display_name,
            status=APPOINTMENT_STATUS.get(booking.status, booking.status),
        )
        for booking, patient, doctor in session.exec(query).all()
    ]
