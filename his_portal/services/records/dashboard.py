"""签名监控: the signing figures a clinic manager reads, computed in SQL.

Who sees what: managers only; a chain-wide manager any 分院 (or all), a branch
manager their own 分院 — asking for another is refused, whatever the page sent.

What the figures mean (``deadline``: ``HIS_SIGN_DEADLINE_HOURS``):

- a record belongs to the clinic-local day of its visit (``created_at``); the
  filter's dates are inclusive;
- 已签名: signed; 超期未签: unsigned and the visit more than ``deadline`` ago;
  待签名: unsigned, still within the deadline; so 病历数 = the three together;
- 超时签署: signed, but more than ``deadline`` after the visit;
- 签署时长: visit → signature (``signed_at - created_at``); the median and the
  90th percentile are nearest-rank: the value at rank ⌈p·n⌉ of the n signed
  records' durations in ascending order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import Clinic, MedicalRecord, Role, SignStatus, User
from his_portal.services.auth import CurrentUser
from his_portal.services.records.sql_time import local_day, seconds_between

__all__ = [
    "MAX_DAYS",
    "DayFigures",
    "DoctorFigures",
    "DoctorOption",
    "Figures",
    "MonitorFilter",
    "MonitorScope",
    "SignCounts",
    "Window",
    "daily",
    "figures",
    "format_duration",
    "monitor_scope",
    "per_doctor",
    "window",
]

MAX_DAYS = 366
#: The largest id a table holds (PostgreSQL ``integer``); larger ones are refused
#: before they reach the database.
MAX_ID = 2**31 - 1
MSG_MANAGERS_ONLY = "只有门诊管理者可以查看签名监控"
MSG_OTHER_CLINIC = "无权查看其他分院的数据"
R = MedicalRecord
_duration = seconds_between(R.created_at, R.signed_at)
_signed = R.sign_status == SignStatus.SIGNED
_unsigned = R.sign_status == SignStatus.UNSIGNED


@dataclass(frozen=True)
class MonitorFilter:
    """What the manager picked: visit dates (inclusive), 分院 and 医生 (None: all)."""

    date_from: date
    date_to: date
    clinic_id: int | None = None
    doctor_id: int | None = None


@dataclass(frozen=True)
class DoctorOption:
    id: int
    name: str
    clinic_id: int


@dataclass(frozen=True)
class MonitorScope:
    """The 分院 and doctors a manager may pick."""

    chain_wide: bool
    clinics: tuple[tuple[int, str], ...]
    doctors: tuple[DoctorOption, ...]


@dataclass(frozen=True)
class Window:
    """A checked filter: the SQL conditions it stands for and its time bounds."""

    conditions: tuple
    start: datetime
    end: datetime
    cutoff: datetime  # a visit before this and still unsigned is 超期未签
    deadline_seconds: int
    zone: ZoneInfo


@dataclass(frozen=True)
class SignCounts:
    """病历数 and how they stand: 已签名, 待签名, 超期未签, 超时签署."""

    total: int
    signed: int
    pending: int
    overdue: int
    late: int

    @property
    def completion(self) -> float | None:
        """签署完成率 (0–1), None without records."""
        return self.signed / self.total if self.total else None


@dataclass(frozen=True)
class Figures(SignCounts):
    """The KPI cards."""

    median_seconds: int | None
    p90_seconds: int | None


@dataclass(frozen=True)
class DayFigures:
    """One day of the trend chart."""

    day: date
    signed: int
    pending: int
    overdue: int


@dataclass(frozen=True)
class DoctorFigures(SignCounts):
    """One doctor's row (and bar)."""

    doctor_id: int
    doctor_name: str
    login_id: str
    clinic_name: str
    median_seconds: int | None


def _require_manager(viewer: CurrentUser) -> None:
    if viewer.role != Role.MANAGER:
        raise AccessDenied(MSG_MANAGERS_ONLY)


def _in_scope(viewer: CurrentUser, clinic_id: int) -> bool:
    return viewer.chain_wide or clinic_id == viewer.clinic_id


