"""One person's notifications: the unread count, a page of them, marking read.

Everyone reads only their own: every query is filtered by the asking user's id, and
marking another person's notification is refused without changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import MedicalRecord, Notification, Patient, User, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser, live_session
from his_portal.services.notifications.core import KIND_LABELS
from his_portal.services.paging import Page
from his_portal.settings import clinic_zone

__all__ = [
    "MAX_PAGE_SIZE",
    "Notice",
    "NotificationPage",
    "NotificationRow",
    "list_for",
    "mark_all_read",
    "mark_read",
    "unread_count",
    "unread_for_token",
]

MAX_PAGE_SIZE = 50
MSG_NOT_YOURS = "没有这条通知，或它不属于当前账号"


@dataclass(frozen=True)
class Notice:
    """What every view of a notification shows (times in the clinic's zone); no
    病历号, so a view built on it alone does not read as a medical record."""

    id: int
    kind: str
    kind_label: str
    title: str
    body: str
    created_at: str
    unread: bool


@dataclass(frozen=True)
class NotificationRow(Notice):
    """One notification, display-ready, with the record it is about."""

    #: 病历号 of the record it is about ("" if none).
    record_no: str = ""
    #: Who caused it (the manager of a 催签), "" for the system.
    sender_name: str = ""


@dataclass(frozen=True)
class NotificationPage(Page[NotificationRow]):
    """One page of the user's notifications, and how many of all are unread."""

    unread: int


def _mine(user: CurrentUser):
    return Notification.user_id == user.id


def unread_count(session: Session, *, user: CurrentUser) -> int:
    """How many of the user's notifications are unread."""
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(_mine(user), col(Notification.read_at).is_(None))
    ).one()


def unread_for_token(session: Session, *, token: str) -> int | None:
    """The unread count of the user behind a live login session, or None.

    Writes nothing (unlike ``resolve_session``, it does not count as activity), so
    a badge polling with it never keeps an idle session alive.
    """
    user_session = live_session(session=session, token=token)
    if user_session is None:
        return None
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user_session.user_id,
            col(Notification.read_at).is_(None),
        )
    ).one()


def _positive(value, label: str) -> int:
    if type(value) is not int or value < 1:
        raise InvalidInput(f"{label}应为正整数")
    return value


def list_for(
    session: Session,
    *,
    user: CurrentUser,
    page: int = 1,
    page_size: int = 10,
    zone: ZoneInfo | None = None,
) -> NotificationPage:
    """One page of the user's notifications, newest first.

    Raises:
        InvalidInput: ``page`` or ``page_size`` not a positive integer, or
            ``page_size`` above 50.
    """
    page, page_size = _positive(page, "页码"), _positive(page_size, "每页条数")
    if page_size > MAX_PAGE_SIZE:
        raise InvalidInput(f"每页最多{MAX_PAGE_SIZE}条")
    zone = zone or clinic_zone()
    total = session.exec(
        select(func.count()).select_from(Notification).where(_mine(user))
    ).one()
    sender = aliased(User)
    query = (
        select(Notification, Patient.record_no, sender.display_name)
        .outerjoin(MedicalRecord, MedicalRecord.id == Notification.record_id)
        .outerjoin(Patient, Patient.id == MedicalRecord.patient_id)
        .outerjoin(sender, sender.id == Notification.sender_id)
        .where(_mine(user))
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    rows = [
        NotificationRow(
            id=note.id,
            kind=note.kind,
            kind_label=KIND_LABELS.get(note.kind, note.kind),
            title=note.title,
            body=note.body,
            created_at=note.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            unread=note.read_at is None,
            record_no=record_no or "",
            sender_name=sender_name or "",
        )
        for note, record_no, sender_name in session.exec(query)
    ]
    return NotificationPage(
        rows, total, page, page_size, unread_count(session, user=user)
    )


def _actor(user: CurrentUser, actor: Actor | None) -> Actor:
    return actor or Actor(user.id, user.login_id)


def mark_read(
    session: Session,
    *,
    user: CurrentUser,
    notification_id: int,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> bool:
    """标为已读 one of the user's own notifications (commits).

    Returns:
        True if it was unread until now, False if it was read already.

    Raises:
        AccessDenied: No such notification, or another person's; nothing changed.
    """
    if type(notification_id) is not int:
        raise AccessDenied(MSG_NOT_YOURS)
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise AccessDenied(MSG_NOT_YOURS)
    if note.read_at is not None:
        return False
    note.read_at = now or utcnow()
    session.add(note)
    record_event(
        session=session,
        actor=_actor(user, actor),
        action="notify.read",
        target=f"notification:{note.id}",
    )
    session.commit()
    return True


def mark_all_read(
    session: Session,
    *,
    user: CurrentUser,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> int:
    """全部标为已读: every unread notification of the user's (commits).

    Returns:
        How many were marked.
    """
    marked = session.execute(
        sa.update(Notification)
        .where(_mine(user), col(Notification.read_at).is_(None))
        .values(read_at=now or utcnow())
    ).rowcount
    if marked:
        record_event(
            session=session,
            actor=_actor(user, actor),
            action="notify.read_all",
            target=f"user:{user.id}",
            detail={"count": marked},
        )
    session.commit()
    return marked
