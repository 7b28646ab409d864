from sqlmodel import select

from his_portal.models import AuditEvent
from his_portal.services.audit import Actor, record_event, verify_chain


def _log(session, count):
    for index in range(count):
        record_event(
            session=session,
            actor=Actor(user_id=1, login_id="sh-feihuan@8112", ip="10.0.0.8"),
            action="test.event",
            target=f"record:{index}",
            detail={"index": index, "说明": "中文"},
        )
    session.commit()


def test_entries_chain_to_the_previous_hash(session):
    _log(session, 3)
    events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    report = verify_chain(session=session)
    assert report.ok and report.checked == 3


def test_an_edited_entry_is_found(session):
    _log(session, 4)
    event = session.exec(select(AuditEvent).where(AuditEvent.seq == 2)).one()
    event.detail = '{"index": 99}'
    session.add(event)
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 2
    assert report.reason == "entry was altered"


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link(session):
    _log(session, 4)
    event = session.exec(select(AuditEvent).where(AuditEvent.seq == 2)).one()
    event.target = "record:forged"
    event.hash = "f" * 64
    session.add(event)
    session.commit()
    assert verify_chain(session=session).first_broken_seq == 2


def test_a_deleted_entry_is_found(session):
    _log(session, 4)
    session.delete(session.exec(select(AuditEvent).where(AuditEvent.seq == 3)).one())
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 3 and report.reason == "entry missing"


def test_deleting_the_last_entries_is_found(session):
    _log(session, 4)
    session.delete(session.exec(select(AuditEvent).where(AuditEvent.seq == 4)).one())
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 4
    assert report.reason == "entries deleted at the end"
