"""签名状态通知: what a notification is, and adding one in the caller's transaction.

Notifications are added by the actions themselves (a batch finishing, 实名认证
ending, a seal changing, a manager's 催签) and by the periodic job (records past
their deadline, certificates about to expire). A ``dedup_key`` makes a notice appear
once however often it is generated: the insert is ``INSERT … ON CONFLICT DO
NOTHING`` on the unique key, so a duplicate neither fails nor rolls back anything
else of the caller's transaction (on SQLite and PostgreSQL alike, with no savepoint:
pysqlite would commit an outermost savepoint on release).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from his_portal.models import Notification, Role, User, utcnow

__all__ = ["KIND_LABELS", "Kind", "notify", "notify_admins"]

TITLE_MAX = 100
BODY_MAX = 500
DEDUP_MAX = 128


class Kind(StrEnum):
    """What a notification is about (``Notification.kind``)."""

    OVERDUE = "overdue"
    BATCH = "batch"
    REMIND = "remind"
    CERT_EXPIRING = "cert_expiring"
    VERIFICATION_REVOKED = "verification_revoked"
    SEAL_CHANGED = "seal_changed"
    INTEGRITY = "integrity"


#: How each kind is named on its badge.
KIND_LABELS: dict[str, str] = {
    Kind.OVERDUE: "超期未签",
    Kind.BATCH: "签署结果",
    Kind.REMIND: "催签",
    Kind.CERT_EXPIRING: "证书到期",
    Kind.VERIFICATION_REVOKED: "实名认证解除",
    Kind.SEAL_CHANGED: "签章变更",
    Kind.INTEGRITY: "完整性检查",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _insert(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(Notification.__table__)


def notify(
    session: Session,
    *,
    user_id: int,
    kind: Kind,
    title: str,
    body: str = "",
    record_id: int | None = None,
    sender_id: int | None = None,
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Add one notification for ``user_id`` in the caller's transaction (not committed).

    Args:
        session: Open session; the caller commits (or rolls back) with its change.
        user_id: Who reads it.
        kind: What it is about.
        title: One line (cut to 100 characters).
        body: The details (cut to 500 characters).
        record_id: The medical record it is about, if one.
        sender_id: The person who caused it (a manager's 催签), if any.
        dedup_key: A key that makes this notice appear once; None: always added.
        now: The creation time (default: now).

    Returns:
        True if added, False if a notification with ``dedup_key`` already exists.

    Raises:
        ValueError: ``dedup_key`` longer than 128 characters (a programming error).
    """
    if dedup_key is not None and len(dedup_key) > DEDUP_MAX:
        raise ValueError("dedup_key longer than 128 characters")
    statement = (
        _insert(session)
        .values(
            user_id=user_id,
            kind=str(Kind(kind)),
            title=_clip(title, TITLE_MAX),
            body=_clip(body, BODY_MAX),
            record_id=record_id,
            sender_id=sender_id,
            created_at=now or utcnow(),
            dedup_key=dedup_key,
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(Notification.__table__.c.id)
    )
    # The returned id, not rowcount: psycopg reports -1 for INSERT … RETURNING.
    return session.execute(statement).first() is not None


def notify_admins(
    session: Session,
    *,
    kind: Kind,
    title: str,
    body: str = "",
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> int:
    """Notify every active administrator (the caller commits).

    Args:
        dedup_key: Made per administrator by suffixing ``:<admin id>``.

    Returns:
        How many notifications were added.
    """
    admins = session.exec(
        select(User.id)
        .where(User.role == Role.ADMIN, col(User.is_active).is_(True))
        .order_by(col(User.id))
    ).all()
    return sum(
        notify(
            session,
            user_id=admin_id,
            kind=kind,
            title=title,
            body=body,
            dedup_key=f"{dedup_key}:{admin_id}" if dedup_key else None,
            now=now,
        )
        for admin_id in admins
    )
