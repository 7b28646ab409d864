"""签名状态通知 handlers: own notifications only, refusals change nothing, the badge's
lookup writes nothing, ``?tab=`` opens a 个人中心 tab."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from his_portal import db, routes
from his_portal.models import Notification, User, UserSession
from his_portal.pages.profile import ProfileTabState
from his_portal.services.notifications import Kind, notify, notify_admins
from his_portal.state import AuthState
from his_portal.states import notifications as notification_state
from his_portal.states.notifications import NotificationState
from tests.conftest import token_for
from tests.state.test_states import make

pytestmark = pytest.mark.usefixtures("app_db")
DOCTOR, OTHER, ADMIN = "sh-feihuan@8112", "sh-wangli@8112", "sh-admin@8112"


def _user_id(login: str) -> int:
    with db.session() as session:
        return session.exec(select(User.id).where(User.login_id == login)).one()


def _plant(login: str, count: int = 1) -> list[int]:
    """``count`` fresh unread notifications for ``login``; their ids."""
    tag = uuid.uuid4().hex[:8]
    user_id = _user_id(login)
    with db.session() as session:
        for n in range(count):
            notify(session, user_id=user_id, kind=Kind.BATCH, title=f"{tag}-{n}")
        session.commit()
        return list(
            session.exec(
                select(Notification.id).where(Notification.title.startswith(tag))
            ).all()
        )


def _read_at(notification_id: int):
    with db.session() as session:
        return session.get(Notification, notification_id).read_at


def _state(login: str | None) -> NotificationState:
    token = token_for(login) if login else ""
    return make(NotificationState, token=token, path=routes.PROFILE)


def test_the_list_is_the_users_own_and_marks_read():
    mine, theirs = _plant(DOCTOR, 2), _plant(OTHER)
    state = _state(DOCTOR)
    assert state.on_load() is None
    shown = [row.id for row in state.rows]
    assert set(mine) <= set(shown) and theirs[0] not in shown
    assert state.unread >= 2 and state.badge_label == f"通知（{state.unread}条未读）"
    before = state.unread
    assert state.mark_read(mine[0]) is None
    assert _read_at(mine[0]) is not None and state.unread == before - 1
    state.mark_all_read()
    assert state.unread == 0 and state.badge_label == "通知（无未读）"
    assert _read_at(mine[1]) is not None and _read_at(theirs[0]) is None


def test_another_users_notification_is_refused_and_unchanged():
    (theirs,) = _plant(OTHER)
    state = _state(DOCTOR)
    state.on_load()
    assert state.mark_read(theirs) is not None  # the error toast
    assert _read_at(theirs) is None
    for bad in ("1", None, -1):
        state.mark_read(bad)
    assert _read_at(theirs) is None


def test_logged_out_calls_are_sent_to_the_guard_and_change_nothing():
    (theirs,) = _plant(DOCTOR)
    state = _state(None)
    assert state.on_load() == AuthState.guard
    assert state.mark_read(theirs) == AuthState.guard
    assert state.mark_all_read() == AuthState.guard
    assert state.go_page(2) == AuthState.guard
    assert state.rows == [] and state.unread == 0
    assert state.start_badge() is None and state.unread == 0
    assert _read_at(theirs) is None


def test_paging_refuses_bad_pages():
    _plant(DOCTOR, 11)
    state = _state(DOCTOR)
    state.on_load()
    assert state.pages >= 2 and len(state.rows) == 10
    assert state.go_page(2) is None and state.page == 2
    assert state.go_page(0) is not None and state.page == 2  # toast, page kept


def test_every_role_sees_its_own_kinds():
    with db.session() as session:
        notify_admins(session, kind=Kind.INTEGRITY, title="签名文件校验失败")
        session.commit()
    state = _state(ADMIN)
    state.on_load()
    assert (
        state.rows[0].kind == "integrity" and state.rows[0].kind_label == "完整性检查"
    )
    badge = _state(ADMIN)
    assert badge.start_badge() == NotificationState.watch_badge
    assert badge.unread == state.unread >= 1


def test_the_badge_poll_lookup_writes_nothing():
    """Polling is no activity: a session last seen 5 minutes ago stays so (a real
    event would bump it, as it does once a minute)."""
    _plant(DOCTOR)
    state = _state(DOCTOR)
    state.start_badge()
    idle_since = datetime.now(UTC) - timedelta(minutes=5)
    with db.session() as session:
        row = session.exec(
            select(UserSession).order_by(UserSession.id.desc()).limit(1)
        ).one()
        row.last_seen_at = idle_since
        session.add(row)
        session.commit()
        row_id = row.id
    assert notification_state._unread_for(state.token) == state.unread >= 1
    with Session(db.get_engine()) as session:
        assert session.get(UserSession, row_id).last_seen_at == idle_since
    assert notification_state._unread_for("") is None
    assert notification_state._unread_for("not-a-token") is None


@pytest.mark.parametrize(
    ("query", "tab"),
    [("tab=notify", "notify"), ("tab=cert", "cert"), ("tab=<x>", ""), ("", "")],
)
def test_a_query_parameter_opens_a_profile_tab(query, tab):
    state = make(ProfileTabState, path=routes.PROFILE, query=query)
    state.open_from_url()
    assert state.tab == tab
    state.set_tab("settings")
    state.set_tab("a" * 40)
    state.set_tab(["notify"])
    assert state.tab == "settings"


def test_each_notice_leads_where_it_is_about():
    row = notification_state.notices.NotificationRow
    base = dict(id=1, kind_label="", title="", body="", created_at="", unread=True)
    remind_one = row(kind="remind", record_no="P120111201801313", **base)
    remind_all = row(kind="remind", **base)
    expiring = row(kind="cert_expiring", record_no="P1", **base)
    views = [notification_state._view(r) for r in (remind_one, remind_all, expiring)]
    assert [(v.link_label, v.link) for v in views] == [
        ("查看病历", "/search?q=P120111201801313"),
        ("去签署", routes.WORKBENCH),
        ("查看证书", "/me?tab=cert"),
    ]
    # No record number in what the browser gets: a notice is not a record row.
    assert not hasattr(views[0], "record_no")
