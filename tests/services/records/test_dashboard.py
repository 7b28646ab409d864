"""签名监控 figures against a direct count over the rows the test made, on SQLite and
PostgreSQL; the scope rules; bad filters; the drill-downs and the CSV exports."""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, SQLModel, select

from his_portal.db import make_engine
from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import (
    Clinic,
    LockStatus,
    MedicalRecord,
    Patient,
    Role,
    SignedDocument,
    SignStatus,
    User,
)
from his_portal.services.auth import CurrentUser, view_of
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records.sql_time import local_day
from tests.conftest import NOW, ZONE

DEADLINE_HOURS = 24
TODAY = NOW.date()


@dataclass
class Chain:
    session: Session
    clinics: dict[str, Clinic]
    users: dict[str, User]
    records: list[MedicalRecord]

    def viewer(self, login: str) -> CurrentUser:
        user = self.users[login]
        return view_of(user, self.session.get(Clinic, user.clinic_id))


def _user(session, login, name, role, clinic, chain_wide=False) -> User:
    user = User(
        login_id=login,
        display_name=name,
        role=role,
        clinic_id=clinic.id,
        password_hash="-",
        chain_wide=chain_wide,
    )
    session.add(user)
    return user


def _build(session: Session) -> Chain:
    """Two 分院, two doctors each, managers, and 400 records over 45 days before NOW
    (some exactly at local midnight), about 60% signed 1 minute to 5 days after."""
    rng = random.Random(11)
    clinics = {code: Clinic(name=f"测试{code}分院", code=code) for code in ("A", "B")}
    session.add_all(clinics.values())
    session.flush()
    users = {
        login: _user(session, login, name, role, clinics[code], chain)
        for login, name, role, code, chain in (
            ("a-doc1", "甲一", Role.DOCTOR, "A", False),
            ("a-doc2", "=甲二", Role.DOCTOR, "A", False),
            ("b-doc1", "乙一", Role.DOCTOR, "B", False),
            ("b-doc2", "乙二", Role.DOCTOR, "B", False),
            ("a-mgr", "甲管", Role.MANAGER, "A", False),
            ("chain", "总管", Role.MANAGER, "A", True),
            ("admin", "管理员", Role.ADMIN, "A", False),
        )
    }
    session.flush()
    patients = {}
    for code, clinic in clinics.items():
        patients[code] = Patient(
            record_no=f"P-{code}",
            name=f"{code}病人",
            sex="male",
            birth_date=date(1990, 1, 1),
            clinic_id=clinic.id,
        )
    session.add_all(patients.values())
    session.flush()
    doctors = [u for u in users.values() if u.role == Role.DOCTOR]
    records = []
    for index in range(400):
        doctor = rng.choice(doctors)
        code = "A" if doctor.clinic_id == clinics["A"].id else "B"
        if index % 40 == 0:  # a visit at exactly the clinic's midnight
            day = TODAY - timedelta(days=rng.randint(0, 44))
            created = datetime.combine(day, time.min, tzinfo=ZONE)
        else:
            created = NOW - timedelta(minutes=rng.randint(1, 45 * 24 * 60))
        signed = rng.random() < 0.6
        signed_at = created + timedelta(minutes=rng.randint(1, 5 * 24 * 60))
        signed = signed and signed_at <= NOW
        record = MedicalRecord(
            patient_id=patients[code].id,
            doctor_id=doctor.id,
            clinic_id=doctor.clinic_id,
            visit_item="检查",
            title="口腔检查",
            created_at=created,
            sign_status=SignStatus.SIGNED if signed else SignStatus.UNSIGNED,
            lock_status=LockStatus.LOCKED if signed else LockStatus.OPEN,
            signed_at=signed_at if signed else None,
            signer_id=doctor.id if signed else None,
        )
        session.add(record)
        records.append(record)
    session.commit()
    return Chain(session, clinics, users, records)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def chain(request, tmp_path):
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'dashboard.db'}"
    )
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield _build(session)
    engine.dispose()


@pytest.fixture
def sqlite_chain(session) -> Chain:
    return _build(session)


