"""The password policy, one-time passwords, and changing one's own password.

The policy follows NIST SP 800-63B (5.1.1.2) rather than composition rules: at
least ``MIN_LENGTH`` characters (at most ``MAX_LENGTH``, which bounds argon2's
input), not mostly one or two characters repeated, not containing the login id or
the person's name, and not a common password. "Common" means the SecLists list of
the 10,000 most common passwords (``common_passwords.txt`` beside this module, its
source in the file header), compared case-insensitively, also after stripping
symbols, or digits and symbols, from either end: ``Password2026!`` counts as
``password``, ``!!1234567890`` as ``1234567890``.

A one-time password (new account, administrator's reset) is random from
``secrets``, shown once, stored only as its argon2 hash, and leaves the account's
``must_change_password`` set: its sessions resolve to nobody
(:func:`~.sessions.resolve_session`) until :func:`set_new_password` has run.

Changing a password (:func:`change_password`) needs the current one; a wrong one
counts as a failed login for that login id and address, so the lockout and the
per-address throttle of the login apply to guessing here too. Either way the other
live sessions of the account end, the current one stays.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import Clinic, LoginAttempt, User, UserSession, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth.core import (
    LOCK_MINUTES,
    CurrentUser,
    _hasher,
    hash_password,
    view_of,
)
from his_portal.services.auth.login import _failures, _throttled_until
from his_portal.services.auth.sessions import (
    _session_query,
    revoke_user_sessions,
    session_is_live,
)

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "PasswordRejected",
    "change_password",
    "check_policy",
    "common_passwords",
    "generate_one_time_password",
    "set_new_password",
]

MIN_LENGTH = 10
MAX_LENGTH = 128
#: Fewer distinct characters than this is a repetition ("aaaaaaaaaa", "1212…").
MIN_DISTINCT = 4
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_SYMBOLS = string.punctuation + " "
_AFFIXES = string.digits + _SYMBOLS
# No 0/O, 1/l/I: the one-time password is read off a screen and typed in.
OTP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
OTP_GROUPS, OTP_GROUP_LENGTH = 3, 4
MSG_EXPIRED = "登录已失效，请重新登录"
MSG_TOO_MANY = f"密码错误次数过多，请{LOCK_MINUTES}分钟后再试"


class PasswordRejected(InvalidInput):
    """The new password does not meet the policy, or the current one is wrong."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The common-password list, lower-cased (read once per process)."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line and not line.startswith("#")
    )


def _is_common(password: str) -> bool:
    lowered = password.lower()
    variants = {
        lowered,
        lowered.strip(_SYMBOLS),
        lowered.strip(_AFFIXES),
        lowered.rstrip(_AFFIXES),
        lowered.lstrip(_AFFIXES),
    }
    common = common_passwords()
    return any(variant and variant in common for variant in variants)


def check_policy(password: str, *, login_id: str, display_name: str) -> None:
    """Refuse a password that breaks the policy (see the module docstring).

    Raises:
        PasswordRejected: Which rule it breaks, in Chinese.
    """
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"密码至少{MIN_LENGTH}位")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"密码不能超过{MAX_LENGTH}位")
    if len(set(password)) < MIN_DISTINCT:
        raise PasswordRejected("密码过于简单：重复的字符太多")
    lowered = password.lower()
    login = login_id.strip().lower()
    names = {login, login.split("@")[0]}
    if any(len(name) >= 3 and name in lowered for name in names):
        raise PasswordRejected("密码不能包含账号")
    name = display_name.strip().lower()
    if len(name) >= 2 and name in lowered:
        raise PasswordRejected("密码不能包含姓名")
    if _is_common(password):
        raise PasswordRejected("该密码过于常见，容易被猜中，请换一个")


