"""Page states, driven by calling their handlers as the browser's events would."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from reflex.istate.data import RouterData

from his_portal import routes
from his_portal.pages.admin import AdminState
from his_portal.pages.login import LoginState
from his_portal.pages.search import SearchState
from his_portal.pages.workbench import WorkbenchState
from his_portal.services import auth
from his_portal.state import AuthState
from tests.conftest import PASSWORD, token_for


def make(state_cls, *, token: str = "", path: str = "/", query: str = ""):
    state = state_cls(_reflex_internal_init=True)
    state.router = RouterData.from_router_data(
        {
            "pathname": path,
            "asPath": path + (f"?{query}" if query else ""),
            "headers": {"origin": "http://localhost:3000", "user-agent": "pytest"},
            "ip": "127.0.0.1",
        }
    )
    state.token = token
    return state


def redirect_target(event) -> str | None:
    """The path of an ``rx.redirect`` event spec, or None for anything else."""
    if event is None or not hasattr(event, "args"):
        return None
    args = {name._js_expr: value for name, value in event.args}
    return getattr(args.get("path"), "_var_value", None)


pytestmark = pytest.mark.usefixtures("app_db")


def spy_threads(monkeypatch, module, name: str) -> list[threading.Thread]:
    """Record the thread each call of ``module.name`` runs in."""
    threads: list[threading.Thread] = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return threads


def test_login_sets_the_token_and_goes_to_the_role_home(monkeypatch):
    threads = spy_threads(monkeypatch, auth, "authenticate")
    state = make(LoginState, path=routes.LOGIN)
    form = {"login_id": "sh-manager@8112", "password": PASSWORD}
    event = asyncio.run(state.submit(form))
    assert redirect_target(event) == routes.MANAGE
    assert state.token and state.user_name == "陈静" and state.error == ""
    assert state.role_label == "门诊管理者"
    # argon2 ran in a worker thread, not on the event loop (the main thread here).
    assert threads and threading.main_thread() not in threads


def test_wrong_password_shows_the_message_and_keeps_no_token():
    state = make(LoginState, path=routes.LOGIN)
    form = {"login_id": "sh-manager@8112", "password": "nope"}
    assert asyncio.run(state.submit(form)) is None
    assert state.error == "账号或密码错误" and state.token == ""


def test_guard_sends_anonymous_users_to_login():
    for path in (routes.WORKBENCH, routes.MANAGE, routes.ADMIN, routes.PROFILE):
        assert redirect_target(make(AuthState, path=path).guard()) == routes.LOGIN


def test_guard_sends_a_forged_token_to_login_and_clears_it():
    state = make(AuthState, token="forged", path=routes.WORKBENCH)
    assert redirect_target(state.guard()) == routes.LOGIN
    assert state.token == ""


@pytest.mark.parametrize(
    ("login_id", "path", "expected"),
    [
        ("sh-feihuan@8112", routes.WORKBENCH, None),
        ("sh-feihuan@8112", routes.ADMIN, routes.WORKBENCH),
        ("sh-feihuan@8112", routes.MANAGE, routes.WORKBENCH),
        ("sh-manager@8112", routes.ADMIN, routes.MANAGE),
        ("sh-manager@8112", routes.WORKBENCH + "/", None),
        ("sh-admin@8112", routes.WORKBENCH, routes.ADMIN),
        ("sh-admin@8112", routes.PROFILE, None),
    ],
)
def test_guard_lets_each_role_open_only_its_pages(login_id, path, expected):
    state = make(AuthState, token=token_for(login_id), path=path)
    assert redirect_target(state.guard()) == expected
    assert state.user_login == login_id


def test_logout_revokes_the_token_on_the_server():
    token = token_for("sh-feihuan@8112")
    state = make(AuthState, token=token, path=routes.WORKBENCH)
    assert redirect_target(state.logout()) == routes.LOGIN
    assert state.token == ""
    again = make(AuthState, token=token, path=routes.WORKBENCH)
    assert redirect_target(again.guard()) == routes.LOGIN


def test_workbench_lists_the_doctors_records_for_today():
    state = make(WorkbenchState, token=token_for("sh-feihuan@8112"))
    state.on_load()
    state.set_tab("today")  # 今日就诊: signed or not (other tests sign some)
    assert state.error == ""
    names = {row.patient_name for row in state.rows}
    assert {"刘作榛", "郭少青"} <= names and "张三" not in names
    assert {row.doctor_name for row in state.rows} == {"郑程"}
    state.set_record_no("P120111201801313")
    state.search()
    assert [row.patient_name for row in state.rows] == ["刘作榛"] and state.total == 1


def test_workbench_bad_dates_give_a_message_and_keep_the_rows():
    state = make(WorkbenchState, token=token_for("sh-feihuan@8112"))
    state.on_load()
    before = list(state.rows)
    state.set_date_from("2026-13-45")
    state.search()
    assert state.error == "开始日期格式不正确，应为 年-月-日"
    assert state.rows == before
    state.set_date_from("2026-12-31")
    state.set_date_to("2026-01-01")
    state.search()
    assert state.error == "开始日期不能晚于结束日期"


def test_workbench_refuses_without_a_session():
    state = make(WorkbenchState)
    assert state.on_load() is not None
    assert state.rows == []


def test_admin_handlers_refuse_a_doctor():
    state = make(AdminState, token=token_for("sh-feihuan@8112"), path=routes.ADMIN)
    state.on_load()
    assert state.accounts == []
    assert state.unlock("sh-wangli@8112") is not None
    assert state.accounts == []


def test_admin_sees_accounts():
    state = make(AdminState, token=token_for("sh-admin@8112"), path=routes.ADMIN)
    state.on_load()
    assert {"sh-feihuan@8112", "sh-admin@8112"} <= {a.login_id for a in state.accounts}


def test_search_reads_the_query_from_the_url():
    state = make(
        SearchState,
        token=token_for("sh-wangli@8112"),
        path=routes.SEARCH,
        query="q=lzz",
    )
    state.on_load()
    assert state.text == "lzz"
    assert [dataclasses.asdict(h)["name"] for h in state.hits] == ["刘作榛"]
