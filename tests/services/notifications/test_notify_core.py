"""notify / notify_admins: in the caller's transaction, deduplicated by key."""

from __future__ import annotations

import pytest

from his_portal.models import Role, User
from his_portal.services.notifications import Kind, notify, notify_admins
from tests.conftest import NOW, user_by_login
from tests.services.notifications.notify_helpers import ADMIN, DOCTOR, notes_of


def test_notify_adds_in_the_callers_transaction(demo):
    doctor = user_by_login(demo, DOCTOR)
    assert notify(
        demo, user_id=doctor.id, kind=Kind.BATCH, title="t", body="b", now=NOW
    )
    demo.rollback()
    assert notes_of(demo, doctor.id) == []
    assert notify(demo, user_id=doctor.id, kind=Kind.BATCH, title="t", now=NOW)
    demo.commit()
    (note,) = notes_of(demo, doctor.id)
    assert (note.kind, note.title, note.read_at) == ("batch", "t", None)


def test_a_duplicate_key_returns_false_and_keeps_the_rest(demo):
    doctor = user_by_login(demo, DOCTOR)
    assert notify(demo, user_id=doctor.id, kind=Kind.OVERDUE, title="a", dedup_key="k")
    demo.commit()
    assert not notify(
        demo, user_id=doctor.id, kind=Kind.OVERDUE, title="b", dedup_key="k"
    )
    assert notify(demo, user_id=doctor.id, kind=Kind.OVERDUE, title="c", dedup_key="k2")
    demo.commit()
    assert [n.title for n in notes_of(demo, doctor.id)] == ["a", "c"]


def test_long_texts_are_cut_and_long_keys_refused(demo):
    doctor = user_by_login(demo, DOCTOR)
    notify(demo, user_id=doctor.id, kind=Kind.REMIND, title="题" * 300, body="文" * 900)
    demo.commit()
    (note,) = notes_of(demo, doctor.id)
    assert len(note.title) == 100 and len(note.body) == 500 and note.body[-1] == "…"
    with pytest.raises(ValueError):
        notify(
            demo, user_id=doctor.id, kind=Kind.REMIND, title="x", dedup_key="k" * 129
        )
    with pytest.raises(ValueError):
        notify(demo, user_id=doctor.id, kind="nonsense", title="x")


def test_notify_admins_reaches_every_active_admin_once(demo):
    admin = user_by_login(demo, ADMIN)
    second = User(
        login_id="admin-2",
        display_name="二号管理员",
        role=Role.ADMIN,
        clinic_id=admin.clinic_id,
        password_hash="x",
    )
    retired = User(
        login_id="admin-3",
        display_name="停用管理员",
        role=Role.ADMIN,
        clinic_id=admin.clinic_id,
        password_hash="x",
        is_active=False,
    )
    demo.add_all([second, retired])
    demo.commit()
    args = dict(kind=Kind.INTEGRITY, title="签名文件校验失败", dedup_key="integrity:1")
    assert notify_admins(demo, **args, now=NOW) == 2
    assert notify_admins(demo, **args, now=NOW) == 0
    demo.commit()
    assert [n.dedup_key for n in notes_of(demo, second.id)] == [
        f"integrity:1:{second.id}"
    ]
    assert len(notes_of(demo, admin.id)) == 1 and notes_of(demo, retired.id) == []
    assert notify_admins(demo, kind=Kind.INTEGRITY, title="again") == 2
