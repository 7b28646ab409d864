from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.models import AuditEvent, Role, User
from his_portal.services import auth
from his_portal.services.audit import verify_chain
from tests.conftest import NOW, PASSWORD, user_by_login

DOCTOR = "sh-feihuan@8112"


def login(session, login_id=DOCTOR, password=PASSWORD, now=NOW, hours=12):
    return auth.authenticate(
        session=session,
        login_id=login_id,
        password=password,
        session_hours=hours,
        ip="10.0.0.8",
        user_agent="pytest",
        now=now,
    )


def test_login_opens_a_session_the_token_resolves_to(demo):
    token, user = login(demo)
    assert user.display_name == "郑程" and user.role == Role.DOCTOR
    assert user.clinic_name == "上海维乐海趣路门诊"
    resolved = auth.resolve_session(session=demo, token=token, now=NOW)
    assert resolved == user
    assert len(token) >= 40


def test_password_hash_is_argon2_and_not_the_password(demo):
    user = demo.exec(select(User).where(User.login_id == DOCTOR)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize("login_id", [DOCTOR, "nobody@8112"])
def test_wrong_password_and_unknown_user_get_the_same_message(demo, login_id):
    with pytest.raises(auth.AuthError) as err:
        login(demo, login_id=login_id, password="wrong")
    assert err.value.message == "账号或密码错误"
    assert not err.value.locked


def test_empty_credentials_are_refused_without_counting(demo):
    with pytest.raises(auth.AuthError, match="请输入账号和密码"):
        login(demo, password="")


@pytest.mark.parametrize("login_id", [DOCTOR, "nobody@8112"])
def test_five_failures_in_15_minutes_lock_for_15_minutes(demo, login_id):
    for minute in range(4):
        with pytest.raises(auth.AuthError) as err:
            login(demo, login_id, "wrong", NOW + timedelta(minutes=minute))
        assert not err.value.locked
    with pytest.raises(auth.AuthError) as err:
        login(demo, login_id, "wrong", NOW + timedelta(minutes=4))
    assert err.value.locked
    assert err.value.message == "登录失败次数过多，账号已锁定，请15分钟后再试"
    # Even the right password is refused while locked...
    with pytest.raises(auth.AuthError) as err:
        login(demo, login_id, PASSWORD, NOW + timedelta(minutes=18))
    assert err.value.locked
    # ...and 15 minutes after the fifth failure the lock lifts.
    if login_id == DOCTOR:
        _, user = login(
            demo, login_id, PASSWORD, NOW + timedelta(minutes=19, seconds=1)
        )
        assert user.login_id == DOCTOR


def test_failures_spread_over_more_than_15_minutes_do_not_lock(demo):
    for minute in (0, 5, 10, 15, 21):
        with pytest.raises(auth.AuthError) as err:
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
        assert not err.value.locked
    _, user = login(demo, now=NOW + timedelta(minutes=22))
    assert user.login_id == DOCTOR


def test_a_success_resets_the_failure_count(demo):
    for minute in range(4):
        with pytest.raises(auth.AuthError):
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
    login(demo, now=NOW + timedelta(minutes=5))
    with pytest.raises(auth.AuthError) as err:
        login(demo, password="wrong", now=NOW + timedelta(minutes=6))
    assert not err.value.locked


def test_session_expires(demo):
    token, _ = login(demo, hours=2)
    assert auth.resolve_session(session=demo, token=token, now=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=2, seconds=1)
    assert auth.resolve_session(session=demo, token=token, now=later) is None


def test_unknown_or_empty_token_resolves_to_nobody(demo):
    assert auth.resolve_session(session=demo, token="", now=NOW) is None
    assert auth.resolve_session(session=demo, token="forged", now=NOW) is None


def test_logout_revokes_the_session_on_the_server(demo):
    token, _ = login(demo)
    auth.logout(session=demo, token=token)
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    auth.logout(session=demo, token=token)  # a second logout is harmless


def test_deactivated_user_cannot_log_in_or_use_a_session(demo):
    token, _ = login(demo)
    user = demo.exec(select(User).where(User.login_id == DOCTOR)).one()
    user.is_active = False
    demo.add(user)
    demo.commit()
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    with pytest.raises(auth.AuthError, match="账号或密码错误"):
        login(demo)


def test_admin_unlocks_a_locked_account(demo):
    for minute in range(5):
        with pytest.raises(auth.AuthError):
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
    admin = user_by_login(demo, "sh-admin@8112")
    rows = auth.list_accounts(session=demo, admin=admin, zone=NOW.tzinfo, now=NOW)
    assert {r.login_id: r.locked_until for r in rows}[DOCTOR] == "16:49"
    auth.unlock_account(session=demo, admin=admin, login_id=DOCTOR)
    _, user = login(demo, now=NOW + timedelta(minutes=6))
    assert user.login_id == DOCTOR


def test_only_admins_unlock_or_list_accounts(demo):
    doctor = user_by_login(demo, DOCTOR)
    with pytest.raises(PermissionError):
        auth.unlock_account(session=demo, admin=doctor, login_id=DOCTOR)
    with pytest.raises(PermissionError):
        auth.list_accounts(session=demo, admin=doctor, zone=NOW.tzinfo)


def test_logins_failures_and_lockouts_are_audited(demo):
    login(demo, now=NOW - timedelta(minutes=1))
    for minute in range(5):
        with pytest.raises(auth.AuthError):
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
    actions = [e.action for e in demo.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions == ["auth.login"] + ["auth.login_failed"] * 4 + [
        "auth.account_locked"
    ]
    event = demo.exec(select(AuditEvent)).first()
    assert (event.ip, event.user_agent, event.actor_login) == (
        "10.0.0.8",
        "pytest",
        DOCTOR,
    )
    assert verify_chain(session=demo).ok
