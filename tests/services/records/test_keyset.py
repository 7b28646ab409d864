"""Keyset pages (下一页 after the previous page's last row) are exactly the pages a
plain ORDER BY … OFFSET gives, over many equal timestamps, on SQLite and
PostgreSQL: the workbench list and the 签名监控 drill-down."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlmodel import col, select

from his_portal.errors import InvalidInput
from his_portal.models import LockStatus, MedicalRecord, SignStatus
from his_portal.services.records import dashboard_records as behind
from his_portal.services.records import queries as records
from tests.conftest import ZONE
from tests.services.records.conftest import TODAY, Chain, window_of

SIZE = 7


@pytest.fixture
def tied(chain) -> Chain:
    """The dashboard tests' chain plus 90 records at three equal moments."""
    doctor = chain.users["a-doc1"]
    patient = chain.records[0].patient_id
    moments = [
        datetime.combine(TODAY - timedelta(days=days), time(10, 30), tzinfo=ZONE)
        for days in (0, 3, 9)
    ]
    for index in range(90):
        record = MedicalRecord(
            patient_id=patient,
            doctor_id=doctor.id,
            clinic_id=doctor.clinic_id,
            visit_item="检查",
            title="口腔检查",
            created_at=moments[index % 3],
            sign_status=SignStatus.UNSIGNED,
            lock_status=LockStatus.OPEN,
        )
        chain.session.add(record)
        chain.records.append(record)
    chain.session.commit()
    return chain


def _walk(fetch) -> list[list[int]]:
    """Every page's ids, each page fetched after the one before it."""
    pages, after, number = [], None, 1
    while True:
        page = fetch(number, after)
        pages.append([row.id for row in page.rows])
        if page.next_after is None:
            return pages
        after, number = page.next_after, number + 1


def _workbench_pages(chain: Chain, login: str, oldest_first: bool = False):
    """The workbench's last 30 days for ``login``, as fetch(page number, cursor)."""
    viewer = chain.viewer(login)

    def fetch(number, after):
        filters = records.RecordFilter(
            date_from=TODAY - timedelta(days=29),
            date_to=TODAY,
            page=number,
            page_size=SIZE,
            oldest_first=oldest_first,
            after=after,
        )
        return records.list_records(
            session=chain.session, viewer=viewer, filters=filters, zone=ZONE
        )

    return fetch


def _by_offset(fetch, count: int) -> list[list[int]]:
    """Pages 1 to ``count`` without a cursor (OFFSET)."""
    return [
        [row.id for row in fetch(number, None).rows] for number in range(1, count + 1)
    ]


def _in_order(session, conditions, oldest_first=False) -> list[int]:
    R = MedicalRecord
    order = (
        (col(R.created_at).asc(), col(R.id).asc())
        if oldest_first
        else (col(R.created_at).desc(), col(R.id).desc())
    )
    return list(session.exec(select(R.id).where(*conditions).order_by(*order)).all())


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize("login", ["a-doc1", "chain"])
def test_workbench_keyset_pages_equal_offset_pages(tied, login, oldest_first):
    fetch = _workbench_pages(tied, login, oldest_first)
    by_keyset = _walk(fetch)
    by_offset = _by_offset(fetch, len(by_keyset))
    assert by_keyset == by_offset
    flat = [record_id for page in by_keyset for record_id in page]
    start = datetime.combine(TODAY - timedelta(days=29), time.min, tzinfo=ZONE)
    scope = [MedicalRecord.created_at >= start]
    if login == "a-doc1":
        scope.append(MedicalRecord.doctor_id == tied.users[login].id)
    assert flat == _in_order(tied.session, scope, oldest_first)
    assert len(flat) > 90 and fetch(1, None).pages == len(by_keyset)


@pytest.mark.parametrize("kind", ["total", "pending", "overdue"])
def test_drill_down_keyset_pages_equal_offset_pages(tied, kind):
    w = window_of(tied)

    def fetch(number, after):
        return behind.drill(
            session=tied.session,
            w=w,
            kind=kind,
            page=number,
            page_size=SIZE,
            after=after,
        )

    by_keyset = _walk(fetch)
    assert by_keyset == _by_offset(fetch, len(by_keyset))
    assert sum(map(len, by_keyset)) == fetch(1, None).total
    assert len(by_keyset) == fetch(1, None).pages > 1


def test_a_page_past_the_end_is_the_last_page_whatever_cursor_it_carries(tied):
    """Rows signed since the pager saved its cursors: page 99 with page 2's cursor
    is read as the last page, not as an empty page after that cursor."""
    fetch = _workbench_pages(tied, "chain")
    first = fetch(1, None)
    last = fetch(first.pages, None)
    clamped = fetch(99, first.next_after)
    assert clamped.rows and [r.id for r in clamped.rows] == [r.id for r in last.rows]


def test_a_cursor_that_is_not_one_is_refused(sqlite_chain):
    filters = records.RecordFilter(
        date_from=TODAY, date_to=TODAY, page=2, after=("2026-01-01", 1)
    )
    with pytest.raises(InvalidInput):
        records.list_records(
            session=sqlite_chain.session,
            viewer=sqlite_chain.viewer("a-doc1"),
            filters=filters,
            zone=ZONE,
        )
