"""签名监控 figures against a direct count over the rows the test made, on SQLite and
PostgreSQL (KPIs, daily trend, per doctor, the records behind each card), and local
days across daylight saving."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from his_portal.models import (
    Clinic,
    MedicalRecord,
    SignStatus,
)
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records.sql_time import local_day
from tests.conftest import NOW, ZONE
from tests.services.records.conftest import DEADLINE_HOURS, TODAY, Chain, window_of

# --- the figures, counted directly -------------------------------------------------


def _chosen(chain: Chain, date_from, date_to, clinic=None, doctor=None):
    start = datetime.combine(date_from, time.min, tzinfo=ZONE)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=ZONE)
    return [
        r
        for r in chain.records
        if start <= r.created_at < end
        and (clinic is None or r.clinic_id == clinic)
        and (doctor is None or r.doctor_id == doctor)
    ]


def _cutoff() -> datetime:
    return NOW - timedelta(hours=DEADLINE_HOURS)


def _seconds(record) -> float:
    return (record.signed_at - record.created_at).total_seconds()


def _nearest_rank(values: list[float], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(share * len(ordered)) - 1])


def _expected(rows) -> dashboard.Figures:
    signed = [r for r in rows if r.sign_status == SignStatus.SIGNED]
    unsigned = [r for r in rows if r.sign_status == SignStatus.UNSIGNED]
    durations = [_seconds(r) for r in signed]
    return dashboard.Figures(
        total=len(rows),
        signed=len(signed),
        pending=sum(r.created_at >= _cutoff() for r in unsigned),
        overdue=sum(r.created_at < _cutoff() for r in unsigned),
        late=sum(d > DEADLINE_HOURS * 3600 for d in durations),
        median_seconds=_nearest_rank(durations, 0.5),
        p90_seconds=_nearest_rank(durations, 0.9),
    )


@pytest.mark.parametrize("days", [1, 7, 30, 45])
def test_kpis_match_a_direct_count(chain, days):
    date_from = TODAY - timedelta(days=days - 1)
    figures = dashboard.figures(
        session=chain.session, w=window_of(chain, date_from=date_from)
    )
    expected = _expected(_chosen(chain, date_from, TODAY))
    assert figures == expected and figures.total > 0
    assert figures.total == figures.signed + figures.pending + figures.overdue
    assert figures.completion == expected.signed / expected.total


def test_kpis_for_one_clinic_and_one_doctor(chain):
    b = chain.clinics["B"].id
    doctor = chain.users["b-doc2"].id
    start = TODAY - timedelta(days=29)
    for filters, rows in (
        ({"clinic_id": b}, _chosen(chain, start, TODAY, clinic=b)),
        ({"doctor_id": doctor}, _chosen(chain, start, TODAY, doctor=doctor)),
        (
            {"clinic_id": b, "doctor_id": doctor},
            _chosen(chain, start, TODAY, clinic=b, doctor=doctor),
        ),
    ):
        w = window_of(chain, **filters)
        assert dashboard.figures(session=chain.session, w=w) == _expected(rows)


def test_daily_trend_matches_a_direct_count_per_clinic_day(chain):
    start = TODAY - timedelta(days=44)
    days = dashboard.daily(session=chain.session, w=window_of(chain, date_from=start))
    assert [d.day for d in days] == [start + timedelta(n) for n in range(45)]
    for day in days:
        rows = _chosen(chain, day.day, day.day)
        expected = _expected(rows)
        assert (day.signed, day.pending, day.overdue) == (
            expected.signed,
            expected.pending,
            expected.overdue,
        )
    assert sum(d.signed + d.pending + d.overdue for d in days) == len(
        _chosen(chain, start, TODAY)
    )


def test_per_doctor_figures_and_medians_match_a_direct_count(chain):
    start = TODAY - timedelta(days=29)
    rows = dashboard.per_doctor(session=chain.session, w=window_of(chain))
    assert len(rows) == 4
    assert [r.overdue for r in rows] == sorted((r.overdue for r in rows), reverse=True)
    for row in rows:
        mine = _chosen(chain, start, TODAY, doctor=row.doctor_id)
        expected = _expected(mine)
        assert (row.total, row.signed, row.pending, row.overdue, row.late) == (
            expected.total,
            expected.signed,
            expected.pending,
            expected.overdue,
            expected.late,
        )
        assert row.median_seconds == expected.median_seconds
        assert (
            row.clinic_name
            == chain.session.get(Clinic, chain.users[row.login_id].clinic_id).name
        )


def test_the_drill_down_lists_exactly_the_records_behind_each_card(chain):
    w = window_of(chain)
    figures = dashboard.figures(session=chain.session, w=w)
    for kind, count in (
        ("total", figures.total),
        ("signed", figures.signed),
        ("pending", figures.pending),
        ("overdue", figures.overdue),
        ("late", figures.late),
    ):
        first = behind.drill(session=chain.session, w=w, kind=kind, page_size=100)
        assert first.total == count
        ids = []
        for page in range(1, first.pages + 1):
            found = behind.drill(
                session=chain.session, w=w, kind=kind, page=page, page_size=100
            )
            ids += [r.id for r in found.rows]
        assert len(ids) == len(set(ids)) == count
    overdue = behind.drill(session=chain.session, w=w, kind="overdue").rows
    assert overdue and all(r.status == "超期未签" and r.overdue for r in overdue)
    late = behind.drill(session=chain.session, w=w, kind="late").rows
    assert all(r.status == "已签名" and r.late and r.signed_at for r in late)


def test_a_branch_manager_sees_only_their_clinic(sqlite_chain):
    chain = sqlite_chain
    a = chain.clinics["A"].id
    own = dashboard.figures(session=chain.session, w=window_of(chain, "a-mgr"))
    start = TODAY - timedelta(days=29)
    assert own == _expected(_chosen(chain, start, TODAY, clinic=a))
    named = window_of(chain, "a-mgr", clinic_id=a)
    assert dashboard.figures(session=chain.session, w=named) == own
    rows = dashboard.per_doctor(session=chain.session, w=window_of(chain, "a-mgr"))
    assert {r.login_id for r in rows} == {"a-doc1", "a-doc2"}
    scope = dashboard.monitor_scope(session=chain.session, viewer=chain.viewer("a-mgr"))
    assert (scope.chain_wide, [c for c, _ in scope.clinics]) == (False, [a])
    assert {d.name for d in scope.doctors} == {"甲一", "=甲二"}
    everything = dashboard.monitor_scope(
        session=chain.session, viewer=chain.viewer("chain")
    )
    assert len(everything.clinics) == 2 and len(everything.doctors) == 4


# --- time arithmetic ----------------------------------------------------------------


def test_local_days_follow_daylight_saving(session):
    """Berlin moves its clocks on 2026-03-29 and 2026-10-25: each visit still lands
    on its local day."""
    berlin = ZoneInfo("Europe/Berlin")
    clinic = Clinic(name="柏林", code="DE")
    session.add(clinic)
    session.flush()
    moments = []
    for day in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 25)):
        for clock in (time(0, 0), time(0, 30), time(1, 59), time(3, 0), time(23, 59)):
            moments.append(datetime.combine(day, clock, tzinfo=berlin))
    for index, moment in enumerate(moments):
        session.add(
            MedicalRecord(
                patient_id=1,
                doctor_id=1,
                clinic_id=clinic.id,
                visit_item="检查",
                title=str(index),
                created_at=moment,
            )
        )
    session.commit()
    start = datetime(2026, 3, 1, tzinfo=berlin)
    end = datetime(2026, 11, 1, tzinfo=berlin)
    day = local_day(MedicalRecord.created_at, start, end, berlin)
    found = session.exec(select(MedicalRecord.title, day)).all()
    epoch = date(1970, 1, 1)
    assert {int(t): epoch + timedelta(days=int(n)) for t, n in found} == {
        i: m.date() for i, m in enumerate(moments)
    }
