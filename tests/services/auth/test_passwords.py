"""The password policy, 修改密码 and the forced 设置新密码 after a one-time password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.errors import AccessDenied
from his_portal.models import AuditEvent, LoginAttempt, Role, User
from his_portal.services import accounts, auth, file_tickets
from his_portal.services.audit import Actor
from his_portal.services.auth import passwords
from tests.conftest import NOW, PASSWORD, user_by_login

DOCTOR = "sh-feihuan@8112"
NEW = "Kj8-mountain-Q"
IP = "10.0.0.8"


def login(session, login_id=DOCTOR, password=PASSWORD, now=NOW, ip=IP):
    return auth.authenticate(
        session=session,
        login_id=login_id,
        password=password,
        session_hours=12,
        ip=ip,
        now=now,
    )


def change(session, token, current=PASSWORD, new=NEW, confirm=None, now=NOW, ip=IP):
    return passwords.change_password(
        session=session,
        token=token,
        current=current,
        new=new,
        confirm=new if confirm is None else confirm,
        ip=ip,
        now=now,
    )


def hash_of(session, login_id=DOCTOR) -> str:
    user = session.exec(select(User).where(User.login_id == login_id)).one()
    session.refresh(user)
    return user.password_hash


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short1!", f"密码至少{passwords.MIN_LENGTH}位"),
        ("x" * (passwords.MAX_LENGTH + 1), "不能超过"),
        ("abababababab", "重复的字符太多"),
        ("qwertyuiop", "过于常见"),
        ("Password2026!", "过于常见"),
        ("!!1234567890", "过于常见"),
        ("Sh-Feihuan@8112", "不能包含账号"),
        ("my-sh-feihuan-pass", "不能包含账号"),
        ("郑程的新密码2026", "不能包含姓名"),
    ],
)
def test_the_policy_refuses(password, message):
    with pytest.raises(passwords.PasswordRejected, match=message):
        passwords.check_policy(password, login_id=DOCTOR, display_name="郑程")


def test_the_policy_accepts_a_long_uncommon_password():
    passwords.check_policy(NEW, login_id=DOCTOR, display_name="郑程")
    assert len(passwords.common_passwords()) == 10_000
    assert "password" in passwords.common_passwords()


def test_one_time_passwords_are_random_and_meet_the_policy():
    made = {passwords.generate_one_time_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        passwords.check_policy(password, login_id="x-new@1", display_name="新人")


def test_changing_the_password_keeps_this_session_and_ends_the_others(demo):
    token, _ = login(demo)
    other, _ = login(demo, ip="10.0.0.9")
    before = hash_of(demo)
    assert change(demo, token) == 1
    assert hash_of(demo) != before
    assert auth.resolve_session(session=demo, token=token, now=NOW) is not None
    assert auth.resolve_session(session=demo, token=other, now=NOW) is None
    with pytest.raises(auth.AuthError):
        login(demo, now=NOW + timedelta(minutes=1))
    _, user = login(demo, password=NEW, now=NOW + timedelta(minutes=1))
    assert user.login_id == DOCTOR
    assert demo.get(User, user.id).password_changed_at is not None
    changed = demo.exec(
        select(AuditEvent).where(AuditEvent.action == "auth.password_changed")
    ).one()
    assert NEW not in changed.detail and changed.ip == IP


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong-password", NEW, NEW, "当前密码不正确"),
        ("", NEW, NEW, "请输入当前密码"),
        (PASSWORD, NEW, NEW + "x", "两次输入的新密码不一致"),
        (PASSWORD, "too-short", "too-short", "密码至少10位"),
        (PASSWORD, "Password2026!", "Password2026!", "过于常见"),
        (PASSWORD, DOCTOR, DOCTOR, "不能包含账号"),
    ],
)
def test_bad_changes_are_refused_and_nothing_changes(
    demo, current, new, confirm, message
):
    token, _ = login(demo)
    before = hash_of(demo)
    with pytest.raises(passwords.PasswordRejected, match=message):
        change(demo, token, current=current, new=new, confirm=confirm)
    assert hash_of(demo) == before


def test_the_new_password_must_differ_from_the_current_one(demo):
    passwords_user = demo.exec(select(User).where(User.login_id == DOCTOR)).one()
    passwords_user.password_hash = auth.hash_password(NEW)
    demo.commit()
    token, _ = login(demo, password=NEW)
    with pytest.raises(passwords.PasswordRejected, match="不能与当前密码相同"):
        change(demo, token, current=NEW, new=NEW)


def test_wrong_current_passwords_lock_like_login_failures(demo):
    token, _ = login(demo)
    for minute in range(auth.MAX_FAILURES):
        with pytest.raises(passwords.PasswordRejected, match="当前密码不正确"):
            change(demo, token, current="wrong", now=NOW + timedelta(minutes=minute))
    later = NOW + timedelta(minutes=auth.MAX_FAILURES)
    with pytest.raises(passwords.PasswordRejected, match="错误次数过多"):
        change(demo, token, now=later)
    # The same counter locks the login from that address.
    with pytest.raises(auth.AuthError) as err:
        login(demo, now=later)
    assert err.value.locked
    failures = demo.exec(
        select(LoginAttempt).where(
            LoginAttempt.login_id == DOCTOR,
            LoginAttempt.success == False,  # noqa: E712
        )
    ).all()
    assert len(failures) == auth.MAX_FAILURES
    assert [
        e.action
        for e in demo.exec(
            select(AuditEvent).where(AuditEvent.action == "auth.password_change_failed")
        )
    ] == ["auth.password_change_failed"] * auth.MAX_FAILURES


def test_a_dead_session_cannot_change_anything(demo):
    with pytest.raises(AccessDenied):
        change(demo, "forged-token")
    token, _ = login(demo)
    auth.logout(session=demo, token=token)
    with pytest.raises(AccessDenied):
        change(demo, token)


def pending_doctor(demo):
    admin = user_by_login(demo, "sh-admin@8112")
    new = accounts.create_user(
        session=demo,
        admin=admin,
        login_id="sh-linxin@8112",
        display_name="林新",
        role=Role.DOCTOR,
        clinic_id=admin.clinic_id,
        chain_wide=False,
        actor=Actor(admin.id, admin.login_id),
    )
    token, user = login(demo, login_id="sh-linxin@8112", password=new.one_time_password)
    return token, user, new.one_time_password


def test_a_one_time_session_is_refused_everywhere_until_the_password_is_set(demo):
    token, user, one_time = pending_doctor(demo)
    assert user.must_change_password
    assert auth.resolve_session(session=demo, token=token, now=NOW) is None
    assert auth.live_session(session=demo, token=token, now=NOW) is None
    pending = auth.pending_password_change(session=demo, token=token, now=NOW)
    assert pending is not None and pending.id == user.id
    # Nothing can be bound to it either (a signed-file ticket).
    with pytest.raises(AccessDenied):
        file_tickets.issue(
            session=demo, token=token, path="/files/signed/1", key=b"k" * 32, now=NOW
        )
    with pytest.raises(AccessDenied, match="请先设置新密码"):
        change(demo, token, current=one_time)
    with pytest.raises(passwords.PasswordRejected, match="不能与一次性密码相同"):
        passwords.set_new_password(
            session=demo, token=token, new=one_time, confirm=one_time, now=NOW
        )
    done = passwords.set_new_password(
        session=demo, token=token, new=NEW, confirm=NEW, ip=IP, now=NOW
    )
    assert done.id == user.id and not done.must_change_password
    resolved = auth.resolve_session(session=demo, token=token, now=NOW)
    assert resolved is not None and resolved.id == user.id
    assert auth.pending_password_change(session=demo, token=token, now=NOW) is None
    with pytest.raises(AccessDenied, match="无需设置新密码"):
        passwords.set_new_password(
            session=demo, token=token, new=NEW + "2", confirm=NEW + "2", now=NOW
        )
    with pytest.raises(auth.AuthError):
        login(demo, login_id="sh-linxin@8112", password=one_time)
