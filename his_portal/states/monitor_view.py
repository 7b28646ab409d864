"""签名监控's figures as the page shows them (each function opens its own database
session and calls the dashboard services, which check the manager's scope; the
refresh runs them in a worker thread), and whether the page's tab is still open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from reflex_base.registry import RegistrationContext
from reflex_base.utils.exceptions import ReflexRuntimeError

from his_portal import db
from his_portal.errors import InvalidInput
from his_portal.services.auth import CurrentUser
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records.keyset import Cursor
from his_portal.settings import clinic_zone, get_settings

__all__ = [
    "QUICK_RANGES",
    "Card",
    "DayRow",
    "DoctorRow",
    "DrillAsk",
    "Snapshot",
    "connected",
    "parse_filter",
    "refresh",
    "scope",
    "snapshot",
    "window",
]

#: 今日 / 近7天 / 近30天 / 近90天: how many days before today the range starts.
QUICK_RANGES = {"今日": 0, "近7天": 6, "近30天": 29, "近90天": 89}
ALL = "all"


@dataclass(frozen=True)
class Card:
    """A KPI card; ``key`` names its drill-down ("" when it has none)."""

    key: str
    label: str
    value: str
    hint: str
    tone: str


@dataclass(frozen=True)
class DayRow:
    day: str
    signed: int
    pending: int
    overdue: int


@dataclass(frozen=True)
class DoctorRow:
    id: int
    name: str
    login_id: str
    clinic_name: str
    total: int
    signed: int
    pending: int
    overdue: int
    late: int
    completion: str
    median: str


@dataclass(frozen=True)
class Snapshot:
    """Everything the page shows for one filter."""

    cards: list[Card]
    days: list[DayRow]
    trend: list[dict[str, Any]]
    doctors: list[DoctorRow]
    bars: list[dict[str, Any]]
    updated_at: str


async def connected(token: str) -> bool:
    """Whether the browser tab behind ``token`` still has its websocket open (on
    any worker; Reflex's own shared-state updates ask the same)."""
    try:
        namespace = RegistrationContext.get().app.event_namespace
    except (LookupError, ReflexRuntimeError):  # no app running (tests, tools)
        return False
    if namespace is None:
        return False
    return await namespace._token_manager.is_token_connected(token)


def today() -> date:
    return datetime.now(clinic_zone()).date()


def _day(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{label}格式不正确，应为 年-月-日") from None


def _choice(value: str, label: str) -> int | None:
    if value == ALL:
        return None
    if not isinstance(value, str) or not value.isdigit():
        raise InvalidInput(f"{label}无效")
    return int(value)


def parse_filter(
    date_from: str, date_to: str, clinic: str, doctor: str
) -> dashboard.MonitorFilter:
    """The page's filter fields as a service filter (the service checks scope).

    Raises:
        InvalidInput: A date or choice that is not one.
    """
    return dashboard.MonitorFilter(
        date_from=_day(date_from, "开始日期"),
        date_to=_day(date_to, "结束日期"),
        clinic_id=_choice(clinic, "分院"),
        doctor_id=_choice(doctor, "医生"),
    )


def window(session, viewer: CurrentUser, filters: dashboard.MonitorFilter):
    return dashboard.window(
        session=session,
        viewer=viewer,
        filters=filters,
        now=datetime.now(clinic_zone()),
        zone=clinic_zone(),
        deadline_hours=get_settings().sign_deadline_hours,
    )


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _cards(f: dashboard.Figures, hours: int) -> list[Card]:
    duration = dashboard.format_duration
    return [
        Card("total", "病历数", str(f.total), "所选时间内就诊", "blue"),
        Card("signed", "已签名", str(f.signed), f"其中超时签署 {f.late}", "green"),
        Card("pending", "待签名", str(f.pending), f"未超过{hours}小时", "amber"),
        Card("overdue", "超期未签", str(f.overdue), f"就诊后超过{hours}小时", "red"),
        Card("", "签署完成率", _percent(f.completion), "已签名 / 病历数", "green"),
        Card("", "签署时长中位数", duration(f.median_seconds), "就诊 → 签名", "gray"),
        Card("", "签署时长P90", duration(f.p90_seconds), "90%病历在此之内", "gray"),
    ]


def _doctor_row(d: dashboard.DoctorFigures) -> DoctorRow:
    return DoctorRow(
        id=d.doctor_id,
        name=d.doctor_name,
        login_id=d.login_id,
        clinic_name=d.clinic_name,
        total=d.total,
        signed=d.signed,
        pending=d.pending,
        overdue=d.overdue,
        late=d.late,
        completion=_percent(d.completion),
        median=dashboard.format_duration(d.median_seconds),
    )


def snapshot(viewer: CurrentUser, filters: dashboard.MonitorFilter) -> Snapshot:
    """The page's figures for ``filters``.

    Raises:
        HisError: The filter is refused (scope, dates, unknown choices).
    """
    with db.session() as session:
        w = window(session, viewer, filters)
        figures = dashboard.figures(session=session, w=w)
        days = dashboard.daily(session=session, w=w)
        doctors = dashboard.per_doctor(session=session, w=w)
    hours = get_settings().sign_deadline_hours
    return Snapshot(
        cards=_cards(figures, hours),
        days=[DayRow(d.day.isoformat(), d.signed, d.pending, d.overdue) for d in days],
        trend=[
            {
                "day": f"{d.day:%m-%d}",
                "signed": d.signed,
                "pending": d.pending,
                "overdue": d.overdue,
            }
            for d in days
        ],
        doctors=[_doctor_row(d) for d in doctors],
        bars=[
            {
                "name": d.doctor_name,
                "signed": d.signed,
                "pending": d.pending,
                "overdue": d.overdue,
            }
            for d in doctors
        ],
        updated_at=f"{datetime.now(clinic_zone()):%H:%M:%S}",
    )


@dataclass(frozen=True)
class DrillAsk:
    """A page of the open drill-down: its filter, its kind, the page number and
    the row it starts after (the previous page's ``next_after``; None: page 1, or a
    page reached otherwise than by 上一页/下一页, found by counting)."""

    filters: dashboard.MonitorFilter
    kind: str
    page: int
    after: Cursor | None = None


def scope(viewer: CurrentUser) -> dashboard.MonitorScope:
    with db.session() as session:
        return dashboard.monitor_scope(session=session, viewer=viewer)


def drill_page(viewer: CurrentUser, ask: DrillAsk) -> behind.MonitorRecordPage:
    with db.session() as session:
        w = window(session, viewer, ask.filters)
        return behind.drill(
            session=session, w=w, kind=ask.kind, page=ask.page, after=ask.after
        )


def refresh(
    viewer: CurrentUser, filters: dashboard.MonitorFilter, drill: DrillAsk | None
) -> tuple[Snapshot, behind.MonitorRecordPage | None]:
    """The figures and, when one is open, the drill-down's page (both or neither:
    a refused filter raises)."""
    shot = snapshot(viewer, filters)
    return shot, drill_page(viewer, drill) if drill is not None else None


def doctors_csv(viewer, filters) -> bytes:
    with db.session() as session:
        w = window(session, viewer, filters)
        return behind.doctors_csv(dashboard.per_doctor(session=session, w=w))


def records_csv(viewer, filters, kind: str) -> bytes:
    with db.session() as session:
        w = window(session, viewer, filters)
        return behind.records_csv(session=session, w=w, kind=kind)


def quick_range(label: str) -> tuple[str, str]:
    """The dates of a quick pick, today included.

    Raises:
        InvalidInput: Not one of :data:`QUICK_RANGES`.
    """
    if not isinstance(label, str) or label not in QUICK_RANGES:
        raise InvalidInput("无效的统计周期")
    end = today()
    return (end - timedelta(days=QUICK_RANGES[label])).isoformat(), end.isoformat()