def monitor_scope(*, session: Session, viewer: CurrentUser) -> MonitorScope:
    """The 分院 (all of the chain, or the manager's own) and their doctors."""
    _require_manager(viewer)
    clinics = session.exec(select(Clinic).order_by(Clinic.id)).all()
    mine = tuple((c.id, c.name) for c in clinics if _in_scope(viewer, c.id))
    ids = [clinic_id for clinic_id, _ in mine]
    doctors = session.exec(
        select(User)
        .where(User.role == Role.DOCTOR, col(User.clinic_id).in_(ids))
        .order_by(User.clinic_id, User.display_name, User.id)
    ).all()
    return MonitorScope(
        viewer.chain_wide,
        mine,
        tuple(DoctorOption(d.id, d.display_name, d.clinic_id) for d in doctors),
    )


def _checked_id(value, label: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise InvalidInput(f"{label}无效")
    return value


def window(
    *,
    session: Session,
    viewer: CurrentUser,
    filters: MonitorFilter,
    now: datetime,
    zone: ZoneInfo,
    deadline_hours: int,
) -> Window:
    """Check the filter against the viewer's scope and turn it into SQL.

    Raises:
        AccessDenied: Not a manager; a 分院 or doctor outside the manager's scope.
        InvalidInput: Dates reversed or more than :data:`MAX_DAYS` apart; a 分院
            or doctor that does not exist; a doctor not of the chosen 分院.
    """
    _require_manager(viewer)
    if not isinstance(filters.date_from, date) or not isinstance(filters.date_to, date):
        raise InvalidInput("日期无效")
    if filters.date_from > filters.date_to:
        raise InvalidInput("开始日期不能晚于结束日期")
    if (filters.date_to - filters.date_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"统计时间范围不能超过{MAX_DAYS}天")
    clinic_id = _checked_id(filters.clinic_id, "分院")
    doctor_id = _checked_id(filters.doctor_id, "医生")
    conditions: list = []
    if clinic_id is not None:
        if session.get(Clinic, clinic_id) is None:
            raise InvalidInput("分院不存在")
        if not _in_scope(viewer, clinic_id):
            raise AccessDenied(MSG_OTHER_CLINIC)
        conditions.append(R.clinic_id == clinic_id)
    elif not viewer.chain_wide:
        conditions.append(R.clinic_id == viewer.clinic_id)
    if doctor_id is not None:
        doctor = session.get(User, doctor_id)
        if doctor is None or doctor.role != Role.DOCTOR:
            raise InvalidInput("医生不存在")
        if not _in_scope(viewer, doctor.clinic_id):
            raise AccessDenied(MSG_OTHER_CLINIC)
        if clinic_id is not None and doctor.clinic_id != clinic_id:
            raise InvalidInput("该医生不属于所选分院")
        conditions.append(R.doctor_id == doctor_id)
        if not viewer.chain_wide:  # a doctor who moved keeps older records elsewhere
            conditions.append(R.clinic_id == viewer.clinic_id)
    start = datetime.combine(filters.date_from, time.min, tzinfo=zone)
    end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone)
    conditions += [R.created_at >= start, R.created_at < end]
    deadline = timedelta(hours=deadline_hours)
    return Window(
        tuple(conditions),
        start,
        end,
        now - deadline,
        int(deadline.total_seconds()),
        zone,
    )


def _count(condition):
    return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)


def _counts(w: Window) -> tuple:
    """signed, pending, overdue, late as SQL aggregates."""
    overdue = sa.and_(_unsigned, R.created_at < w.cutoff)
    return (
        _count(_signed),
        _count(sa.and_(_unsigned, R.created_at >= w.cutoff)),
        _count(overdue),
        _count(sa.and_(_signed, _duration > w.deadline_seconds)),
    )