def _window(chain: Chain, login="chain", **filters) -> dashboard.Window:
    filters.setdefault("date_from", TODAY - timedelta(days=29))
    filters.setdefault("date_to", TODAY)
    return dashboard.window(
        session=chain.session,
        viewer=chain.viewer(login),
        filters=dashboard.MonitorFilter(**filters),
        now=NOW,
        zone=ZONE,
        deadline_hours=DEADLINE_HOURS,
    )


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
        session=chain.session, w=_window(chain, date_from=date_from)
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
        w = _window(chain, **filters)
        assert dashboard.figures(session=chain.session, w=w) == _expected(rows)


def test_daily_trend_matches_a_direct_count_per_clinic_day(chain):
    start = TODAY - timedelta(days=44)
    days = dashboard.daily(session=chain.session, w=_window(chain, date_from=start))
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
    rows = dashboard.per_doctor(session=chain.session, w=_window(chain))
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
    w = _window(chain)
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


# --- who may ask what ---------------------------------------------------------------


def test_a_branch_manager_sees_only_their_clinic(sqlite_chain):
    chain = sqlite_chain
    a = chain.clinics["A"].id
    own = dashboard.figures(session=chain.session, w=_window(chain, "a-mgr"))
    start = TODAY - timedelta(days=29)
    assert own == _expected(_chosen(chain, start, TODAY, clinic=a))
    named = _window(chain, "a-mgr", clinic_id=a)
    assert dashboard.figures(session=chain.session, w=named) == own
    rows = dashboard.per_doctor(session=chain.session, w=_window(chain, "a-mgr"))
    assert {r.login_id for r in rows} == {"a-doc1", "a-doc2"}
    scope = dashboard.monitor_scope(session=chain.session, viewer=chain.viewer("a-mgr"))
    assert (scope.chain_wide, [c for c, _ in scope.clinics]) == (False, [a])
    assert {d.name for d in scope.doctors} == {"甲一", "=甲二"}
    everything = dashboard.monitor_scope(
        session=chain.session, viewer=chain.viewer("chain")
    )
    assert len(everything.clinics) == 2 and len(everything.doctors) == 4


def test_a_branch_manager_asking_for_another_clinic_is_refused(sqlite_chain):
    chain = sqlite_chain
    with pytest.raises(AccessDenied, match="无权查看其他分院的数据"):
        _window(chain, "a-mgr", clinic_id=chain.clinics["B"].id)
    with pytest.raises(AccessDenied, match="无权查看其他分院的数据"):
        _window(chain, "a-mgr", doctor_id=chain.users["b-doc1"].id)


@pytest.mark.parametrize("login", ["a-doc1", "admin"])
def test_doctors_and_administrators_are_refused(sqlite_chain, login):
    chain = sqlite_chain
    viewer = chain.viewer(login)
    with pytest.raises(AccessDenied, match="只有门诊管理者可以查看签名监控"):
        _window(chain, login)
    with pytest.raises(AccessDenied):
        dashboard.monitor_scope(session=chain.session, viewer=viewer)
    with pytest.raises(AccessDenied):
        behind.signed_file(
            session=chain.session, viewer=viewer, record_id=chain.records[0].id
        )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"date_from": TODAY, "date_to": TODAY - timedelta(1)},
            "开始日期不能晚于结束日期",
        ),
        ({"date_from": TODAY - timedelta(366)}, "统计时间范围不能超过366天"),
        ({"clinic_id": 9999}, "分院不存在"),
        ({"doctor_id": 9999}, "医生不存在"),
        ({"clinic_id": "1"}, "分院无效"),
        ({"doctor_id": True}, "医生无效"),
        ({"doctor_id": 2**63}, "医生无效"),
        ({"clinic_id": -1}, "分院无效"),
        ({"date_from": "2026-11-01"}, "日期无效"),
    ],
)
def test_bad_filters_are_refused_in_chinese(sqlite_chain, filters, message):
    with pytest.raises(InvalidInput, match=message):
        _window(sqlite_chain, **filters)


