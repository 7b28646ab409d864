"""系统管理 accounts: create, disable / enable, reset password, the filtered list;
every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from his_portal.errors import AccessDenied
from his_portal.models import AuditEvent, Clinic, Role, User, UserSession
from his_portal.services import accounts, auth
from his_portal.services.audit import Actor, verify_chain
from tests.conftest import NOW, PASSWORD, user_by_login

ADMIN = "sh-admin@8112"
DOCTOR = "sh-feihuan@8112"


def admin_of(session):
    return user_by_login(session, ADMIN)


def actor(user) -> Actor:
    return Actor(user.id, user.login_id, "10.0.0.1", "pytest")


def clinic_id(session) -> int:
    return session.exec(select(Clinic.id)).first()


def create(session, *, by=None, **fields):
    by = by or admin_of(session)
    values = {
        "login_id": "sh-newdoc@8112",
        "display_name": "林新",
        "role": Role.DOCTOR,
        "clinic_id": clinic_id(session),
        "chain_wide": False,
    } | fields
    return accounts.create_user(session=session, admin=by, actor=actor(by), **values)


def users(session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def login(session, login_id, password, now=NOW):
    return auth.authenticate(
        session=session,
        login_id=login_id,
        password=password,
        session_hours=12,
        ip="10.0.0.9",
        now=now,
    )


def test_admin_creates_a_doctor_with_a_one_time_password(demo):
    new = create(demo)
    user = demo.get(User, new.user_id)
    assert (user.role, user.must_change_password, user.is_active) == (
        "doctor",
        True,
        True,
    )
    assert new.one_time_password not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    event = demo.exec(
        select(AuditEvent).where(AuditEvent.action == "account.created")
    ).one()
    assert event.target == f"user:{user.id}" and new.one_time_password not in (
        event.detail
    )
    token, current = login(demo, "sh-newdoc@8112", new.one_time_password)
    assert current.must_change_password
    # Logged in, but the session resolves to nobody until the password is set.
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    assert verify_chain(session=demo).ok


def test_a_manager_may_see_every_clinic(demo):
    new = create(demo, login_id="hq-boss@8112", role=Role.MANAGER, chain_wide=True)
    assert demo.get(User, new.user_id).chain_wide


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"login_id": "a b"}, "账号应为3-64位"),
        ({"login_id": "x"}, "账号应为3-64位"),
        ({"display_name": "  "}, "请填写姓名"),
        ({"role": Role.ADMIN}, "只能在此创建医生或门诊管理者账号"),
        ({"role": "root"}, "角色应为"),
        ({"clinic_id": 9999}, "请选择已有的分院"),
        ({"chain_wide": True}, "只有门诊管理者可以查看全部分院"),
        ({"login_id": DOCTOR}, "已存在"),
        ({"login_id": DOCTOR.upper()}, "已存在"),
    ],
)
def test_bad_new_accounts_are_refused_and_nothing_is_written(demo, fields, message):
    before = users(demo)
    with pytest.raises(accounts.AccountError, match=message):
        create(demo, **fields)
    assert users(demo) == before


def test_only_an_admin_creates_changes_or_resets(demo):
    doctor = user_by_login(demo, DOCTOR)
    wang = user_by_login(demo, "sh-wangli@8112")
    before = users(demo)
    with pytest.raises(AccessDenied):
        create(demo, by=doctor)
    manager = user_by_login(demo, "sh-manager@8112")
    with pytest.raises(AccessDenied):
        create(demo, by=manager, role=Role.DOCTOR)
    with pytest.raises(AccessDenied):
        accounts.set_active(
            session=demo,
            admin=doctor,
            user_id=wang.id,
            active=False,
            actor=actor(doctor),
        )
    with pytest.raises(AccessDenied):
        accounts.reset_password(
            session=demo, admin=doctor, user_id=wang.id, actor=actor(doctor)
        )
    with pytest.raises(AccessDenied):
        accounts.list_clinics(session=demo, admin=doctor)
    assert users(demo) == before
    assert demo.get(User, wang.id).is_active
    _, same = login(demo, "sh-wangli@8112", PASSWORD)
    assert not same.must_change_password


def test_disabling_ends_the_live_sessions_at_once(demo):
    admin = admin_of(demo)
    token, doctor = login(demo, DOCTOR, PASSWORD)
    accounts.set_active(
        session=demo, admin=admin, user_id=doctor.id, active=False, actor=actor(admin)
    )
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    open_sessions = demo.exec(
        select(UserSession).where(
            UserSession.user_id == doctor.id,
            UserSession.revoked_at == None,  # noqa: E711
        )
    ).all()
    assert open_sessions == []
    with pytest.raises(auth.AuthError):
        login(demo, DOCTOR, PASSWORD, now=NOW + timedelta(minutes=1))
    accounts.set_active(
        session=demo, admin=admin, user_id=doctor.id, active=True, actor=actor(admin)
    )
    _, again = login(demo, DOCTOR, PASSWORD, now=NOW + timedelta(minutes=2))
    assert again.id == doctor.id
    done = [
        e.action
        for e in demo.exec(
            select(AuditEvent).where(AuditEvent.target == f"user:{doctor.id}")
        )
    ]
    assert done == ["account.disabled", "account.enabled"]


def test_an_admin_cannot_disable_themselves_or_the_last_admin(demo):
    admin = admin_of(demo)
    with pytest.raises(accounts.AccountError, match="自己的账号"):
        accounts.set_active(
            session=demo,
            admin=admin,
            user_id=admin.id,
            active=False,
            actor=actor(admin),
        )
    second = accounts.create_account(
        session=demo,
        login_id="ops-admin",
        display_name="运维",
        role=Role.ADMIN,
        clinic_name="上海维乐海趣路门诊",
        password="Clinic#Admin2026",
        actor=Actor(login_id="cli"),
    )
    ops = auth.view_of(second, None)
    accounts.set_active(
        session=demo, admin=ops, user_id=admin.id, active=False, actor=actor(ops)
    )
    # Only a stale view of the disabled administrator could still try this.
    with pytest.raises(accounts.AccountError, match="最后一个系统管理员"):
        accounts.set_active(
            session=demo,
            admin=admin,
            user_id=second.id,
            active=False,
            actor=actor(admin),
        )
    assert demo.get(User, second.id).is_active


def test_reset_gives_a_new_one_time_password_and_ends_sessions(demo):
    admin = admin_of(demo)
    token, doctor = login(demo, DOCTOR, PASSWORD)
    reset = accounts.reset_password(
        session=demo, admin=admin, user_id=doctor.id, actor=actor(admin)
    )
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    with pytest.raises(auth.AuthError):
        login(demo, DOCTOR, PASSWORD)
    _, pending = login(demo, DOCTOR, reset.one_time_password)
    assert pending.must_change_password
    with pytest.raises(accounts.AccountError, match="个人中心"):
        accounts.reset_password(
            session=demo, admin=admin, user_id=admin.id, actor=actor(admin)
        )
    with pytest.raises(accounts.AccountError, match="账号不存在"):
        accounts.reset_password(
            session=demo, admin=admin, user_id=99999, actor=actor(admin)
        )


def test_the_account_list_filters_and_pages(demo):
    admin = admin_of(demo)
    for n in range(5):
        create(demo, login_id=f"sh-page{n}@8112", display_name=f"分页{n}")
    everyone = users(demo)
    page = auth.search_accounts(session=demo, admin=admin, zone=NOW.tzinfo, page_size=2)
    assert (page.total, page.pages, len(page.rows)) == (everyone, -(-everyone // 2), 2)
    last = auth.search_accounts(
        session=demo, admin=admin, zone=NOW.tzinfo, page_size=2, page=999
    )
    assert last.page == last.pages and last.rows
    found = auth.search_accounts(
        session=demo,
        admin=admin,
        zone=NOW.tzinfo,
        filters=auth.AccountFilter(text="PAGE", status="must_change"),
    )
    assert {r.login_id for r in found.rows} == {f"sh-page{n}@8112" for n in range(5)}
    assert all(r.must_change_password for r in found.rows)
    by_name = auth.search_accounts(
        session=demo,
        admin=admin,
        zone=NOW.tzinfo,
        filters=auth.AccountFilter(text="郑程"),
    )
    assert [r.login_id for r in by_name.rows] == [DOCTOR]
    managers = auth.search_accounts(
        session=demo,
        admin=admin,
        zone=NOW.tzinfo,
        filters=auth.AccountFilter(role=Role.MANAGER),
    )
    assert managers.rows and all(r.role == "manager" for r in managers.rows)
    with pytest.raises(AccessDenied):
        auth.search_accounts(
            session=demo, admin=user_by_login(demo, DOCTOR), zone=NOW.tzinfo
        )
