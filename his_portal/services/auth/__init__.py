"""Passwords, login sessions, account lockout and per-address throttling.

The browser holds a random session token; the server keeps only its SHA-256 in
``UserSession``. A session ends at its absolute ``expires_at``, on logout, or after
``idle_minutes`` (settings) without activity. Activity is ``last_seen_at``, bumped by a
conditional UPDATE at most once every ``SEEN_EVERY`` (one minute) rather than on every
event, so a session may end up to a minute before it has been idle for the full limit.
A session that went idle is ended like a logout (``revoked_at``), audited once as
``auth.session_idle_expired``.

Failed passwords are limited three ways. Each counts failures over a sliding
``LOCK_WINDOW`` (15 minutes) and refuses for ``LOCK_WINDOW`` after the failure that
reached its limit:

* ``MAX_FAILURES`` (5) for one login id from one client address (``MSG_LOCKED``): a
  guesser locks only their own address out, never the real user at another one. A
  successful login from that address clears it.
* ``IP_MAX_FAILURES`` (20) from one address, whatever the login ids
  (``MSG_THROTTLED``). It is checked before anything else, argon2 included, and a
  refused attempt writes nothing, so a flood from one address costs no hashing and no
  writes. Behind one NAT address a whole clinic shares this budget.
* ``ACCOUNT_MAX_FAILURES`` (100) for one login id from all addresses together
  (``MSG_LOCKED``): a ceiling against guessing spread over many addresses. It locks
  the account for everyone, the price of bounding such guessing to 100 tries per
  half hour; successful logins do not clear it.

An administrator's unlock clears both per-login-id counters. Every failure gives the
same message whether the login id exists or not.

Passwords (:mod:`.passwords`): the policy, one-time passwords for new and reset
accounts, and 修改密码 / 设置新密码. A session whose account still has a one-time
password resolves to nobody until the new password is set.
"""

from his_portal.services.auth.admin import (
    AccountFilter,
    AccountPage,
    AccountRow,
    list_accounts,
    search_accounts,
    unlock_account,
)
from his_portal.services.auth.core import (
    ACCOUNT_MAX_FAILURES,
    IP_MAX_FAILURES,
    LOCK_WINDOW,
    MAX_FAILURES,
    MSG_LOCKED,
    SEEN_EVERY,
    AuthError,
    CurrentUser,
    hash_password,
    view_of,
)
from his_portal.services.auth.login import authenticate
from his_portal.services.auth.sessions import (
    live_session,
    logout,
    pending_password_change,
    resolve_session,
    revoke_user_sessions,
    session_is_live,
)

__all__ = [
    "ACCOUNT_MAX_FAILURES",
    "IP_MAX_FAILURES",
    "LOCK_WINDOW",
    "MAX_FAILURES",
    "MSG_LOCKED",
    "SEEN_EVERY",
    "AccountFilter",
    "AccountPage",
    "AccountRow",
    "AuthError",
    "CurrentUser",
    "authenticate",
    "hash_password",
    "list_accounts",
    "live_session",
    "logout",
    "pending_password_change",
    "resolve_session",
    "revoke_user_sessions",
    "search_accounts",
    "session_is_live",
    "unlock_account",
    "view_of",
]
