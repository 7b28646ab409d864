"""签名监控, behind the numbers: the records a KPI or a doctor stands for, the CSV
exports, and the signed PDF of one of them — all within the manager's scope (a
:class:`~.dashboard.Window` comes only from :func:`.dashboard.window`, which checked
it).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import (
    Clinic,
    MedicalRecord,
    Patient,
    Role,
    SignedDocument,
    SignStatus,
    User,
)
from his_portal.services.auth import CurrentUser
from his_portal.services.paging import Page
from his_portal.services.records import keyset
from his_portal.services.records.dashboard import (
    MAX_ID,
    MSG_MANAGERS_ONLY,
    DoctorFigures,
    Window,
    format_duration,
)
from his_portal.services.records.keyset import Cursor
from his_portal.services.records.sql_time import seconds_between

__all__ = [
    "FIGURE_LABELS",
    "KINDS",
    "MAX_EXPORT",
    "MonitorRecord",
    "MonitorRecordPage",
    "doctors_csv",
    "drill",
    "records_csv",
    "signed_file",
]

R = MedicalRecord
#: The drill-downs: a KPI card's records.
KINDS = {
    "total": "全部病历",
    "signed": "已签名",
    "pending": "待签名",
    "overdue": "超期未签",
    "late": "超时签署",
}
MAX_PAGE_SIZE = 100
MAX_EXPORT = 10_000
BOM = "\ufeff"
#: A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: The per-doctor figures, in the order the table and the CSV show them.
FIGURE_LABELS = (
    "病历数",
    "已签名",
    "待签名",
    "超期未签",
    "超时签署",
    "签署完成率",
    "签署时长中位数",
)


@dataclass(frozen=True)
class MonitorRecord:
    """One record behind a number, display-ready."""

    id: int
    record_no: str
    patient_name: str
    clinic_name: str
    doctor_id: int
    doctor_name: str
    visit_item: str
    created_at: str
    status: str  # 已签名 / 待签名 / 超期未签
    signed_at: str
    duration: str
    late: bool
    overdue: bool


@dataclass(frozen=True)
class MonitorRecordPage(Page[MonitorRecord]):
    """One page of the records behind a number; ``next_after`` starts the next
    page (None on the last one)."""

    next_after: Cursor | None = None


def _kind(w: Window, kind: str):
    duration = seconds_between(R.created_at, R.signed_at)
    signed = R.sign_status == SignStatus.SIGNED
    unsigned = R.sign_status == SignStatus.UNSIGNED
    conditions = {
        "total": sa.true(),
        "signed": signed,
        "pending": sa.and_(unsigned, R.created_at >= w.cutoff),
        "overdue": sa.and_(unsigned, R.created_at < w.cutoff),
        "late": sa.and_(signed, duration > w.deadline_seconds),
    }
    if not isinstance(kind, str) or kind not in conditions:
        raise InvalidInput("无效的统计项")
    return conditions[kind]


def _query(w: Window, kind: str):
    return (
        select(R, Patient.record_no, Patient.name, Clinic.name, User.display_name)
        .join(Patient, Patient.id == R.patient_id)
        .join(Clinic, Clinic.id == R.clinic_id)
        .join(User, User.id == R.doctor_id)
        .where(*w.conditions, _kind(w, kind))
    )


def _row(w: Window, found) -> MonitorRecord:
    record, record_no, patient, clinic, doctor = found
    zone = w.zone
    seconds = None
    if record.signed_at is not None:
        seconds = int((record.signed_at - record.created_at).total_seconds())
    overdue = record.sign_status == SignStatus.UNSIGNED and record.created_at < w.cutoff
    status = (
        "已签名"
        if record.sign_status == SignStatus.SIGNED
        else "超期未签"
        if overdue
        else "待签名"
    )
    return MonitorRecord(
        id=record.id,
        record_no=record_no,
        patient_name=patient,
        clinic_name=clinic,
        doctor_id=record.doctor_id,
        doctor_name=doctor,
        visit_item=record.visit_item,
        created_at=f"{record.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
        status=status,
        signed_at=(
            f"{record.signed_at.astimezone(zone):%Y-%m-%d %H:%M}"
            if record.signed_at
            else ""
        ),
        duration=format_duration(seconds) if seconds is not None else "",
        late=seconds is not None and seconds > w.deadline_seconds,
        overdue=overdue,
    )


def drill(
    *,
    session: Session,
    w: Window,
    kind: str,
    page: int = 1,
    page_size: int = 20,
    after: Cursor | None = None,
) -> MonitorRecordPage:
    """One page of the records behind a KPI (``kind``, a key of :data:`KINDS`),
    newest visit first.

    ``after`` is the previous page's ``next_after``: the page starts right after
    that row (keyset) and ``page`` only numbers it; without it, page ``page`` is
    found by skipping the rows before it.

    Raises:
        InvalidInput: An unknown ``kind``, a page that is not a number or a cursor
            that is not one.
    """
    if type(page) is not int or type(page_size) is not int:
        raise InvalidInput("页码无效")
    condition = _kind(w, kind)
    total = session.exec(
        select(func.count()).select_from(R).where(*w.conditions, condition)
    ).one()
    size = min(max(page_size, 1), MAX_PAGE_SIZE)
    pages = max(1, -(-total // size))
    asked, page = page, min(max(page, 1), pages)
    query = (
        _query(w, kind).order_by(*keyset.order_by(R.created_at, R.id)).limit(size + 1)
    )
    clause = None if after is None else keyset.after(R.created_at, R.id, after)
    if clause is not None and page == asked:  # a clamped page: its cursor is stale
        query = query.where(clause)
    else:
        query = query.offset((page - 1) * size)
    found = session.exec(query).all()
    rows = found[:size]
    next_after = None
    if len(found) > size:
        next_after = Cursor(rows[-1][0].created_at, rows[-1][0].id)
    return MonitorRecordPage([_row(w, f) for f in rows], total, page, size, next_after)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _csv(header: list[str], rows) -> bytes:
    """UTF-8 with a BOM (Excel then reads the Chinese right), formula cells made
    inert."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return (BOM + out.getvalue()).encode("utf-8")


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def doctors_csv(rows: list[DoctorFigures]) -> bytes:
    """The per-doctor table as shown: one row per doctor."""
    header = ["医生", "账号", "分院", *FIGURE_LABELS]
    return _csv(
        header,
        (
            (
                r.doctor_name,
                r.login_id,
                r.clinic_name,
                r.total,
                r.signed,
                r.pending,
                r.overdue,
                r.late,
                _percent(r.completion),
                format_duration(r.median_seconds),
            )
            for r in rows
        ),
    )


