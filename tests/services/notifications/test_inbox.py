"""One person's notifications: own only, newest first, paged; marking read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import AuditEvent, MedicalRecord, Patient
from his_portal.services.notifications import (
    Kind,
    list_for,
    mark_all_read,
    mark_read,
    notify,
    unread_count,
)
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.notifications.notify_helpers import (
    DOCTOR,
    MANAGER,
    OTHER_DOCTOR,
    notes_of,
)


def _fill(session, user_id: int, count: int, sender_id=None, record_id=None) -> None:
    for n in range(count):
        notify(
            session,
            user_id=user_id,
            kind=Kind.BATCH if n % 2 else Kind.OVERDUE,
            title=f"通知{n}",
            body=f"内容{n}",
            record_id=record_id,
            sender_id=sender_id,
            now=NOW + timedelta(minutes=n),
        )
    session.commit()


def test_a_page_is_the_users_own_newest_first(demo):
    doctor, other = user_by_login(demo, DOCTOR), user_by_login(demo, OTHER_DOCTOR)
    _fill(demo, doctor.id, 12)
    _fill(demo, other.id, 3)
    first = list_for(demo, user=doctor, page=1, page_size=5, zone=ZONE)
    assert (first.total, first.pages, first.unread) == (12, 3, 12)
    assert [row.title for row in first.rows] == [f"通知{n}" for n in (11, 10, 9, 8, 7)]
    row = first.rows[0]
    assert (row.kind, row.kind_label, row.unread) == ("batch", "签署结果", True)
    assert row.created_at == "2026-11-25 16:41" and row.record_no == ""
    last = list_for(demo, user=doctor, page=3, page_size=5, zone=ZONE)
    assert [row.title for row in last.rows] == ["通知1", "通知0"]
    assert last.rows[1].kind_label == "超期未签"
    assert list_for(demo, user=doctor, page=9, page_size=5).rows == []
    assert unread_count(demo, user=other) == 3


def test_rows_name_the_record_and_the_sender(demo):
    doctor, manager = user_by_login(demo, DOCTOR), user_by_login(demo, MANAGER)
    record, record_no = demo.exec(
        select(MedicalRecord.id, Patient.record_no)
        .join(Patient, Patient.id == MedicalRecord.patient_id)
        .where(MedicalRecord.doctor_id == doctor.id)
    ).first()
    _fill(demo, doctor.id, 1, sender_id=manager.id, record_id=record)
    (row,) = list_for(demo, user=doctor).rows
    assert (row.record_no, row.sender_name) == (record_no, "陈静")


def test_bad_paging_is_refused(demo):
    doctor = user_by_login(demo, DOCTOR)
    for page, size in ((0, 10), (1, 0), ("1", 10), (1, 51), (True, 10)):
        with pytest.raises(InvalidInput):
            list_for(demo, user=doctor, page=page, page_size=size)


def test_mark_read_only_ones_own(demo):
    doctor, other = user_by_login(demo, DOCTOR), user_by_login(demo, OTHER_DOCTOR)
    _fill(demo, doctor.id, 2)
    _fill(demo, other.id, 1)
    (theirs,) = notes_of(demo, other.id)
    for target in (theirs.id, 999_999, str(theirs.id), None):
        with pytest.raises(AccessDenied, match="不属于当前账号"):
            mark_read(demo, user=doctor, notification_id=target)
    demo.expire_all()
    assert notes_of(demo, other.id)[0].read_at is None
    mine = notes_of(demo, doctor.id)[0]
    assert mark_read(demo, user=doctor, notification_id=mine.id, now=NOW)
    assert not mark_read(demo, user=doctor, notification_id=mine.id)  # already read
    assert unread_count(demo, user=doctor) == 1
    assert list_for(demo, user=doctor).rows[1].unread is False
    events = demo.exec(select(AuditEvent).where(AuditEvent.action == "notify.read"))
    assert [e.target for e in events] == [f"notification:{mine.id}"]


def test_mark_all_read_touches_only_ones_own(demo):
    doctor, other = user_by_login(demo, DOCTOR), user_by_login(demo, OTHER_DOCTOR)
    _fill(demo, doctor.id, 3)
    _fill(demo, other.id, 2)
    assert mark_all_read(demo, user=doctor, now=NOW) == 3
    assert mark_all_read(demo, user=doctor) == 0
    assert unread_count(demo, user=doctor) == 0
    assert unread_count(demo, user=other) == 2
    (event,) = demo.exec(
        select(AuditEvent).where(AuditEvent.action == "notify.read_all")
    )
    assert event.target == f"user:{doctor.id}" and '"count": 3' in event.detail
