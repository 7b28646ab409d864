"""系统管理, 审计日志, 设置新密码 and 修改密码 through their handlers: the wrong
role changes nothing, a one-time password never lands in state, a session with a
one-time password is refused everywhere until it sets its own."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlmodel import Session, select

from his_portal import db, routes
from his_portal.models import Clinic, User
from his_portal.pages.admin import AdminState, IntegrityState
from his_portal.pages.admin_audit import AuditState
from his_portal.pages.set_password import SetPasswordState
from his_portal.pages.workbench import WorkbenchState
from his_portal.services import auth
from his_portal.services.audit import Actor, record_event
from his_portal.state import AuthState
from his_portal.states.password import ChangePasswordState
from tests.conftest import PASSWORD, token_for
from tests.state.test_states import make, redirect_target

pytestmark = pytest.mark.usefixtures("app_db")

ADMIN = "sh-admin@8112"
NEW = "Kj8-mountain-Q"
OTP_RE = re.compile(r'\["password"\] : "([A-Za-z0-9-]+)"')


def admin_state(login=ADMIN) -> AdminState:
    state = make(AdminState, token=token_for(login), path=routes.ADMIN)
    state.on_load()
    return state


def clinic_id() -> str:
    with Session(db.get_engine()) as session:
        return str(session.exec(select(Clinic.id)).first())


def user(login_id: str) -> User | None:
    with Session(db.get_engine()) as session:
        return session.exec(select(User).where(User.login_id == login_id)).first()


def one_time_password(event) -> str:
    """The password in the ``ONE_TIME.push`` client event."""
    match = OTP_RE.search(str(event.args))
    assert match, event
    return match.group(1)


def state_text(state) -> str:
    """Everything the state holds: what the browser gets and what the state
    manager (memory or Redis) stores, backend vars included."""
    return repr(state.dict()) + repr(state.__getstate__())


def create(state: AdminState, login_id: str, **extra):
    form = {
        "login_id": login_id,
        "display_name": "林新",
        "role": "doctor",
        "clinic_id": clinic_id(),
    } | extra
    return asyncio.run(state.create(form))


def log_in(login_id: str, password: str) -> str:
    with db.session() as session:
        token, _ = auth.authenticate(
            session=session, login_id=login_id, password=password, session_hours=1
        )
    return token


@pytest.mark.parametrize("login", ["sh-feihuan@8112", "sh-manager@8112"])
def test_the_admin_handlers_refuse_other_roles_and_change_nothing(login):
    state = admin_state(login)
    target = user("sh-wangli@8112")
    assert create(state, f"sh-intruder-{login[:3]}@8112") is not None
    assert user(f"sh-intruder-{login[:3]}@8112") is None
    assert state.set_active(target.id, False) is not None
    assert asyncio.run(state.reset_password(target.id)) is not None
    assert state.apply_filters({"text": "sh"}) is not None
    assert state.accounts == [] and state.clinics == []
    after = user("sh-wangli@8112")
    assert after.is_active and after.password_hash == target.password_hash
    assert not after.must_change_password
    integrity = make(IntegrityState, token=token_for(login), path=routes.ADMIN)
    assert integrity.on_load() is not None and not integrity.has_report
    audit = make(AuditState, token=token_for(login), path=routes.AUDIT)
    assert audit.on_load() is not None and audit.rows == []
    assert asyncio.run(audit.export()) is not None


def test_a_new_account_shows_its_one_time_password_once_and_keeps_it_nowhere():
    state = admin_state()
    event = create(state, "sh-state-new@8112")
    password = one_time_password(event)
    assert password not in state_text(state)
    assert any(a.login_id == "sh-state-new@8112" for a in state.accounts) or (
        state.account_pages > 1
    )
    assert not state.create_open
    # The doctor logs in with it: every guard and data handler refuses the
    # session, which may only set its new password.
    token = log_in("sh-state-new@8112", password)
    for path in (routes.WORKBENCH, routes.PROFILE, routes.ADMIN):
        guard = make(AuthState, token=token, path=path).guard()
        assert redirect_target(guard) == routes.SET_PASSWORD
    workbench = make(WorkbenchState, token=token, path=routes.WORKBENCH)
    assert workbench.on_load() is not None and workbench.rows == []
    change = make(ChangePasswordState, token=token, path=routes.PROFILE)
    form = {"current": password, "new": NEW, "confirm": NEW}
    assert asyncio.run(change.submit(form)) is not None
    assert user("sh-state-new@8112").must_change_password
    page = make(SetPasswordState, token=token, path=routes.SET_PASSWORD)
    assert page.on_load() is None and page.user_login == "sh-state-new@8112"
    bad = {"new": "short", "confirm": "short"}
    assert asyncio.run(page.submit(bad)) is None and "至少10位" in page.error
    done = asyncio.run(page.submit({"new": NEW, "confirm": NEW}))
    assert routes.WORKBENCH in str(done)
    assert not user("sh-state-new@8112").must_change_password
    assert (
        redirect_target(make(AuthState, token=token, path=routes.WORKBENCH).guard())
        is None
    )


def test_reset_and_disable_end_the_open_pages():
    state = admin_state()
    one_time_password(create(state, "sh-state-reset@8112"))
    target = user("sh-state-reset@8112")
    event = asyncio.run(state.reset_password(target.id))
    password = one_time_password(event)
    assert password not in state_text(state)
    token = log_in("sh-state-reset@8112", password)
    page = make(SetPasswordState, token=token, path=routes.SET_PASSWORD)
    asyncio.run(page.submit({"new": NEW, "confirm": NEW}))
    open_page = make(AuthState, token=token, path=routes.WORKBENCH)
    assert open_page.check_alive() is None
    assert state.set_active(target.id, False) is not None
    assert not user("sh-state-reset@8112").is_active
    assert redirect_target(open_page.check_alive()) == routes.LOGIN
    assert open_page.token == ""
    state.set_active(target.id, True)
    assert user("sh-state-reset@8112").is_active


def test_the_admin_cannot_disable_themselves_and_bad_ids_are_refused():
    state = admin_state()
    me = user(ADMIN)
    assert state.set_active(me.id, False) is not None
    assert user(ADMIN).is_active
    assert state.set_active("1; drop", False) is not None
    assert asyncio.run(state.reset_password(-4)) is not None
    assert asyncio.run(state.reset_password(me.id)) is not None
    assert user(ADMIN).password_hash == me.password_hash


def test_filters_and_pages_of_the_account_list():
    state = admin_state()
    state.apply_filters({"text": "feihuan", "role": "doctor", "status": "all"})
    assert [a.login_id for a in state.accounts] == ["sh-feihuan@8112"]
    state.apply_filters({"text": "", "role": "no-such-role", "clinic": "x"})
    assert state.filter_role == "no-such-role" and state.account_total >= 4
    state.clear_filters()
    first = [a.login_id for a in state.accounts]
    state.turn_page(1)
    assert state.account_page == min(2, state.account_pages)
    state.turn_page(99)
    assert state.account_page <= state.account_pages
    state.turn_page(-1)
    state.turn_page(-1)
    assert state.account_page == 1 and [a.login_id for a in state.accounts] == first


def test_changing_ones_own_password_in_the_profile():
    one_time_password(create(admin_state(), "sh-state-change@8112"))
    # Set up a normal account with a known password through the forced step.
    state = admin_state()
    target = user("sh-state-change@8112")
    password = one_time_password(asyncio.run(state.reset_password(target.id)))
    token = log_in("sh-state-change@8112", password)
    asyncio.run(
        make(SetPasswordState, token=token, path=routes.SET_PASSWORD).submit(
            {"new": NEW, "confirm": NEW}
        )
    )
    change = make(ChangePasswordState, token=token, path=routes.PROFILE)
    wrong = {"current": PASSWORD, "new": NEW + "2", "confirm": NEW + "2"}
    assert "当前密码不正确" in str(asyncio.run(change.submit(wrong)))
    right = {"current": NEW, "new": "Another-Tall-Tree", "confirm": "Another-Tall-Tree"}
    assert "密码已修改" in str(asyncio.run(change.submit(right)))
    assert NEW not in state_text(change)
    anonymous = make(ChangePasswordState, path=routes.PROFILE)
    assert asyncio.run(anonymous.submit(right)) is not None


def test_the_audit_page_filters_and_pages():
    with db.session() as session:  # more than the 50 rows of a page
        for index in range(60):
            record_event(
                session=session, actor=Actor(login_id="ops"), action=f"test.{index}"
            )
        session.commit()
    token = token_for(ADMIN)
    state = make(AuditState, token=token, path=routes.AUDIT)
    assert state.on_load() is not None  # the chain check, started in the background
    assert state.rows and state.rows[0].seq > state.rows[-1].seq
    state.apply({"actor": ADMIN, "action": "auth.login"})
    assert state.rows and all(
        r.actor == ADMIN and r.action == "auth.login" for r in state.rows
    )
    assert all(r.action_label == "登录" for r in state.rows)
    state.apply({"action": "all"})
    newest = state.rows[0].seq
    assert state.next_before
    state.older()
    assert state.rows[0].seq < newest
    state.newer()
    assert state.rows[0].seq == newest
    state.apply({"date_from": "2030-01-02", "date_to": "2030-01-01"})
    assert state.rows == []
    state.apply({"action": "not-an-action"})
    assert state.action == "all"
    events = asyncio.run(state.export())
    assert "审计日志.csv" in str(events)
