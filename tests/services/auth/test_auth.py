from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from his_portal.errors import AccessDenied
from his_portal.models import AuditEvent, LoginAttempt, Role, User, UserSession
from his_portal.services import auth
from his_portal.services.audit import verify_chain
from tests.conftest import NOW, PASSWORD, user_by_login

DOCTOR = "sh-feihuan@8112"
IP = "10.0.0.8"


def login(session, login_id=DOCTOR, password=PASSWORD, now=NOW, hours=12, ip=IP):
    return auth.authenticate(
        session=session,
        login_id=login_id,
        password=password,
        session_hours=hours,
        ip=ip,
        user_agent="pytest",
        now=now,
    )


def resolve(session, token, now, idle_minutes=30):
    return auth.resolve_session(
        session=session, token=token, now=now, idle_minutes=idle_minutes
    )


def seed_failures(session, count, *, login_ids=(DOCTOR,), ips=(IP,), at=NOW):
    """``count`` failed attempts a second apart, cycling through ``login_ids`` and
    ``ips`` (written directly: argon2 for each would make the test slow)."""
    for n in range(count):
        session.add(
            LoginAttempt(
                login_id=login_ids[n % len(login_ids)],
                ip=ips[n % len(ips)],
                at=at + timedelta(seconds=n),
                success=False,
            )
        )
    session.commit()


def count_rows(session, table) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def actions(session) -> list[str]:
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


def test_login_opens_a_session_the_token_resolves_to(demo):
    token, user = login(demo)
    assert user.display_name == "郑程" and user.role == Role.DOCTOR
    assert user.clinic_name == "上海维乐海趣路门诊"
    assert resolve(demo, token, NOW) == user
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
    assert resolve(demo, token, NOW + timedelta(hours=1), idle_minutes=180)
    later = NOW + timedelta(hours=2, seconds=1)
    assert resolve(demo, token, later, idle_minutes=180) is None


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
    auth.unlock_account(
        session=demo, admin=admin, login_id=DOCTOR, now=NOW + timedelta(minutes=5)
    )
    _, user = login(demo, now=NOW + timedelta(minutes=6))
    assert user.login_id == DOCTOR


def test_only_admins_unlock_or_list_accounts(demo):
    doctor = user_by_login(demo, DOCTOR)
    with pytest.raises(AccessDenied):
        auth.unlock_account(session=demo, admin=doctor, login_id=DOCTOR)
    with pytest.raises(AccessDenied):
        auth.list_accounts(session=demo, admin=doctor, zone=NOW.tzinfo)


def test_logins_failures_and_lockouts_are_audited(demo):
    login(demo, now=NOW - timedelta(minutes=1))
    for minute in range(5):
        with pytest.raises(auth.AuthError):
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
    assert actions(demo) == ["auth.login"] + ["auth.login_failed"] * 4 + [
        "auth.account_locked"
    ]
    event = demo.exec(select(AuditEvent)).first()
    assert (event.ip, event.user_agent, event.actor_login) == (
        "10.0.0.8",
        "pytest",
        DOCTOR,
    )
    assert verify_chain(session=demo).ok


# --- idle timeout -----------------------------------------------------------------


def test_an_idle_session_ends_and_is_audited_once(demo):
    token, _ = login(demo)
    assert resolve(demo, token, NOW + timedelta(minutes=10))
    assert resolve(demo, token, NOW + timedelta(minutes=40))  # 30 idle: still fine
    late = NOW + timedelta(minutes=70, seconds=1)
    assert resolve(demo, token, late) is None
    assert resolve(demo, token, late + timedelta(seconds=1)) is None
    assert actions(demo).count("auth.session_idle_expired") == 1
    row = demo.exec(select(UserSession)).one()
    assert row.revoked_at == late  # ended like a logout: activity does not revive it
    assert resolve(demo, token, late, idle_minutes=600) is None
    assert verify_chain(session=demo).ok


def test_the_idle_limit_defaults_to_the_settings(demo):
    token, _ = login(demo)
    assert auth.resolve_session(session=demo, token=token, now=NOW)
    later = NOW + timedelta(minutes=31)  # settings: idle_minutes=30
    assert auth.resolve_session(session=demo, token=token, now=later) is None


def test_last_seen_is_written_at_most_once_a_minute(demo):
    token, _ = login(demo)

    def last_seen():
        demo.expire_all()
        return demo.exec(select(UserSession)).one().last_seen_at

    assert resolve(demo, token, NOW + timedelta(seconds=30))
    assert last_seen() is None  # created 30 s ago: nothing to write
    assert resolve(demo, token, NOW + timedelta(seconds=61))
    assert last_seen() == NOW + timedelta(seconds=61)
    assert resolve(demo, token, NOW + timedelta(seconds=120))
    assert last_seen() == NOW + timedelta(seconds=61)
    assert resolve(demo, token, NOW + timedelta(seconds=121))
    assert last_seen() == NOW + timedelta(seconds=121)


def test_resolving_a_session_is_one_indexed_query(demo):
    token, _ = login(demo)
    statements = []
    engine = demo.get_bind()

    def record(_conn, _cursor, statement, parameters, *_args):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert resolve(demo, token, NOW + timedelta(seconds=30))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    [(query, parameters)] = statements  # and no write: last seen 30 s ago
    plan = (
        demo.connection()
        .exec_driver_sql("EXPLAIN QUERY PLAN " + query, parameters)
        .all()
    )
    # The session is found through the unique index on its token hash.
    assert any(
        "SEARCH usersession USING INDEX" in row[-1] and "token_hash=?" in row[-1]
        for row in plan
    ), plan


