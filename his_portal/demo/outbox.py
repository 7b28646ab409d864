"""The demo SMS outbox: what the demo gateway "sent" to one person, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from his_portal.models import SmsMessage
from his_portal.services.identity.idcard import mask_mobile

__all__ = ["OutboxMessage", "messages_for"]


@dataclass(frozen=True)
class OutboxMessage:
    at: str
    mobile: str
    body: str


def messages_for(
    session: Session, *, user_id: int, zone: ZoneInfo, limit: int = 50
) -> list[OutboxMessage]:
    """The person's own demo messages (never anyone else's), mobile masked."""
    rows = session.exec(
        select(SmsMessage)
        .where(SmsMessage.provider == "demo", SmsMessage.user_id == user_id)
        .order_by(col(SmsMessage.id).desc())
        .limit(limit)
    ).all()
    return [
        OutboxMessage(
            at=row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            mobile=mask_mobile(row.mobile),
            body=row.body,
        )
        for row in rows
    ]