def _rank(count: int, share: float) -> int:
    """The 1-based nearest rank of the ``share`` percentile among ``count`` values."""
    return max(-(-count * round(share * 100) // 100), 1)


def _percentiles(session: Session, w: Window, count: int) -> tuple:
    """Median and P90 签署时长, read off one ordering of the signed durations."""
    if not count:
        return None, None
    ranks = _rank(count, 0.5), _rank(count, 0.9)
    ordered = (
        select(
            _duration.label("seconds"),
            func.row_number().over(order_by=_duration).label("rank"),
        )
        .where(*w.conditions, _signed)
        .subquery()
    )
    found = dict(
        session.exec(
            select(ordered.c.rank, ordered.c.seconds).where(
                col(ordered.c.rank).in_(ranks)
            )
        ).all()
    )
    return tuple(round(found[rank]) for rank in ranks)


def figures(*, session: Session, w: Window) -> Figures:
    """病历数, 已签名, 待签名, 超期未签, 超时签署, median and P90 签署时长."""
    total, signed, pending, overdue, late = session.exec(
        select(func.count(R.id), *_counts(w)).where(*w.conditions)
    ).one()
    median, p90 = _percentiles(session, w, int(signed))
    return Figures(
        total=int(total),
        signed=int(signed),
        pending=int(pending),
        overdue=int(overdue),
        late=int(late),
        median_seconds=median,
        p90_seconds=p90,
    )


def daily(*, session: Session, w: Window) -> list[DayFigures]:
    """Signed, pending and overdue records per visit day, every day of the range."""
    day = local_day(R.created_at, w.start, w.end, w.zone).label("day")
    signed, pending, overdue, _ = _counts(w)
    rows = session.exec(
        select(day, signed, pending, overdue).where(*w.conditions).group_by(day)
    ).all()
    found = {int(number): row for number, *row in rows}
    epoch_day = date(1970, 1, 1)
    first = w.start.date()
    days = (w.end.date() - first).days
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        counts = found.get((current - epoch_day).days, (0, 0, 0))
        result.append(DayFigures(current, *(int(c) for c in counts)))
    return result


def per_doctor(*, session: Session, w: Window) -> list[DoctorFigures]:
    """Each doctor with records in the window: counts and median 签署时长, the
    doctors with the most 超期未签 first."""
    ranked = (
        select(
            R.doctor_id.label("doctor_id"),
            _duration.label("seconds"),
            func.row_number()
            .over(partition_by=R.doctor_id, order_by=_duration)
            .label("rank"),
            func.count().over(partition_by=R.doctor_id).label("n"),
        )
        .where(*w.conditions, _signed)
        .subquery()
    )
    medians = dict(
        session.exec(
            select(ranked.c.doctor_id, ranked.c.seconds).where(
                # rank = ⌈n/2⌉, in integers
                ranked.c.rank * 2 >= ranked.c.n,
                (ranked.c.rank - 1) * 2 < ranked.c.n,
            )
        ).all()
    )
    signed, pending, overdue, late = _counts(w)
    rows = session.exec(
        select(
            User.id,
            User.display_name,
            User.login_id,
            Clinic.name,
            func.count(R.id),
            signed,
            pending,
            overdue,
            late,
        )
        .join(User, User.id == R.doctor_id)
        .join(Clinic, Clinic.id == User.clinic_id)
        .where(*w.conditions)
        .group_by(User.id, User.display_name, User.login_id, Clinic.name)
        .order_by(overdue.desc(), User.display_name, User.id)
    ).all()
    return [
        DoctorFigures(
            doctor_id=doctor_id,
            doctor_name=name,
            login_id=login,
            clinic_name=clinic,
            total=int(counts[0]),
            signed=int(counts[1]),
            pending=int(counts[2]),
            overdue=int(counts[3]),
            late=int(counts[4]),
            median_seconds=(
                round(medians[doctor_id]) if doctor_id in medians else None
            ),
        )
        for doctor_id, name, login, clinic, *counts in rows
    ]


def format_duration(seconds: int | None) -> str:
    """签署时长 for people: 分钟 under two hours, 小时 under two days, else 天."""
    if seconds is None:
        return "—"
    if seconds < 2 * 3600:
        return f"{max(round(seconds / 60), 1)}分钟"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}小时"
    return f"{seconds / 86400:.1f}天"
