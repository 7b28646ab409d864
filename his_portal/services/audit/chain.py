"""The chain itself: the audit key, entry and head MACs, appending."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from his_portal.errors import HisError
from his_portal.models import AuditEvent, AuditHead, utcnow
from his_portal.services.pki import keyvault
from his_portal.settings import get_settings

if TYPE_CHECKING:
    pass


GENESIS = "0" * 64
#: The entry an append writes before its own when the head did not verify.
HEAD_INVALID_ACTION = "audit.head_invalid"


class AuditError(HisError):
    """The audit log cannot be written or anchored; ``message`` is Chinese."""


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    user_id: int | None = None
    login_id: str = ""
    ip: str = ""
    user_agent: str = ""


# --- the key ---------------------------------------------------------------------

_key_lock = threading.Lock()
_key: bytes | None = None


def configure(key: bytes | None) -> None:
    """Use ``key`` as this process's audit MAC key (tests, tools).

    Without a call, the key is derived once from the KEK file in the settings
    (``keyvault.mac_key(kek, "audit")``). ``None`` forgets a configured or cached
    key, so the next use loads it from the KEK again.
    """
    global _key
    if key is not None and (not isinstance(key, bytes) or len(key) < 16):
        raise ValueError("audit key must be at least 16 bytes")
    with _key_lock:
        _key = key


def _audit_key() -> bytes:
    global _key
    key = _key
    if key is not None:
        return key
    with _key_lock:
        if _key is None:
            # A failure is not cached: once `cli init` has created the KEK, the
            # next append succeeds.
            try:
                kek = keyvault.load_or_create_kek(get_settings().kek_file, create=False)
                _key = keyvault.mac_key(kek, "audit")
            except keyvault.KekError as exc:
                raise AuditError(
                    f"审计日志密钥不可用，拒绝写入未加密校验的审计记录：{exc.message}"
                ) from exc
        return _key


# --- MACs ------------------------------------------------------------------------


def _mac(key: bytes, payload: list[Any]) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # UTCDateTime returns aware values; be safe anyway
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _entry_mac(key: bytes, event: AuditEvent, seq: int | None = None) -> str:
    """The entry's MAC as written at ``seq`` (default: its stored seq)."""
    return _mac(
        key,
        [
            "entry",
            event.seq if seq is None else seq,
            _iso(event.at),
            event.actor_id,
            event.actor_login,
            event.action,
            event.target,
            event.detail,
            event.ip,
            event.user_agent,
            event.prev_hash,
        ],
    )


def _head_mac(key: bytes, seq: int, hash_: str) -> str:
    return _mac(key, ["head", seq, hash_])


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- appending -------------------------------------------------------------------


def _ensure_head(session: Session, key: bytes) -> None:
    if session.get(AuditHead, 1) is not None:
        return
    last = session.exec(
        select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    if last is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS, mac=_head_mac(key, 0, GENESIS))
    else:
        # Entries but no head: it was deleted. Continue after the newest entry with
        # an unverifiable head, so the next append records that (never re-MAC it).
        head = AuditHead(id=1, seq=last.seq, hash=last.hash, mac="")
    try:
        # Two first appends may race to create the row: the loser's insert fails
        # inside the savepoint, and it goes on with the winner's row.
        with session.begin_nested():
            session.add(head)
    except IntegrityError:
        pass


def _write(
    session: Session,
    head: AuditHead,
    key: bytes,
    *,
    actor: Actor,
    action: str,
    target: str,
    detail: dict[str, Any] | None,
) -> AuditEvent:
    event = AuditEvent(
        seq=head.seq,
        at=utcnow(),
        actor_id=actor.user_id,
        actor_login=actor.login_id[:64],
        action=action,
        target=target,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:255],
        prev_hash=head.hash or GENESIS,
        hash="",
    )
    event.hash = _entry_mac(key, event)
    head.hash = event.hash
    head.mac = _head_mac(key, head.seq, head.hash)
    session.add(event)
    session.add(head)
    session.flush()
    return event


def record_event(
    *,
    session: Session,
    actor: Actor,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (committed with the change it logs).

    Args:
        session: Open database session; the caller commits.
        actor: Who acted.
        action: Dotted event name, e.g. ``auth.login_failed``.
        target: What was acted on, e.g. ``record:42``.
        detail: JSON-serialisable facts about the event.

    Returns:
        The new, flushed event.

    Raises:
        AuditError: The audit key is unavailable (KEK missing); nothing is written.
    """
    key = _audit_key()
    _ensure_head(session, key)
    table = AuditHead.__table__
    # Taking the head's row lock first serialises appends; until commit, this
    # transaction owns the head.
    session.execute(table.update().where(table.c.id == 1).values(seq=table.c.seq + 1))
    head = session.get(AuditHead, 1, populate_existing=True)
    claimed_seq, claimed_hash = head.seq - 1, head.hash or GENESIS
    if not _same(head.mac, _head_mac(key, claimed_seq, claimed_hash)):
        # Do not extend (and so launder) a head nobody with the key wrote: record
        # what it claimed, continuing after the newest entry actually present.
        newest = session.exec(
            select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
        ).first()
        head.seq = newest.seq + 1 if newest else 1
        claimed = {
            "head_seq": claimed_seq,
            "head_hash": head.hash,
            "head_mac": head.mac,
            "newest_seq": newest.seq if newest else 0,
        }
        head.hash = newest.hash if newest else GENESIS
        _write(
            session,
            head,
            key,
            actor=Actor(login_id="system"),
            action=HEAD_INVALID_ACTION,
            target="audit:head",
            detail=claimed,
        )
        head.seq += 1
    return _write(
        session, head, key, actor=actor, action=action, target=target, detail=detail
    )
