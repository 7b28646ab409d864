"""What the login and session code share: limits, messages, the current user."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher

from his_portal.errors import HisError
from his_portal.models import Clinic, Role, User

MAX_FAILURES = 5
IP_MAX_FAILURES = 20
ACCOUNT_MAX_FAILURES = 100
LOCK_WINDOW = timedelta(minutes=15)
LOCK_MINUTES = int(LOCK_WINDOW.total_seconds() // 60)
SEEN_EVERY = timedelta(minutes=1)
MSG_BAD_CREDENTIALS = "账号或密码错误"
MSG_LOCKED = f"登录失败次数过多，账号已锁定，请{LOCK_MINUTES}分钟后再试"
MSG_THROTTLED = "登录尝试过于频繁，请稍后再试"
# The ``ip`` of the successful attempt an administrator's unlock records.
UNLOCK_MARK = "admin-unlock"

_hasher = PasswordHasher()
# Verified against when the login id is unknown, so that both paths cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AuthError(HisError):
    """A login that did not succeed; ``message`` is shown to the user as is.

    ``locked`` is set when further attempts are refused for a while (login id
    locked, or the client address throttled).
    """

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


@dataclass(frozen=True)
class CurrentUser:
    """What the UI may know about the logged-in user (no secrets)."""

    id: int
    login_id: str
    display_name: str
    role: str
    clinic_id: int
    clinic_name: str
    #: A manager who sees every 分院 of the chain.
    chain_wide: bool = False
    #: The session may do nothing but set a new password (after an administrator
    #: created the account or reset its password). Sessions in that state never
    #: resolve (:func:`~.sessions.resolve_session`), so only the login and the
    #: 设置新密码 step see it set.
    must_change_password: bool = False


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def view_of(user: User, clinic: Clinic | None) -> CurrentUser:
    """What the UI and the services may know of ``user`` (of ``clinic``)."""
    return CurrentUser(
        id=user.id,
        login_id=user.login_id,
        display_name=user.display_name,
        role=user.role,
        clinic_id=user.clinic_id,
        clinic_name=clinic.name if clinic else "",
        chain_wide=user.role == Role.MANAGER and user.chain_wide,
        must_change_password=user.must_change_password,
    )
