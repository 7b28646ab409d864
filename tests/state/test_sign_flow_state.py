"""签名 / 批量签名 handlers: who may start, the code check, and the workbench rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from his_portal import db, deps, routes
from his_portal.models import MedicalRecord, Patient, SmsMessage
from his_portal.pages.workbench import WorkbenchState
from his_portal.services.audit import Actor
from his_portal.services.signing import records as record_signing
from his_portal.services.willingness.core import WillingnessError
from his_portal.settings import clinic_zone, get_settings
from his_portal.states.seals import SealState
from his_portal.states.sign_flow import SignFlowState
from his_portal.states.sign_work import render_preview_png
from tests.conftest import user_by_login
from tests.state.test_states import make, token_for

pytestmark = pytest.mark.usefixtures("app_db")


def record_id(record_no: str) -> int:
    with Session(db.get_engine()) as session:
        return session.exec(
            select(MedicalRecord.id).join(Patient).where(Patient.record_no == record_no)
        ).first()


def preview_event(event) -> tuple[str, list]:
    """(handler name, argument values) of a returned event spec."""
    name = event.handler.fn.__name__
    return name, [value._var_value for _key, value in event.args]


@pytest.fixture
def doctor_token(zheng_token):
    """郑程 verified with 电子签名 on."""
    seal = make(SealState, token=zheng_token, path=routes.PROFILE)
    seal.on_load()
    assert not seal.esign
    seal.set_esign(True)
    assert seal.esign
    return zheng_token


def test_another_doctors_record_cannot_even_start(doctor_token):
    state = make(SignFlowState, token=doctor_token, path=routes.WORKBENCH)
    state.begin([record_id("P111220000601")])  # 王莉's patient 张三
    assert state.step == ""


def test_a_manager_cannot_start_signing():
    state = make(
        SignFlowState, token=token_for("sh-manager@8112"), path=routes.WORKBENCH
    )
    assert state.begin([record_id("P120111201801313")]) is not None
    assert state.step == ""


def test_sms_code_wrong_then_right_opens_the_signing_step(doctor_token):
    state = make(SignFlowState, token=doctor_token, path=routes.WORKBENCH)
    state.begin([record_id("P120111190005083")])
    assert state.step == "willing" and state.mobile_masked == "138****8000"
    state.send_code()
    assert state.resend_in > 50
    with Session(db.get_engine()) as session:
        body = session.exec(
            select(SmsMessage.body).order_by(SmsMessage.id.desc())
        ).first()
    code = re.search(r"验证码(\d{6})", body).group(1)
    state.set_code("12345")
    state.confirm_code()
    assert state.message == "请输入6位数字验证码" and state.step == "willing"
    state.set_code("000000" if code != "000000" else "111111")
    state.confirm_code()
    assert "验证码错误" in state.message and state.step == "willing"
    state.set_code(code)
    preview = state.confirm_code()  # the preview renders in a background event
    assert state.seal_choice == "system"  # no 个性签章 set up here
    assert preview_event(preview) == ("render_preview", [0, "system"])
    assert state.step == "sign"
    assert state.file_names[0].endswith("_郭少青_P120111190005083_美学修复")
    assert state.record_ids == [record_id("P120111190005083")]
    user = state._require()
    png = render_preview_png(state._preview_args(user, 0, "system"))
    assert png.startswith(b"\x89PNG")
    assert preview_event(state.choose_seal("system")) == (
        "render_preview",
        [0, "system"],
    )
    assert state.choose_seal("<script>") is None
    state.close()
    assert state.step == "" and state.preview == "" and state.record_ids == []


def test_refused_records_never_reach_the_page(doctor_token):
    """The old attack: begin(another doctor's record) refused, then move(0)."""
    state = make(SignFlowState, token=doctor_token, path=routes.WORKBENCH)
    other = record_id("P111220000601")  # 王莉's patient 张三
    state.begin([other])
    assert state.record_ids == [] and state.confirmation_id == 0
    assert state.move(1) is None and state.choose_seal("system") is None
    user = state._require()
    with pytest.raises(WillingnessError, match="意愿校验不存在或已失效"):
        render_preview_png(state._preview_args(user, 0, "system"))
    assert state.preview == "" and state.file_names == []


def test_no_preview_before_the_code_is_confirmed(doctor_token):
    state = make(SignFlowState, token=doctor_token, path=routes.WORKBENCH)
    state.begin([record_id("P120111190005083")])
    assert state.step == "willing" and state.record_ids == []
    state.step = "sign"  # a client cannot set this, but even if the page said so
    user = state._require()
    with pytest.raises(WillingnessError, match="意愿校验不存在或已失效"):
        render_preview_png(state._preview_args(user, 0, "system"))
    state.sign()
    assert state.message == "尚未完成意愿校验"


def test_workbench_selection_only_takes_unsigned_rows_of_the_page(doctor_token):
    state = make(WorkbenchState, token=doctor_token, path=routes.WORKBENCH)
    state.on_load()
    assert state.can_sign and state.kpis["今日接诊"].isdigit()
    state.toggle_page()
    assert (
        sorted(state.selected) == sorted(state.page_selectable) and state.all_selected
    )
    state.toggle(999_999)
    assert 999_999 not in state.selected
    state.toggle_page()
    assert state.selected == []
    state.set_tab("signed")
    assert all(row.sign_status == "signed" for row in state.rows)
    state.set_tab("nonsense")
    assert state.tab == "signed"
    state.set_tab("today")
    first = [row.created_at for row in state.rows]
    state.toggle_order()
    assert [row.created_at for row in state.rows] == sorted(first)
    state.set_tab("appointments")
    assert state.appointments and all(
        a.doctor_name == "郑程" for a in state.appointments
    )


def test_signed_pdf_download_view_and_details(doctor_token):
    target = record_id("P120111201801313")
    with Session(db.get_engine()) as session:
        doctor = user_by_login(session, "sh-feihuan@8112")
        kit = record_signing.load_signer(
            session=session, user=doctor, kek=deps.kek(), now=datetime.now(UTC)
        )
        assert session.get(MedicalRecord, target).sign_status == "unsigned"
        assert record_signing.sign_record(
            session=session,
            kit=kit,
            record_id=target,
            seal_choice="system",
            method="sms",
            confirmation_id=None,
            data_dir=get_settings().data_dir,
            amend_days=7,
            zone=clinic_zone(),
            actor=Actor(),
        ).ok
    state = make(WorkbenchState, token=doctor_token, path=routes.WORKBENCH)
    state.on_load()
    download = {k._js_expr: v for k, v in state.download_pdf(target).args}
    assert download["filename"]._var_value.endswith(
        "_刘作榛_P120111201801313_口腔检查.pdf"
    )
    redirect = {k._js_expr: v for k, v in state.view_pdf(target).args}
    assert "/files/signed/" in redirect["path"]._var_value and "sig=" in (
        redirect["path"]._var_value
    )
    state.show_details(target)
    assert state.details["签署者"] == "sh-feihuan@8112"
    assert "PAdES B-T" in state.details["签名格式"]
    other = make(
        WorkbenchState, token=token_for("sh-wangli@8112"), path=routes.WORKBENCH
    )
    assert other.download_pdf(target) is not None and other.details == {}