def test_a_manager_is_no_doctor_and_a_doctor_must_be_of_the_chosen_clinic(
    sqlite_chain,
):
    chain = sqlite_chain
    with pytest.raises(InvalidInput, match="医生不存在"):
        _window(chain, doctor_id=chain.users["a-mgr"].id)
    with pytest.raises(InvalidInput, match="该医生不属于所选分院"):
        _window(
            chain,
            clinic_id=chain.clinics["A"].id,
            doctor_id=chain.users["b-doc1"].id,
        )
    full_year = _window(chain, date_from=TODAY - timedelta(365))
    assert dashboard.figures(session=chain.session, w=full_year).total == 400


def test_an_unknown_drill_down_or_page_is_refused(sqlite_chain):
    w = _window(sqlite_chain)
    with pytest.raises(InvalidInput, match="无效的统计项"):
        behind.drill(session=sqlite_chain.session, w=w, kind="everything")
    with pytest.raises(InvalidInput, match="页码无效"):
        behind.drill(session=sqlite_chain.session, w=w, kind="total", page="2")
    last = behind.drill(session=sqlite_chain.session, w=w, kind="total", page=10**6)
    assert last.page == last.pages and last.rows


def test_the_signed_pdf_only_for_a_record_in_scope(sqlite_chain):
    chain = sqlite_chain
    signed = next(
        r
        for r in chain.records
        if r.sign_status == SignStatus.SIGNED and r.clinic_id == chain.clinics["B"].id
    )
    chain.session.add(
        SignedDocument(
            record_id=signed.id,
            version=1,
            file_name=f"{signed.id}/v1-test.pdf",
            sha256="0" * 64,
            cert_serial="01",
            seal_kind="system",
            method="sms",
            signer_id=signed.doctor_id,
            signed_at=signed.signed_at,
        )
    )
    chain.session.commit()
    chain_manager = chain.viewer("chain")
    name = behind.signed_file(
        session=chain.session, viewer=chain_manager, record_id=signed.id
    )
    assert name == f"{signed.id}/v1-test.pdf"
    with pytest.raises(AccessDenied, match="无权查看该病历"):
        behind.signed_file(
            session=chain.session, viewer=chain.viewer("a-mgr"), record_id=signed.id
        )
    unsigned = next(r for r in chain.records if r.sign_status == SignStatus.UNSIGNED)
    with pytest.raises(InvalidInput, match="该病历尚无签名文件"):
        behind.signed_file(
            session=chain.session, viewer=chain_manager, record_id=unsigned.id
        )
    for bad in (999_999, "1", None, 2**63, -1):
        with pytest.raises(AccessDenied):
            behind.signed_file(
                session=chain.session, viewer=chain_manager, record_id=bad
            )


# --- CSV ----------------------------------------------------------------------------


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_doctor_csv_is_one_row_per_doctor_with_formulas_made_inert(sqlite_chain):
    chain = sqlite_chain
    doctors = dashboard.per_doctor(session=chain.session, w=_window(chain))
    rows = _read_csv(behind.doctors_csv(doctors))
    assert rows[0][:4] == ["医生", "账号", "分院", "病历数"]
    assert len(rows) == 1 + len(doctors)
    by_login = {row[1]: row for row in rows[1:]}
    assert by_login["a-doc2"][0] == "'=甲二"  # a spreadsheet shows it, runs nothing
    for doctor in doctors:
        assert by_login[doctor.login_id][3] == str(doctor.total)


def test_the_records_csv_has_every_record_behind_the_card(sqlite_chain):
    chain = sqlite_chain
    w = _window(chain)
    overdue = dashboard.figures(session=chain.session, w=w).overdue
    rows = _read_csv(behind.records_csv(session=chain.session, w=w, kind="overdue"))
    assert rows[0] == [
        "病历号",
        "姓名",
        "分院",
        "医生",
        "挂号项目",
        "就诊时间",
        "签署状态",
        "签署时间",
        "签署时长",
    ]
    assert len(rows) == 1 + overdue
    assert {row[6] for row in rows[1:]} == {"超期未签"}
    doctors = {row[3] for row in rows[1:]}
    assert "'=甲二" in doctors and not any(d.startswith("=") for d in doctors)


def test_durations_read_naturally():
    assert [
        dashboard.format_duration(s) for s in (None, 20, 59 * 60, 3 * 3600, 3 * 86400)
    ] == ["—", "1分钟", "59分钟", "3.0小时", "3.0天"]