def records_csv(*, session: Session, w: Window, kind: str) -> bytes:
    """Every record behind a KPI (at most :data:`MAX_EXPORT`), newest first."""
    found = session.exec(
        _query(w, kind).order_by(*keyset.order_by(R.created_at, R.id)).limit(MAX_EXPORT)
    ).all()
    header = ["病历号", "姓名", "分院", "医生", "挂号项目", "就诊时间"]
    header += ["签署状态", "签署时间", "签署时长"]
    rows = (_row(w, f) for f in found)
    return _csv(
        header,
        (
            (
                r.record_no,
                r.patient_name,
                r.clinic_name,
                r.doctor_name,
                r.visit_item,
                r.created_at,
                r.status,
                r.signed_at,
                r.duration,
            )
            for r in rows
        ),
    )


def signed_file(*, session: Session, viewer: CurrentUser, record_id) -> str:
    """The current signed PDF of a record in the manager's scope (its name under
    the data directory's ``signed/``).

    Raises:
        AccessDenied: Not a manager, or a record outside the manager's scope.
        InvalidInput: The record has no signed version.
    """
    if viewer.role != Role.MANAGER:
        raise AccessDenied(MSG_MANAGERS_ONLY)
    valid = type(record_id) is int and 0 < record_id <= MAX_ID
    record = session.get(R, record_id) if valid else None
    if record is None or not (
        viewer.chain_wide or record.clinic_id == viewer.clinic_id
    ):
        raise AccessDenied("无权查看该病历")
    doc = session.exec(
        select(SignedDocument)
        .where(
            SignedDocument.record_id == record.id,
            col(SignedDocument.superseded_at).is_(None),
        )
        .order_by(col(SignedDocument.version).desc())
    ).first()
    if doc is None:
        raise InvalidInput("该病历尚无签名文件")
    return doc.file_name