# --- lockout per address, address throttle, account ceiling -----------------------


def test_a_guesser_elsewhere_cannot_lock_the_real_user_out(demo):
    for minute in range(5):
        with pytest.raises(auth.AuthError):
            login(demo, password="wrong", now=NOW + timedelta(minutes=minute))
    with pytest.raises(auth.AuthError) as err:
        login(demo, now=NOW + timedelta(minutes=6))
    assert err.value.locked  # the guesser's address stays locked...
    _, user = login(demo, now=NOW + timedelta(minutes=6), ip="10.0.0.9")
    assert user.login_id == DOCTOR  # ...the real user's is not


def test_an_address_is_throttled_across_login_ids_before_argon2(demo, monkeypatch):
    others = [f"guess-{n}@8112" for n in range(10)]
    seed_failures(demo, auth.IP_MAX_FAILURES - 1, login_ids=others)
    last = NOW + timedelta(minutes=1)
    with pytest.raises(auth.AuthError) as err:  # the 20th failure
        login(demo, login_id="guess-x@8112", password="wrong", now=last)
    assert err.value.message == "登录尝试过于频繁，请稍后再试" and err.value.locked
    assert actions(demo)[-1] == "auth.ip_throttled"

    class NoArgon2:
        def verify(self, *_args):
            raise AssertionError("argon2 ran for a throttled address")

    attempts, events = count_rows(demo, LoginAttempt), count_rows(demo, AuditEvent)
    with monkeypatch.context() as patch:
        patch.setattr(auth.login, "_hasher", NoArgon2())
        for login_id in (DOCTOR, "nobody@8112"):
            with pytest.raises(auth.AuthError, match="登录尝试过于频繁"):
                login(demo, login_id=login_id, now=last + timedelta(minutes=14))
    # Refusals write nothing: a flood costs neither hashing nor rows.
    assert (count_rows(demo, LoginAttempt), count_rows(demo, AuditEvent)) == (
        attempts,
        events,
    )
    _, user = login(demo, now=last + timedelta(minutes=14), ip="10.0.0.9")
    assert user.login_id == DOCTOR  # other addresses are not affected
    _, user = login(demo, now=last + timedelta(minutes=15, seconds=1))
    assert user.login_id == DOCTOR  # 15 minutes after the 20th failure


def test_failures_from_many_addresses_hit_the_account_ceiling(demo):
    ips = [f"10.1.0.{n}" for n in range(40)]  # below the per-address limits
    seed_failures(demo, auth.ACCOUNT_MAX_FAILURES - 1, ips=ips)
    last = NOW + timedelta(minutes=2)
    with pytest.raises(auth.AuthError) as err:
        login(demo, password="wrong", now=last, ip="10.2.0.1")
    assert err.value.locked and err.value.message == auth.MSG_LOCKED
    assert actions(demo)[-1] == "auth.account_locked"
    with pytest.raises(auth.AuthError) as err:  # from a fresh address, right password
        login(demo, now=last + timedelta(minutes=1), ip="10.3.0.1")
    assert err.value.locked
    admin = user_by_login(demo, "sh-admin@8112")
    rows = auth.list_accounts(session=demo, admin=admin, zone=NOW.tzinfo, now=last)
    assert {r.login_id: r.locked_until for r in rows}[DOCTOR] == "16:47"
    _, user = login(demo, now=last + timedelta(minutes=15, seconds=1), ip="10.3.0.1")
    assert user.login_id == DOCTOR


def test_a_success_does_not_reset_the_account_ceiling(demo):
    ips = [f"10.1.0.{n}" for n in range(40)]
    seed_failures(demo, auth.ACCOUNT_MAX_FAILURES - 1, ips=ips)
    login(demo, now=NOW + timedelta(minutes=1), ip="10.3.0.1")
    with pytest.raises(auth.AuthError) as err:
        login(demo, password="wrong", now=NOW + timedelta(minutes=2), ip="10.2.0.1")
    assert err.value.locked


def test_admin_unlock_clears_every_address_and_the_ceiling(demo):
    seed_failures(demo, 5, ips=("10.0.0.8",))
    seed_failures(demo, 5, ips=("10.0.0.9",), at=NOW + timedelta(seconds=10))
    seed_failures(
        demo,
        auth.ACCOUNT_MAX_FAILURES,
        ips=[f"10.1.0.{n}" for n in range(40)],
        at=NOW + timedelta(seconds=20),
    )
    admin = user_by_login(demo, "sh-admin@8112")
    later = NOW + timedelta(minutes=3)
    auth.unlock_account(session=demo, admin=admin, login_id=DOCTOR, now=later)
    rows = auth.list_accounts(session=demo, admin=admin, zone=NOW.tzinfo, now=later)
    assert {r.login_id: r.locked_until for r in rows}[DOCTOR] == ""
    for ip in ("10.0.0.8", "10.0.0.9", "10.1.0.1"):
        _, user = login(demo, now=later + timedelta(seconds=1), ip=ip)
        assert user.login_id == DOCTOR


def test_admin_sees_a_lock_from_any_address(demo):
    seed_failures(demo, 5, ips=("10.0.0.77",), at=NOW + timedelta(minutes=1))
    admin = user_by_login(demo, "sh-admin@8112")
    rows = auth.list_accounts(
        session=demo, admin=admin, zone=NOW.tzinfo, now=NOW + timedelta(minutes=2)
    )
    assert {r.login_id: r.locked_until for r in rows}[DOCTOR] == "16:46"
