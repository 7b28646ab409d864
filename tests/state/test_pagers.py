"""The pagers (上一页/下一页) of 医生工作 and of 签名监控's drill-down: pages reached by
keyset show the rows and numbers counted pages show; 签名监控 queries off the event
loop."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from his_portal import db, routes
from his_portal.models import SignStatus
from his_portal.pages.workbench import WorkbenchState
from his_portal.services import auth
from his_portal.services.records import queries as records
from his_portal.settings import clinic_zone
from his_portal.states import monitor_view
from tests.conftest import token_for
from tests.state.test_manage_state import loaded, run
from tests.state.test_states import make, spy_threads

pytestmark = pytest.mark.usefixtures("app_db")
MANAGER = "sh-manager@8112"


def _viewer(token: str):
    with db.session() as session:
        return auth.resolve_session(session=session, token=token)


def test_the_workbench_pager_walks_forth_and_back():
    token = token_for(MANAGER)
    state = make(WorkbenchState, token=token, path=routes.WORKBENCH)
    state.on_load()  # 待完善病历, today
    today = date.fromisoformat(state.date_to)
    state.set_date_from((today - timedelta(days=29)).isoformat())
    state.search()
    pages = state.pages
    assert pages >= 2 and state.page == 1
    viewer = _viewer(token)
    seen = {1: [row.id for row in state.rows]}
    for number in [*range(2, pages + 1), *range(pages - 1, 0, -1)]:
        state.go_page(number)
        assert (state.page, state.pages) == (number, pages)
        ids = [row.id for row in state.rows]
        assert ids == _counted_page(viewer, state, number)
        assert seen.setdefault(number, ids) == ids
    assert state.error == "" and set(state._starts) == set(range(2, pages + 1))
    assert state.go_page("2") is not None and state.page == 1


def _counted_page(viewer, state: WorkbenchState, number: int) -> list[int]:
    """Page ``number`` of 待完善病历 as OFFSET finds it."""
    filters = records.RecordFilter(
        date_from=date.fromisoformat(state.date_from),
        date_to=date.fromisoformat(state.date_to),
        sign_status=SignStatus.UNSIGNED,
        page=number,
    )
    with db.session() as session:
        page = records.list_records(
            session=session, viewer=viewer, filters=filters, zone=clinic_zone()
        )
    return [row.id for row in page.rows]


def test_the_drill_down_pager_walks_forth_and_back_off_the_event_loop(monkeypatch):
    state = loaded(MANAGER)
    run(state.set_quick("近30天"))
    counted_page = monitor_view.drill_page
    threads = spy_threads(monkeypatch, monitor_view, "drill_page")
    run(state.open_kind("total"))
    pages = state.drill_pages
    assert pages >= 2 and state.drill_page == 1
    viewer = _viewer(state.token)
    filters = state._filters()
    for number in [*range(2, pages + 1), *range(pages - 1, 0, -1)]:
        run(state.drill_go(number))
        assert (state.drill_page, state.drill_pages) == (number, pages)
        counted = counted_page(viewer, monitor_view.DrillAsk(filters, "total", number))
        assert [r.id for r in state.drill_rows] == [r.id for r in counted.rows]
    assert threads and threading.main_thread() not in threads
    assert set(state._drill_starts) == set(range(2, pages + 1))