def generate_one_time_password() -> str:
    """A random one-time password such as ``Xk7p-Qm3r-T9wz`` (about 70 bits),
    which itself meets the policy."""
    while True:
        groups = [
            "".join(secrets.choice(OTP_ALPHABET) for _ in range(OTP_GROUP_LENGTH))
            for _ in range(OTP_GROUPS)
        ]
        password = "-".join(groups)
        if len(set(password)) >= MIN_DISTINCT and not _is_common(password):
            return password


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _live(session: Session, token: str, now: datetime) -> tuple[UserSession, User]:
    row = session.exec(_session_query(token)).first() if token else None
    if row is None or not session_is_live(row[0], row[1], now=now):
        raise AccessDenied(MSG_EXPIRED)
    return row[0], row[1]


def _check_new(user: User, new: str, confirm: str) -> None:
    if new != confirm:
        raise PasswordRejected("两次输入的新密码不一致")
    check_policy(new, login_id=user.login_id, display_name=user.display_name)


def _store(
    session: Session,
    *,
    user: User,
    user_session: UserSession,
    new: str,
    actor: Actor,
    action: str,
    now: datetime,
) -> int:
    """Save the new hash, end the account's other sessions, audit; commit."""
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = now
    session.add(user)
    ended = revoke_user_sessions(session, user.id, now=now, keep_id=user_session.id)
    record_event(
        session=session,
        actor=actor,
        action=action,
        target=f"user:{user.id}",
        detail={"sessions_ended": ended},
    )
    session.commit()
    return ended


def change_password(
    *,
    session: Session,
    token: str,
    current: str,
    new: str,
    confirm: str,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> int:
    """修改密码: the session's user replaces their password (argon2; commits).

    Args:
        session: Database session.
        token: The browser's session token (this session stays; the others end).
        current: The current password.
        new: The new password.
        confirm: The new password again.
        ip: Client address (failures are counted per address, as for logins).
        user_agent: Client browser, for the audit log.
        now: Current time (tests freeze it).

    Returns:
        How many other sessions were ended.

    Raises:
        AccessDenied: No live session, or it must use :func:`set_new_password`.
        PasswordRejected: A wrong current password, too many of them, or a new
            one that breaks the policy or equals the current one.
    """
    now = now or utcnow()
    user_session, user = _live(session, token, now)
    if user.must_change_password:
        raise AccessDenied("请先设置新密码")
    ip = ip[:64]
    failures = _failures(session, user.login_id, now)
    if (
        _throttled_until(session, ip, now) is not None
        or failures.locked_until(ip, now) is not None
    ):
        raise PasswordRejected(MSG_TOO_MANY)
    if not current:
        raise PasswordRejected("请输入当前密码")
    _check_new(user, new, confirm)
    actor = Actor(user.id, user.login_id, ip, user_agent)
    ok = _verify(user.password_hash, current)
    session.add(LoginAttempt(login_id=user.login_id, at=now, success=ok, ip=ip))
    if not ok:
        record_event(
            session=session,
            actor=actor,
            action="auth.password_change_failed",
            target=f"user:{user.id}",
        )
        session.commit()
        raise PasswordRejected("当前密码不正确")
    if new == current:
        session.commit()
        raise PasswordRejected("新密码不能与当前密码相同")
    return _store(
        session,
        user=user,
        user_session=user_session,
        new=new,
        actor=actor,
        action="auth.password_changed",
        now=now,
    )


def set_new_password(
    *,
    session: Session,
    token: str,
    new: str,
    confirm: str,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> CurrentUser:
    """设置新密码: the step after logging in with a one-time password (commits).

    Returns:
        The user, whose session now resolves (for the redirect to their home).

    Raises:
        AccessDenied: No live session, or it has no password to set.
        PasswordRejected: The new password breaks the policy or is the one-time
            password itself.
    """
    now = now or utcnow()
    user_session, user = _live(session, token, now)
    if not user.must_change_password:
        raise AccessDenied("当前账号无需设置新密码")
    _check_new(user, new, confirm)
    if _verify(user.password_hash, new):
        raise PasswordRejected("新密码不能与一次性密码相同")
    _store(
        session,
        user=user,
        user_session=user_session,
        new=new,
        actor=Actor(user.id, user.login_id, ip[:64], user_agent),
        action="auth.password_set",
        now=now,
    )
    return view_of(user, session.get(Clinic, user.clinic_id))
