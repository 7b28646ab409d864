"""Writing and reading audit entries in the audit tests."""

from __future__ import annotations

import hashlib
import json

from sqlmodel import select

from his_portal.models import AuditEvent
from his_portal.services.audit import Actor, record_event


def log_events(session, count, start=0):
    for index in range(start, start + count):
        record_event(
            session=session,
            actor=Actor(user_id=1, login_id="sh-feihuan@8112", ip="10.0.0.8"),
            action="test.event",
            target=f"record:{index}",
            detail={"index": index, "说明": "中文"},
        )
    session.commit()


def events_in_order(session):
    return session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()


def event_at(session, seq):
    return session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).one()


def plain_sha(event):
    """The old scheme's entry hash: public, so anyone could recompute it (here: every
    column but the id and the hash itself, as JSON)."""
    fields = event.model_dump(mode="json", exclude={"id", "hash"})
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
