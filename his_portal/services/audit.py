"""Append-only audit log with a hash chain.

Each entry's hash covers its own fields and the previous entry's hash, so an edited or
deleted entry breaks the chain there; :func:`verify_chain` finds the first break.
Appends bump the single ``AuditHead`` row first: that write takes the lock which
serialises concurrent appends on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from his_portal.models import AuditEvent, AuditHead, utcnow

__all__ = ["Actor", "ChainReport", "record_event", "verify_chain"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    user_id: int | None = None
    login_id: str = ""
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``first_broken_seq`` is None when intact."""

    checked: int
    first_broken_seq: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None


def _entry_hash(event: AuditEvent) -> str:
    payload = json.dumps(
        [
            event.seq,
            event.at.isoformat(),
            event.actor_id,
            event.actor_login,
            event.action,
            event.target,
            event.detail,
            event.ip,
            event.user_agent,
            event.prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is not None:
        return
    try:
        # Two first appends may race to create the row: the loser's insert fails
        # inside the savepoint, and it goes on with the winner's row.
        with session.begin_nested():
            session.add(AuditHead(id=1, seq=0, hash=GENESIS))
    except IntegrityError:
        pass


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
    """
    _ensure_head(session)
    table = AuditHead.__table__
    session.execute(table.update().where(table.c.id == 1).values(seq=table.c.seq + 1))
    head = session.get(AuditHead, 1, populate_existing=True)
    event = AuditEvent(
        seq=head.seq,
        at=utcnow(),
        actor_id=actor.user_id,
        actor_login=actor.login_id,
        action=action,
        target=target,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:255],
        prev_hash=head.hash or GENESIS,
        hash="",
    )
    event.hash = _entry_hash(event)
    head.hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def verify_chain(*, session: Session) -> ChainReport:
    """Walk the log in order and report the first entry that breaks the chain."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in session.exec(select(AuditEvent).order_by(AuditEvent.seq)):
        if event.seq != expected_seq:
            return ChainReport(checked, expected_seq, "entry missing")
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.seq, "previous hash does not match")
        if _entry_hash(event) != event.hash:
            return ChainReport(checked, event.seq, "entry was altered")
        expected_prev, expected_seq, checked = event.hash, event.seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is not None and head.seq != checked:
        return ChainReport(checked, checked + 1, "entries deleted at the end")
    return ChainReport(checked, None)
