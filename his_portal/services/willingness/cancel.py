"""Ending a doctor's open confirmations when their 实名认证 ends."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from his_portal.models import Confirmation, utcnow
from his_portal.services.audit import Actor
from his_portal.services.willingness.core import _T, audit

__all__ = ["cancel_open"]


def cancel_open(
    session: Session,
    *,
    user_id: int,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> int:
    """Cancel the doctor's pending and confirmed-unused confirmations (实名认证
    ended). Joins the caller's transaction: does not commit.

    Returns:
        How many were cancelled.
    """
    query = (
        Confirmation.__table__.update()
        .where(
            _T.user_id == user_id,
            _T.status.in_(("pending", "confirmed")),
            _T.used_at.is_(None),
        )
        .values(status="cancelled", code_hash="", qr_token_hash="")
    )
    count = session.execute(query).rowcount
    if count:
        at = (now or utcnow()).isoformat()
        actor = actor or Actor(user_id=user_id)
        target = f"user:{user_id}"
        audit(session, actor, "willingness.cancelled", target, count=count, at=at)
    return count
