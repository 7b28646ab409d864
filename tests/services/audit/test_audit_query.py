"""审计日志 for administrators: filters, keyset pages, CSV, the chain status."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import AuditEvent, MedicalRecord, Patient
from his_portal.services.audit import Actor, query, record_event
from tests.conftest import NOW, ZONE, user_by_login

ADMIN = "sh-admin@8112"


@pytest.fixture
def log(demo):
    """The demo log plus entries of our own, a day apart, about one record."""
    record = demo.exec(
        select(MedicalRecord)
        .join(Patient)
        .where(Patient.record_no == "P120111201801313")
    ).first()
    for n in range(7):
        event = record_event(
            session=demo,
            actor=Actor(login_id="sh-feihuan@8112", ip="10.0.0.8"),
            action="record.edited" if n % 2 else "record.signed",
            target=f"record:{record.id}",
            detail={"n": n, "note": '=HYPERLINK("x")' if n == 6 else "ok"},
        )
        event.at = NOW - timedelta(days=6 - n)
        demo.add(event)
    demo.commit()
    return demo


def search(session, before=None, limit=query.PAGE_SIZE, **filters):
    return query.search_events(
        session=session,
        viewer=user_by_login(session, ADMIN),
        filters=query.AuditFilter(**filters),
        zone=ZONE,
        before_seq=before,
        limit=limit,
    )


def test_filters_by_person_action_record_and_date(log):
    page = search(log, actor_login="sh-feihuan@8112", action="record.signed")
    assert len(page.rows) == 4 and page.rows[0].detail.startswith("n=6，")
    assert all(r.action_label == "病历签名" for r in page.rows)
    by_record_no = search(log, target="P120111201801313")
    assert len(by_record_no.rows) == 7
    by_text = search(log, target="record:")
    assert len(by_text.rows) >= 7
    day = (NOW - timedelta(days=2)).date()
    one_day = search(log, actor_login="sh-feihuan@8112", date_from=day, date_to=day)
    assert [r.detail.split("，")[0] for r in one_day.rows] == ["n=4"]
    with pytest.raises(InvalidInput):
        search(log, date_from=day, date_to=day - timedelta(days=1))


def test_keyset_pages_walk_the_whole_log_newest_first(log):
    everything = [
        e.seq for e in log.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    ]
    seen, before = [], None
    while True:
        page = search(log, before=before, limit=5)
        seen += [r.seq for r in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == everything


def test_csv_has_a_bom_and_no_formulas(log):
    data, count = query.export_csv(
        session=log,
        viewer=user_by_login(log, ADMIN),
        filters=query.AuditFilter(action="record.signed"),
        zone=ZONE,
    )
    assert data.startswith("\ufeff".encode()) and count == 4
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(query.CSV_COLUMNS) and len(rows) == 5
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert rows[1][3] == "病历签名" and rows[1][4] == "record.signed"


def test_only_administrators_read_the_log(log):
    for login in ("sh-feihuan@8112", "sh-manager@8112"):
        viewer = user_by_login(log, login)
        with pytest.raises(AccessDenied):
            query.search_events(
                session=log, viewer=viewer, filters=query.AuditFilter(), zone=ZONE
            )
        with pytest.raises(AccessDenied):
            query.export_csv(
                session=log, viewer=viewer, filters=query.AuditFilter(), zone=ZONE
            )
        with pytest.raises(AccessDenied):
            query.chain_status(
                session=log, viewer=viewer, zone=ZONE, system_trust=False
            )


def test_chain_status_names_the_first_broken_entry(demo):
    for n in range(6):
        record_event(session=demo, actor=Actor(login_id="ops"), action=f"ops.{n}")
    demo.commit()
    admin = user_by_login(demo, ADMIN)
    intact = query.chain_status(
        session=demo, viewer=admin, zone=ZONE, system_trust=False
    )
    assert intact.ok and intact.first_broken_seq is None and intact.entries >= 6
    victim = demo.exec(select(AuditEvent).order_by(AuditEvent.seq).offset(3)).first()
    demo.execute(
        sa.update(AuditEvent).where(AuditEvent.id == victim.id).values(ip="6.6.6.6")
    )
    demo.commit()
    broken = query.chain_status(
        session=demo, viewer=admin, zone=ZONE, system_trust=False
    )
    assert not broken.ok and broken.first_broken_seq == victim.seq
    assert str(victim.seq) in broken.message
