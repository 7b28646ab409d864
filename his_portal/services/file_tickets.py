"""Single-use, short-lived links to private files (signed record PDFs).

A plain link cannot carry the browser's session token (it lives in local storage), so
the state, having checked who asks, issues a ticket: a random nonce in the URL's query.
The database keeps only ``HMAC(key, nonce)`` with ``key =
keyvault.mac_key(kek, "file-ticket")``, so a copy of the table opens nothing. A ticket
is bound to

* one exact path;
* the login session that asked for it: it is refused once that session is logged
  out, revoked, past its lifetime, idle for too long, or its user deactivated;
* a short life (``TTL``, 60 s: the browser uses it at once);
* one use: redeeming spends it by a conditional UPDATE (``used_at IS NULL``), and the
  rowcount says which of two concurrent redeems won.

A used or expired ticket stays refused; the session's dead tickets are deleted the
next time it asks for one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlmodel import Session, select

from his_portal.errors import AccessDenied
from his_portal.models import FileTicket, User, UserSession, utcnow
from his_portal.services import auth

__all__ = ["QUERY_KEY", "TTL", "issue", "redeem", "sweep"]

TTL = timedelta(seconds=60)
#: The query parameter that carries the nonce.
QUERY_KEY = "sig"
_NONCE_BYTES = 32
_NONCE_MAX_CHARS = 64


def _digest(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def issue(
    *,
    session: Session,
    token: str,
    path: str,
    key: bytes,
    now: datetime | None = None,
    ttl: timedelta = TTL,
) -> str:
    """A ticket for ``path``, bound to the login session behind ``token``.

    Args:
        session: Database session; this function commits.
        token: The browser's session token (the state's ``token``).
        path: The URL path the ticket opens, exactly as the server will see it.
        key: The file-ticket MAC key.
        now: Current time (tests freeze it).
        ttl: How long the ticket may wait for its one use.

    Returns:
        The URL's query part, e.g. ``sig=…``.

    Raises:
        PermissionError: ``token`` has no live login session.
    """
    now = now or utcnow()
    user_session = auth.live_session(session=session, token=token, now=now)
    if user_session is None:
        raise AccessDenied("登录已失效，请重新登录")
    table = FileTicket.__table__
    session.execute(
        table.delete().where(
            table.c.session_id == user_session.id, table.c.expires_at <= now
        )
    )
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    session.add(
        FileTicket(
            ticket_hash=_digest(key, nonce),
            session_id=user_session.id,
            path=path,
            expires_at=now + ttl,
        )
    )
    session.commit()
    return f"{QUERY_KEY}={nonce}"


def redeem(
    *,
    session: Session,
    path: str,
    query: Mapping[str, str],
    key: bytes,
    now: datetime | None = None,
) -> bool:
    """Spend the ticket in ``query`` on ``path``: True for its one valid use.

    Args:
        session: Database session; this function commits.
        path: The requested URL path.
        query: The request's query parameters.
        key: The file-ticket MAC key.
        now: Current time (tests freeze it).

    Returns:
        Whether the request may have the file. False for a missing or forged
        ticket, another path, an expired or used ticket, or a dead login session.
    """
    nonce = query.get(QUERY_KEY, "")
    if not nonce or len(nonce) > _NONCE_MAX_CHARS:
        return False
    now = now or utcnow()
    row = session.exec(
        select(FileTicket, UserSession, User)
        .join(UserSession, UserSession.id == FileTicket.session_id)
        .join(User, User.id == UserSession.user_id)
        .where(FileTicket.ticket_hash == _digest(key, nonce))
    ).first()
    if row is None:
        return False
    ticket, user_session, user = row
    if (
        ticket.path != path
        or ticket.used_at is not None
        or ticket.expires_at <= now
        or not auth.session_is_live(user_session, user, now=now)
    ):
        return False
    table = FileTicket.__table__
    won = (
        session.execute(
            table.update()
            .where(table.c.id == ticket.id, table.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        == 1
    )
    session.commit()
    return won


def sweep(*, session: Session, now: datetime | None = None) -> int:
    """Delete every expired ticket (also those of sessions that ended); commits.

    Returns:
        How many were deleted.
    """
    table = FileTicket.__table__
    query = table.delete().where(table.c.expires_at < (now or utcnow()))
    count = session.execute(query).rowcount
    session.commit()
    return count
