from datetime import date, timedelta

import pytest
from sqlmodel import select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import MedicalRecord, SignStatus
from his_portal.services.records import queries as records
from tests.conftest import NOW, ZONE, user_by_login

TODAY = NOW.date()


def _list(session, viewer, **kw):
    filters = records.RecordFilter(
        date_from=kw.pop("date_from", TODAY), date_to=kw.pop("date_to", TODAY), **kw
    )
    return records.list_records(
        session=session, viewer=viewer, filters=filters, zone=ZONE
    )


def test_a_doctor_sees_only_their_own_records(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    page = _list(demo, zheng, date_from=TODAY - timedelta(days=29))
    assert page.total > 0
    assert {row.doctor_name for row in page.rows} == {"郑程"}
    today = _list(demo, zheng)
    names = {row.patient_name for row in today.rows}
    assert {"刘作榛", "郭少青"} <= names and "张三" not in names


def test_a_manager_sees_the_whole_clinic(demo):
    manager = user_by_login(demo, "sh-manager@8112")
    page = _list(demo, manager, date_from=TODAY - timedelta(days=29), page_size=100)
    assert {row.doctor_name for row in page.rows} == {"郑程", "王莉"}
    assert page.total == 43


def test_an_admin_reads_no_medical_records(demo):
    admin = user_by_login(demo, "sh-admin@8112")
    with pytest.raises(AccessDenied):
        _list(demo, admin)
    with pytest.raises(AccessDenied):
        records.search_patients(session=demo, viewer=admin, text="刘")


def test_filter_by_record_no_is_exact_and_case_insensitive(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    page = _list(demo, zheng, record_no=" p120111201801313 ")
    assert [(r.patient_name, r.visit_item, r.created_at) for r in page.rows] == [
        ("刘作榛", "检查", "2026-11-25 14:43")
    ]
    assert _list(demo, zheng, record_no="P1201112018013").total == 0


def test_days_are_counted_in_the_clinic_time_zone(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    yesterday = _list(
        demo,
        zheng,
        date_from=TODAY - timedelta(days=1),
        date_to=TODAY - timedelta(days=1),
    )
    assert all(r.created_at.startswith("2026-11-24") for r in yesterday.rows)


def test_a_reversed_range_is_refused(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    with pytest.raises(InvalidInput, match="开始日期不能晚于结束日期"):
        _list(demo, zheng, date_from=TODAY, date_to=TODAY - timedelta(days=1))


def test_pages_split_the_result_newest_first(demo):
    manager = user_by_login(demo, "sh-manager@8112")
    start = TODAY - timedelta(days=29)
    first = _list(demo, manager, date_from=start, page=1, page_size=10)
    second = _list(demo, manager, date_from=start, page=2, page_size=10)
    assert first.pages == 5 and len(first.rows) == 10
    assert first.rows[-1].created_at >= second.rows[0].created_at
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}
    assert _list(demo, manager, date_from=start, page_size=10_000).page_size == 100


def test_filter_by_sign_status(demo):
    manager = user_by_login(demo, "sh-manager@8112")
    record = demo.exec(select(MedicalRecord)).first()
    record.sign_status = SignStatus.SIGNED
    demo.add(record)
    demo.commit()
    start = TODAY - timedelta(days=29)
    signed = _list(demo, manager, date_from=start, sign_status=SignStatus.SIGNED)
    assert [r.id for r in signed.rows] == [record.id]


@pytest.mark.parametrize("text", ["lzz", "liuzuo", "刘作", "P120111201801313"])
def test_header_search_by_record_no_name_or_pinyin(demo, text):
    doctor = user_by_login(demo, "sh-wangli@8112")
    hits = records.search_patients(session=demo, viewer=doctor, text=text)
    assert "刘作榛" in [h.name for h in hits]
    hit = next(h for h in hits if h.name == "刘作榛")
    assert (hit.record_no, hit.sex, hit.records) == ("P120111201801313", "男", 1)


def test_empty_search_finds_nothing(demo):
    doctor = user_by_login(demo, "sh-wangli@8112")
    assert records.search_patients(session=demo, viewer=doctor, text="  ") == []


def test_record_filter_dates_are_plain_dates():
    f = records.RecordFilter(date_from=date(2026, 1, 1), date_to=date(2026, 1, 2))
    assert f.page == 1 and f.page_size == 20 and f.sign_status is None


def test_workbench_kpis_count_today_pending_signed_and_overdue(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    before = records.workbench_kpis(session=demo, viewer=zheng, now=NOW, zone=ZONE)
    assert before.today_visits == len(_list(demo, zheng).rows) >= 2
    assert before.signed_today == 0 and before.completion == "0%"
    zheng_records = demo.exec(
        select(MedicalRecord.created_at).where(MedicalRecord.doctor_id == zheng.id)
    ).all()
    assert before.pending == len(zheng_records)
    assert before.overdue == sum(
        1 for t in zheng_records if t < NOW - timedelta(hours=24)
    )
    record = demo.exec(
        select(MedicalRecord).where(
            MedicalRecord.chief_complaint == "左下后牙咀嚼时疼痛一周"
        )
    ).one()
    record.sign_status, record.signed_at, record.signer_id = "signed", NOW, zheng.id
    demo.add(record)
    demo.commit()
    after = records.workbench_kpis(session=demo, viewer=zheng, now=NOW, zone=ZONE)
    assert after.signed_today == 1 and after.pending == before.pending - 1
    assert after.completion == f"{100 / after.today_visits:.0f}%"
    row = next(r for r in _list(demo, zheng).rows if r.id == record.id)
    assert row.signer == "sh-feihuan@8112" and row.amend_until == ""


def test_todays_appointments_for_the_doctor_and_the_clinic(demo):
    zheng = user_by_login(demo, "sh-feihuan@8112")
    mine = records.todays_appointments(session=demo, viewer=zheng, now=NOW, zone=ZONE)
    assert mine and {a.doctor_name for a in mine} == {"郑程"}
    assert [a.time for a in mine] == sorted(a.time for a in mine)
    assert {a.status for a in mine} <= {"待到诊", "已到诊", "未到诊"}
    later = [a for a in mine if a.time > "16:30"]
    assert all(a.status == "待到诊" for a in later)
    manager = user_by_login(demo, "sh-manager@8112")
    clinic = records.todays_appointments(
        session=demo, viewer=manager, now=NOW, zone=ZONE
    )
    assert {a.doctor_name for a in clinic} == {"郑程", "王莉"} and len(clinic) > len(
        mine
    )
    with pytest.raises(AccessDenied):
        records.todays_appointments(
            session=demo,
            viewer=user_by_login(demo, "sh-admin@8112"),
            now=NOW,
            zone=ZONE,
        )


def test_records_sort_oldest_first_on_request(demo):
    manager = user_by_login(demo, "sh-manager@8112")
    start = TODAY - timedelta(days=29)
    newest = _list(demo, manager, date_from=start, page_size=100).rows
    oldest = _list(
        demo, manager, date_from=start, page_size=100, oldest_first=True
    ).rows
    assert [r.id for r in oldest] == [r.id for r in reversed(newest)]
