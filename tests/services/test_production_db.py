"""The services on the production database (PostgreSQL) and on a SQLite file,
with several connections at once as several workers would have."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, SQLModel, select

from his_portal.db import make_engine
from his_portal.demo.data import load_demo_data
from his_portal.models import AuditEvent
from his_portal.services import auth
from his_portal.services.audit import Actor, record_event, verify_chain
from his_portal.services.records import queries as records
from tests.conftest import NOW, PASSWORD, ZONE, user_by_login


@pytest.fixture(params=["postgresql", "sqlite-file"])
def engine_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'prod.db'}"


def _append(engine, worker: int) -> None:
    for index in range(10):
        with Session(engine) as session:
            record_event(
                session=session,
                actor=Actor(login_id=f"worker-{worker}"),
                action="test.concurrent",
                target=f"{worker}:{index}",
            )
            session.commit()


@pytest.mark.postgres
def test_concurrent_audit_appends_keep_one_unbroken_chain(engine_url):
    engine = make_engine(engine_url)
    SQLModel.metadata.create_all(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda w: _append(engine, w), range(4)))
    with Session(engine) as session:
        report = verify_chain(session=session)
        seqs = session.exec(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert report.ok and report.checked == 40 and seqs == list(range(1, 41))
    engine.dispose()


@pytest.mark.postgres
def test_login_and_record_queries_on_the_server(engine_url):
    engine = make_engine(engine_url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=NOW, records=40)
        token, user = auth.authenticate(
            session=session,
            login_id="sh-feihuan@8112",
            password=PASSWORD,
            session_hours=1,
            now=NOW,
        )
        assert auth.resolve_session(session=session, token=token, now=NOW) == user
        page = records.list_records(
            session=session,
            viewer=user_by_login(session, "sh-feihuan@8112"),
            filters=records.RecordFilter(date_from=NOW.date(), date_to=NOW.date()),
            zone=ZONE,
        )
        assert {"刘作榛", "郭少青"} <= {row.patient_name for row in page.rows}
        hits = records.search_patients(
            session=session,
            viewer=user_by_login(session, "sh-manager@8112"),
            text="GSQ",
        )
        assert [h.name for h in hits] == ["郭少青"]
    engine.dispose()
