"""签名监控 handlers, called as the browser's events would be: filters, scope, the
drill-down, exports and 催签; anyone but a manager gets nothing."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal import db, routes
from his_portal.models import Clinic, MedicalRecord, Role, User
from his_portal.services import notifications
from his_portal.services.auth import hash_password, view_of
from his_portal.states import monitor_view
from his_portal.states.monitor import MonitorState
from tests.conftest import PASSWORD, token_for
from tests.state.test_states import make

pytestmark = pytest.mark.usefixtures("app_db")

BRANCH_LOGIN = "test-monitor-branch@8113"


def run(answer):
    """What a handler answered: the 签名监控 handlers that query are coroutines
    (the queries run in a worker thread)."""
    return asyncio.run(answer) if inspect.iscoroutine(answer) else answer


def toast(event) -> tuple[str, str]:
    """(kind, message) of an ``rx.toast.*`` event."""
    code = str(event.args[0][1])
    kind, text = re.search(r'\["(\w+)"\]\("(.*)"\)', code).groups()
    return kind, json.loads(f'"{text}"')


def download(event) -> tuple[str, bytes]:
    """(file name, bytes) of an ``rx.download`` event."""
    args = {name._js_expr: value._var_value for name, value in event.args}
    return args["filename"], base64.b64decode(args["url"].split(",", 1)[1])


def loaded(login: str = "sh-manager@8112") -> MonitorState:
    state = make(MonitorState, token=token_for(login), path=routes.MANAGE)
    events = run(state.on_load())
    assert [e.fn.__name__ for e in events] == ["watch"]
    return state


def card(state, label: str) -> str:
    return next(c.value for c in state.cards if c.label == label)


def ids_of(login: str) -> int:
    return _user_and_clinic(login)[0].id


def _user_and_clinic(login: str):
    with db.session() as session:
        user = session.exec(select(User).where(User.login_id == login)).one()
        return user, session.get(Clinic, user.clinic_id)


@pytest.fixture
def branch_manager(app_db) -> str:
    """A manager of 上海维乐徐汇门诊 only."""
    with db.session() as session:
        clinic = session.exec(select(Clinic).where(Clinic.code == "8113")).one()
        session.add(
            User(
                login_id=BRANCH_LOGIN,
                display_name="孙丽",
                role=Role.MANAGER,
                clinic_id=clinic.id,
                password_hash=hash_password(PASSWORD),
            )
        )
        session.commit()
    return BRANCH_LOGIN


def test_the_chain_manager_lands_on_the_last_7_days():
    state = loaded()
    today = monitor_view.today()
    assert (state.quick, state.date_to) == ("近7天", today.isoformat())
    assert state.date_from == (today - timedelta(days=6)).isoformat()
    assert state.chain_wide and len(state.clinics) == 3
    assert [c.label for c in state.cards] == [
        "病历数",
        "已签名",
        "待签名",
        "超期未签",
        "签署完成率",
        "签署时长中位数",
        "签署时长P90",
    ]
    assert {d.name for d in state.doctors} == {"郑程", "王莉"}
    assert int(card(state, "病历数")) == sum(d.total for d in state.doctors) > 0
    assert len(state.days) == len(state.trend) == 7
    assert sum(d["overdue"] for d in state.trend) == int(card(state, "超期未签"))
    assert {b["name"] for b in state.bars} == {"郑程", "王莉"}
    assert state.updated_at and "自动刷新" in state.refreshed


def test_quick_ranges_and_custom_dates():
    state = loaded()
    week = int(card(state, "病历数"))
    run(state.set_quick("近30天"))
    assert state.quick == "近30天" and int(card(state, "病历数")) >= week
    assert toast(run(state.set_quick("一万年"))) == ("error", "无效的统计周期")
    assert state.quick == "近30天"
    state.set_date_from(state.date_to)
    assert state.quick == ""
    assert run(state.apply_dates()) is None and len(state.days) == 1
    state.set_date_to("2020-01-01")
    assert toast(run(state.apply_dates())) == ("error", "开始日期不能晚于结束日期")
    state.set_date_to("明天")
    assert toast(run(state.apply_dates()))[1] == "结束日期格式不正确，应为 年-月-日"


def test_filter_by_clinic_and_doctor():
    state = loaded()
    xuhui = next(i for i, name in state.clinics if name == "上海维乐徐汇门诊")
    run(state.set_clinic(xuhui))
    assert state.clinic == xuhui and card(state, "病历数") == "0"
    assert state.doctors == [] and state.doctor_choices == []
    run(state.set_clinic("all"))
    zheng = str(ids_of("sh-feihuan@8112"))
    run(state.set_doctor(zheng))
    assert [d.name for d in state.doctors] == ["郑程"]
    assert toast(run(state.set_clinic("9999"))) == ("error", "分院不存在")
    assert (state.clinic, state.doctor) == ("all", zheng)
    assert toast(run(state.set_doctor("郑程"))) == ("error", "医生无效")
    assert state.doctor == zheng


def test_a_branch_manager_cannot_see_another_clinic(branch_manager):
    state = loaded(branch_manager)
    assert not state.chain_wide
    assert [name for _, name in state.clinics] == ["上海维乐徐汇门诊"]
    assert card(state, "病历数") == "0"
    haiqu = str(_user_and_clinic("sh-feihuan@8112")[1].id)
    assert toast(run(state.set_clinic(haiqu))) == ("error", "无权查看其他分院的数据")
    assert state.clinic == "all" and card(state, "病历数") == "0"
    zheng = str(ids_of("sh-feihuan@8112"))
    assert toast(run(state.set_doctor(zheng))) == ("error", "无权查看其他分院的数据")
    with db.session() as session:
        record = session.exec(select(MedicalRecord.id)).first()
    assert toast(state.view_pdf(record)) == ("error", "无权查看该病历")
    assert toast(state.remind_doctor(int(zheng)))[0] == "error"


@pytest.mark.parametrize("login", ["sh-feihuan@8112", "sh-admin@8112", ""])
def test_anyone_but_a_manager_gets_nothing(login):
    token = token_for(login) if login else ""
    state = make(MonitorState, token=token, path=routes.MANAGE)
    guard = run(state.on_load())
    assert guard.fn.__name__ == "guard" and state.cards == [] and state.doctors == []
    for event in (
        run(state.set_quick("近30天")),
        run(state.open_kind("overdue")),
        run(state.open_doctor(1)),
        state.export_doctors(),
        state.export_records(),
        state.remind_doctor(1),
        state.view_pdf(1),
        run(state.set_clinic("1")),
    ):
        assert getattr(event, "fn", None) is not None and event.fn.__name__ == "guard"
    assert state.cards == [] and state.drill_rows == []


def test_the_records_behind_a_card_and_remind_about_them():
    state = loaded()
    assert toast(run(state.open_kind("everything"))) == ("error", "无效的统计项")
    run(state.open_kind("overdue"))
    assert state.drill_title == "超期未签"
    assert state.drill_total == int(card(state, "超期未签")) > 0
    assert {r.status for r in state.drill_rows} == {"超期未签"}
    wang = [r for r in state.drill_rows if r.doctor_name == "王莉"][:2]
    for row in wang:
        state.toggle_record(row.id)
    state.toggle_record(-1)  # not a row shown: ignored
    assert state.selected == [r.id for r in wang]
    user = view_of(*_user_and_clinic("sh-wangli@8112"))
    with db.session() as session:
        before = notifications.unread_count(session, user=user)
    kind, message = toast(state.remind_selected())
    assert kind == "success" and message.startswith("已向王莉发送催签通知（2份病历）")
    with db.session() as session:
        assert notifications.unread_count(session, user=user) == before + 1
    assert state.selected == []
    state.drill_open_change(False)
    assert (state.drill_kind, state.drill_rows) == ("", [])


def test_a_doctor_s_records_and_the_pages():
    state = loaded()
    run(state.set_quick("近30天"))
    zheng = ids_of("sh-feihuan@8112")
    run(state.open_doctor(zheng))
    assert state.drill_title == "郑程 的病历"
    assert {r.doctor_name for r in state.drill_rows} == {"郑程"}
    total = next(d.total for d in state.doctors if d.id == zheng)
    assert state.drill_total == total and state.drill_pages == -(-total // 20)
    run(state.drill_go(2))
    assert state.drill_page == min(2, state.drill_pages)
    assert toast(run(state.drill_go("2"))) == ("error", "页码无效")
    assert toast(run(state.open_doctor(999_999))) == ("error", "没有这位医生的数据")
    assert toast(state.view_pdf(state.drill_rows[0].id)) == (
        "error",
        "该病历尚无签名文件",
    )


def test_csv_exports_carry_a_bom_and_the_rows_on_screen():
    state = loaded()
    assert toast(state.export_records()) == ("error", "无效的统计项")
    name, data = download(state.export_doctors())
    assert name == f"签名监控_医生_{state.date_from}_{state.date_to}.csv"
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("医生,账号,分院,病历数")
    assert len(lines) == 1 + len(state.doctors)
    run(state.open_kind("total"))
    name, data = download(state.export_records())
    assert name.startswith("签名监控_病历_") and data.startswith(b"\xef\xbb\xbf")
    assert len(data.decode("utf-8-sig").splitlines()) == 1 + state.drill_total


def test_the_refresh_stops_without_a_connected_browser():
    assert asyncio.run(monitor_view.connected("no-such-tab")) is False
