"""The attacks on the audit log that the plain-SHA-256 chain let through (edits,
deletions, reordering, insertion), each found by verify_chain and checked against
that old verifier."""

from __future__ import annotations

import json

from his_portal.models import AuditEvent, AuditHead
from his_portal.services import audit
from his_portal.services.audit import chain, verify, verify_chain
from tests.conftest import AUDIT_KEY
from tests.services.audit.audit_helpers import (
    event_at,
    events_in_order,
    log_events,
    plain_sha,
)

GENESIS = "0" * 64


def _forge(session, like_seq, **changes):
    """A new row copied from entry ``like_seq``, with its plain SHA as hash."""
    fields = event_at(session, like_seq).model_dump(exclude={"id"})
    forged = AuditEvent(**{**fields, **changes})
    forged.hash = plain_sha(forged)
    return forged


def _kinds(report):
    return {problem.kind for problem in report.problems}


# --- what an attacker with database write access (but no KEK) can do -------------


def _old_verify_says_intact(session) -> bool:
    """The old ``verify_chain``: plain SHA-256 links, and head.seq == entry count."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in events_in_order(session):
        if (
            event.seq != expected_seq
            or event.prev_hash != expected_prev
            or plain_sha(event) != event.hash
        ):
            return False
        expected_prev, expected_seq, checked = event.hash, event.seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    return head is None or head.seq == checked


def _rechain_plain(session, start=1):
    """Recompute the links from ``start`` on with plain SHA-256 and set the head to
    match. From 1, the log passes the old verifier; without the key, nothing
    better is possible."""
    prev, last = GENESIS, 0
    for event in events_in_order(session):
        if event.seq >= start:
            event.prev_hash = prev
            event.hash = plain_sha(event)
            session.add(event)
        prev, last = event.hash, event.seq
    head = session.get(AuditHead, 1)
    head.seq, head.hash = last, prev
    session.add(head)
    session.commit()


def _renumber(session, changes):
    """Give entries new seq values ({old: new}) despite the unique constraint."""
    for old in changes:
        event = event_at(session, old)
        event.seq = -old
        session.add(event)
    session.flush()
    for old, new in changes.items():
        event = event_at(session, -old)
        event.seq = new
        session.add(event)
    session.commit()


# --- edits ---------------------------------------------------------------------


def test_an_edited_entry_is_found(session):
    log_events(session, 4)
    event = event_at(session, 2)
    event.detail = '{"index": 99}'
    session.add(event)
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 2
    assert report.reason == "entry 2: MAC does not verify (entry edited or forged)"
    assert [p.kind for p in report.problems] == [verify.EDITED]


def test_an_edit_with_the_plain_hashes_recomputed_is_found(session):
    log_events(session, 5)
    event = event_at(session, 2)
    event.target = "record:forged"
    session.add(event)
    _rechain_plain(session, start=2)
    report = verify_chain(session=session)
    assert report.first_broken_seq == 2
    assert [p.message for p in report.problems] == [
        "entries 2-5: MAC does not verify (entries edited or forged)",
        "head MAC does not verify (head forged: it claims seq 5; newest entries "
        "may have been deleted)",
    ]
    _rechain_plain(session)  # the whole log, as the old verifier wants it
    assert _old_verify_says_intact(session)  # the old check was fooled
    report = verify_chain(session=session)
    assert report.first_broken_seq == 1
    assert (
        report.reason == "entries 1-5: MAC does not verify (entries edited or forged)"
    )


def test_an_edit_of_one_entry_with_only_its_own_hash_recomputed_is_found(session):
    log_events(session, 4)
    event = event_at(session, 2)
    event.target = "record:forged"
    event.hash = plain_sha(event)
    session.add(event)
    session.commit()
    messages = [p.message for p in verify_chain(session=session).problems]
    assert messages == ["entry 2: MAC does not verify (entry edited or forged)"]


def test_an_entry_replaced_by_a_genuine_one_from_elsewhere_breaks_the_link(session):
    log_events(session, 3)
    genuine = event_at(session, 2).model_dump(exclude={"id"})
    log_events(session, 1, start=10)
    event = event_at(session, 2)  # a valid entry 2 of another log with this key
    event.sqlmodel_update({**genuine, "prev_hash": "1" * 64})
    event.hash = chain._entry_mac(AUDIT_KEY, event)
    session.add(event)
    session.commit()
    assert [p.message for p in verify_chain(session=session).problems] == [
        "entry 2 does not link to entry 1 (the entry before it was replaced)",
        "entry 3 does not link to entry 2 (the entry before it was replaced)",
    ]


# --- deletions -----------------------------------------------------------------


def test_a_deleted_entry_is_found(session):
    log_events(session, 4)
    session.delete(event_at(session, 3))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 3
    assert report.reason == "entry 3 missing (deleted)"
    assert [p.kind for p in report.problems] == [verify.DELETED]


def test_deleting_the_newest_entries_without_touching_the_head_is_found(session):
    log_events(session, 4)
    session.delete(event_at(session, 4))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 4
    assert report.reason == (
        "entry 4 missing at the end (newest entry deleted; head is at seq 4)"
    )


def test_deleting_the_newest_entries_and_resetting_the_head_is_found(session):
    log_events(session, 6)
    for seq in (4, 5, 6):
        session.delete(event_at(session, seq))
    head = session.get(AuditHead, 1)
    head.seq, head.hash = 3, event_at(session, 3).hash
    session.add(head)
    session.commit()
    report = verify_chain(session=session)
    assert not report.ok
    assert report.first_broken_seq == 4
    assert [p.kind for p in report.problems] == [verify.HEAD_FORGED]
    assert report.reason == (
        "head MAC does not verify (head forged: it claims seq 3; newest entries "
        "may have been deleted)"
    )


def test_deleting_the_newest_entries_with_a_plain_hash_rewrite_is_found(session):
    # The attack that worked: truncate, make the head match, recompute plain SHA.
    log_events(session, 6)
    for seq in (5, 6):
        session.delete(event_at(session, seq))
    session.commit()
    _rechain_plain(session)
    assert _old_verify_says_intact(session)
    report = verify_chain(session=session)
    assert not report.ok
    assert verify.HEAD_FORGED in _kinds(report)


def test_an_append_does_not_launder_a_forged_head(session):
    log_events(session, 6)
    for seq in (5, 6):
        session.delete(event_at(session, seq))
    head = session.get(AuditHead, 1)
    head.seq, head.hash = 4, event_at(session, 4).hash
    session.add(head)
    session.commit()
    log_events(session, 2, start=10)  # the clinic goes on working
    events = events_in_order(session)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert events[4].action == audit.HEAD_INVALID_ACTION
    assert json.loads(events[4].detail)["head_seq"] == 4
    assert events[5].target == "record:10"
    report = verify_chain(session=session)
    # The chain and head verify again, but the recorded break stays reported.
    assert [p.kind for p in report.problems] == [verify.TRUNCATED]
    assert report.first_broken_seq == 5
    assert report.reason == (
        "entry 5 records that the head did not verify when it was appended (head "
        "claimed seq 4): newest entries may have been deleted before it"
    )


def test_a_deleted_head_row_is_found_and_appends_go_on(session):
    log_events(session, 3)
    session.delete(session.get(AuditHead, 1))
    session.commit()
    report = verify_chain(session=session)
    assert [p.kind for p in report.problems] == [verify.HEAD_MISSING]
    assert report.first_broken_seq == 4
    log_events(session, 1, start=10)
    events = events_in_order(session)
    assert [e.action for e in events[3:]] == [audit.HEAD_INVALID_ACTION, "test.event"]
    assert [p.kind for p in verify_chain(session=session).problems] == [
        verify.TRUNCATED
    ]


# --- reordering and insertion -----------------------------------------------------


def test_two_swapped_entries_are_reported_as_reordered(session):
    log_events(session, 4)
    _renumber(session, {2: 3, 3: 2})
    report = verify_chain(session=session)
    assert [p.kind for p in report.problems] == [verify.REORDERED, verify.REORDERED]
    assert [p.message for p in report.problems] == [
        "entry stored at seq 2 was written as seq 3 (entries reordered or renumbered)",
        "entry stored at seq 3 was written as seq 2 (entries reordered or renumbered)",
    ]


def test_swapped_entries_with_the_plain_hashes_recomputed_are_found(session):
    log_events(session, 4)
    _renumber(session, {2: 3, 3: 2})
    _rechain_plain(session, start=2)
    report = verify_chain(session=session)
    assert report.first_broken_seq == 2
    assert report.reason.startswith("entries 2-4: MAC does not verify")
    _rechain_plain(session)
    assert _old_verify_says_intact(session)
    report = verify_chain(session=session)
    assert not report.ok and report.first_broken_seq == 1


def test_an_inserted_entry_is_found(session):
    log_events(session, 4)
    _renumber(session, {4: 5, 3: 4})
    session.add(_forge(session, 2, seq=3, target="record:forged", action="x.y"))
    session.commit()
    _rechain_plain(session, start=3)
    report = verify_chain(session=session)
    assert report.first_broken_seq == 3
    assert report.reason == (
        "entries 3-5: MAC does not verify (entries edited or forged)"
    )
    _rechain_plain(session)
    assert _old_verify_says_intact(session)
    assert not verify_chain(session=session).ok


def test_an_inserted_entry_in_a_renumbered_log_is_pinpointed(session):
    log_events(session, 4)
    _renumber(session, {4: 5, 3: 4})
    prev = event_at(session, 2).hash
    session.add(_forge(session, 2, seq=3, target="record:forged", prev_hash=prev))
    head = session.get(AuditHead, 1)
    head.seq = 5
    session.add(head)
    session.commit()
    report = verify_chain(session=session)
    messages = [p.message for p in report.problems]
    assert messages[:3] == [
        "entry 3 was inserted (MAC does not verify; the entries after it were "
        "renumbered)",
        "entry stored at seq 4 was written as seq 3 (entries reordered or renumbered)",
        "entry stored at seq 5 was written as seq 4 (entries reordered or renumbered)",
    ]
    assert report.problems[0].kind == verify.INSERTED
    assert verify.HEAD_FORGED in _kinds(report)  # head.seq was bumped without a MAC


def test_an_entry_appended_behind_the_heads_back_is_found(session):
    log_events(session, 3)
    session.add(_forge(session, 3, seq=4, prev_hash=event_at(session, 3).hash))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 4
    assert [p.kind for p in report.problems] == [verify.EDITED, verify.INSERTED]
    assert report.problems[1].message == (
        "entry 4 is beyond the head at seq 3 (appended without the key, or the "
        "head was rolled back)"
    )
