"""签名监控's scope rules (a branch manager's own 分院; doctors and administrators
refused), bad filters in Chinese, the signed file only in scope, and the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import SignedDocument, SignStatus
from his_portal.services.records import dashboard
from his_portal.services.records import dashboard_records as behind
from tests.services.records.conftest import TODAY, window_of

# --- who may ask what ---------------------------------------------------------------


def test_a_branch_manager_asking_for_another_clinic_is_refused(sqlite_chain):
    chain = sqlite_chain
    with pytest.raises(AccessDenied, match="无权查看其他分院的数据"):
        window_of(chain, "a-mgr", clinic_id=chain.clinics["B"].id)
    with pytest.raises(AccessDenied, match="无权查看其他分院的数据"):
        window_of(chain, "a-mgr", doctor_id=chain.users["b-doc1"].id)


@pytest.mark.parametrize("login", ["a-doc1", "admin"])
def test_doctors_and_administrators_are_refused(sqlite_chain, login):
    chain = sqlite_chain
    viewer = chain.viewer(login)
    with pytest.raises(AccessDenied, match="只有门诊管理者可以查看签名监控"):
        window_of(chain, login)
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
        window_of(sqlite_chain, **filters)


def test_a_manager_is_no_doctor_and_a_doctor_must_be_of_the_chosen_clinic(
    sqlite_chain,
):
    chain = sqlite_chain
    with pytest.raises(InvalidInput, match="医生不存在"):
        window_of(chain, doctor_id=chain.users["a-mgr"].id)
    with pytest.raises(InvalidInput, match="该医生不属于所选分院"):
        window_of(
            chain,
            clinic_id=chain.clinics["A"].id,
            doctor_id=chain.users["b-doc1"].id,
        )
    full_year = window_of(chain, date_from=TODAY - timedelta(365))
    assert dashboard.figures(session=chain.session, w=full_year).total == 400


def test_an_unknown_drill_down_or_page_is_refused(sqlite_chain):
    w = window_of(sqlite_chain)
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
    doctors = dashboard.per_doctor(session=chain.session, w=window_of(chain))
    rows = _read_csv(behind.doctors_csv(doctors))
    assert rows[0][:4] == ["医生", "账号", "分院", "病历数"]
    assert len(rows) == 1 + len(doctors)
    by_login = {row[1]: row for row in rows[1:]}
    assert by_login["a-doc2"][0] == "'=甲二"  # a spreadsheet shows it, runs nothing
    for doctor in doctors:
        assert by_login[doctor.login_id][3] == str(doctor.total)


def test_the_records_csv_has_every_record_behind_the_card(sqlite_chain):
    chain = sqlite_chain
    w = window_of(chain)
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
