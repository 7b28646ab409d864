"""The audit log: keyed MAC chain, MAC'd head, RFC 3161 anchors, and the attacks
that the plain-SHA-256 chain let through (each checked against that old verifier)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from his_portal.adapters.tsa_client import RESPONSE_CONTENT_TYPE, HttpTimestampSource
from his_portal.models import AuditAnchor, AuditEvent, AuditHead
from his_portal.services import audit
from his_portal.services.audit import (
    Actor,
    AuditError,
    anchor_head,
    chain,
    clinic_tsa,
    record_event,
    verify,
    verify_chain,
)
from his_portal.services.pki import authority as pki
from his_portal.services.pki.keyvault import mac_key
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.settings import Settings
from tests.conftest import AUDIT_KEY, NOW
from tests.fake_server import FakeHandler, serve
from tests.services.identity.identity_helpers import KEK

GENESIS = "0" * 64


def _log(session, count, start=0):
    for index in range(start, start + count):
        record_event(
            session=session,
            actor=Actor(user_id=1, login_id="sh-feihuan@8112", ip="10.0.0.8"),
            action="test.event",
            target=f"record:{index}",
            detail={"index": index, "说明": "中文"},
        )
    session.commit()


def _events(session):
    return session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()


def _event(session, seq):
    return session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).one()


def _forge(session, like_seq, **changes):
    """A new row copied from entry ``like_seq``, with its plain SHA as hash."""
    fields = _event(session, like_seq).model_dump(exclude={"id"})
    forged = AuditEvent(**{**fields, **changes})
    forged.hash = _plain_sha(forged)
    return forged


def _kinds(report):
    return {problem.kind for problem in report.problems}


# --- what an attacker with database write access (but no KEK) can do -------------


def _plain_sha(event):
    """The old scheme's entry hash: public, so anyone could recompute it."""
    payload = json.dumps(
        [
            event.seq,
            event.at.isoformat(),
            event.actor_id,
            event.actor_login,
            event.action,
            event.target,
            event.detail,
            event.ip,
            event.user_agent,
            event.prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _old_verify_says_intact(session) -> bool:
    """The old ``verify_chain``: plain SHA-256 links, and head.seq == entry count."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in _events(session):
        if (
            event.seq != expected_seq
            or event.prev_hash != expected_prev
            or _plain_sha(event) != event.hash
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
    for event in _events(session):
        if event.seq >= start:
            event.prev_hash = prev
            event.hash = _plain_sha(event)
            session.add(event)
        prev, last = event.hash, event.seq
    head = session.get(AuditHead, 1)
    head.seq, head.hash = last, prev
    session.add(head)
    session.commit()


def _renumber(session, changes):
    """Give entries new seq values ({old: new}) despite the unique constraint."""
    for old in changes:
        event = _event(session, old)
        event.seq = -old
        session.add(event)
    session.flush()
    for old, new in changes.items():
        event = _event(session, -old)
        event.seq = new
        session.add(event)
    session.commit()


# --- the scheme --------------------------------------------------------------------


def test_entries_are_chained_with_a_keyed_mac(session):
    _log(session, 3)
    events = _events(session)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    # Not the public SHA-256 of the entry: an HMAC under the audit key.
    assert all(event.hash != _plain_sha(event) for event in events)
    report = verify_chain(session=session)
    assert report.ok and report.checked == 3 and report.problems == ()
    assert report.first_broken_seq is None and report.head_seq == 3
    # Another key (another KEK) verifies nothing: the entries and the head.
    other = verify_chain(session=session, key=mac_key(bytes(32), "audit"))
    assert not other.ok
    assert "entries 1-3: MAC does not verify" in other.problems[0].message
    assert verify.HEAD_FORGED in _kinds(other)


def test_the_head_carries_a_mac_over_seq_and_hash(session):
    _log(session, 2)
    head = session.get(AuditHead, 1)
    newest = _event(session, 2)
    assert (head.seq, head.hash) == (2, newest.hash)
    payload = json.dumps(["head", 2, newest.hash], separators=(",", ":"))
    expected = hmac.new(AUDIT_KEY, payload.encode(), hashlib.sha256).hexdigest()
    assert head.mac == expected


@pytest.fixture
def unconfigured(monkeypatch, tmp_path):
    """No configured key: the module loads the KEK named by the settings."""
    settings = Settings.from_env({"HIS_DATA_DIR": str(tmp_path)})
    monkeypatch.setattr(chain, "get_settings", lambda: settings)
    audit.configure(None)
    yield settings
    audit.configure(AUDIT_KEY)


def test_without_a_kek_nothing_is_written_and_the_error_says_why(session, unconfigured):
    with pytest.raises(AuditError) as raised:
        record_event(session=session, actor=Actor(login_id="x"), action="test.event")
    assert "审计日志密钥不可用" in raised.value.message
    assert "密钥加密密钥文件不存在" in raised.value.message
    session.rollback()
    assert session.exec(select(AuditEvent)).all() == []
    assert session.get(AuditHead, 1) is None
    with pytest.raises(AuditError):
        verify_chain(session=session)
    # Once the KEK exists (cli init), the key is derived from it.
    unconfigured.kek_file.parent.mkdir(parents=True)
    unconfigured.kek_file.write_bytes(KEK)
    _log(session, 2)
    assert verify_chain(session=session, key=mac_key(KEK, "audit")).ok
    assert not verify_chain(session=session, key=mac_key(bytes(32), "audit")).ok


def test_the_default_key_is_loaded_once_per_process(monkeypatch, unconfigured):
    unconfigured.kek_file.parent.mkdir(parents=True)
    unconfigured.kek_file.write_bytes(KEK)
    loads = []
    real = chain.keyvault.load_or_create_kek
    barrier = threading.Barrier(8)

    def counting(path, *, create):
        loads.append(path)
        return real(path, create=create)

    def key(_):
        barrier.wait()
        return chain._audit_key()

    monkeypatch.setattr(chain.keyvault, "load_or_create_kek", counting)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(key, range(8)))
    assert keys == {mac_key(KEK, "audit")}
    assert loads == [unconfigured.kek_file]


# --- edits ---------------------------------------------------------------------


def test_an_edited_entry_is_found(session):
    _log(session, 4)
    event = _event(session, 2)
    event.detail = '{"index": 99}'
    session.add(event)
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 2
    assert report.reason == "entry 2: MAC does not verify (entry edited or forged)"
    assert [p.kind for p in report.problems] == [verify.EDITED]


def test_an_edit_with_the_plain_hashes_recomputed_is_found(session):
    _log(session, 5)
    event = _event(session, 2)
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
    _log(session, 4)
    event = _event(session, 2)
    event.target = "record:forged"
    event.hash = _plain_sha(event)
    session.add(event)
    session.commit()
    messages = [p.message for p in verify_chain(session=session).problems]
    assert messages == ["entry 2: MAC does not verify (entry edited or forged)"]


def test_an_entry_replaced_by_a_genuine_one_from_elsewhere_breaks_the_link(session):
    _log(session, 3)
    genuine = _event(session, 2).model_dump(exclude={"id"})
    _log(session, 1, start=10)
    event = _event(session, 2)  # a valid entry 2 of another log with this key
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
    _log(session, 4)
    session.delete(_event(session, 3))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 3
    assert report.reason == "entry 3 missing (deleted)"
    assert [p.kind for p in report.problems] == [verify.DELETED]


def test_deleting_the_newest_entries_without_touching_the_head_is_found(session):
    _log(session, 4)
    session.delete(_event(session, 4))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 4
    assert report.reason == (
        "entry 4 missing at the end (newest entry deleted; head is at seq 4)"
    )


def test_deleting_the_newest_entries_and_resetting_the_head_is_found(session):
    _log(session, 6)
    for seq in (4, 5, 6):
        session.delete(_event(session, seq))
    head = session.get(AuditHead, 1)
    head.seq, head.hash = 3, _event(session, 3).hash
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
    _log(session, 6)
    for seq in (5, 6):
        session.delete(_event(session, seq))
    session.commit()
    _rechain_plain(session)
    assert _old_verify_says_intact(session)
    report = verify_chain(session=session)
    assert not report.ok
    assert verify.HEAD_FORGED in _kinds(report)


def test_an_append_does_not_launder_a_forged_head(session):
    _log(session, 6)
    for seq in (5, 6):
        session.delete(_event(session, seq))
    head = session.get(AuditHead, 1)
    head.seq, head.hash = 4, _event(session, 4).hash
    session.add(head)
    session.commit()
    _log(session, 2, start=10)  # the clinic goes on working
    events = _events(session)
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
    _log(session, 3)
    session.delete(session.get(AuditHead, 1))
    session.commit()
    report = verify_chain(session=session)
    assert [p.kind for p in report.problems] == [verify.HEAD_MISSING]
    assert report.first_broken_seq == 4
    _log(session, 1, start=10)
    events = _events(session)
    assert [e.action for e in events[3:]] == [audit.HEAD_INVALID_ACTION, "test.event"]
    assert [p.kind for p in verify_chain(session=session).problems] == [
        verify.TRUNCATED
    ]


# --- reordering and insertion -----------------------------------------------------


def test_two_swapped_entries_are_reported_as_reordered(session):
    _log(session, 4)
    _renumber(session, {2: 3, 3: 2})
    report = verify_chain(session=session)
    assert [p.kind for p in report.problems] == [verify.REORDERED, verify.REORDERED]
    assert [p.message for p in report.problems] == [
        "entry stored at seq 2 was written as seq 3 (entries reordered or renumbered)",
        "entry stored at seq 3 was written as seq 2 (entries reordered or renumbered)",
    ]


def test_swapped_entries_with_the_plain_hashes_recomputed_are_found(session):
    _log(session, 4)
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
    _log(session, 4)
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
    _log(session, 4)
    _renumber(session, {4: 5, 3: 4})
    prev = _event(session, 2).hash
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
    _log(session, 3)
    session.add(_forge(session, 3, seq=4, prev_hash=_event(session, 3).hash))
    session.commit()
    report = verify_chain(session=session)
    assert report.first_broken_seq == 4
    assert [p.kind for p in report.problems] == [verify.EDITED, verify.INSERTED]
    assert report.problems[1].message == (
        "entry 4 is beyond the head at seq 3 (appended without the key, or the "
        "head was rolled back)"
    )


# --- anchors --------------------------------------------------------------------


class CountingTsa:
    """The clinic TSA, counting calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def timestamp(self, request_der):
        self.calls += 1
        return self.inner.timestamp(request_der)


@pytest.fixture
def tsa(clinic):
    return CountingTsa(clinic_tsa(clinic, KEK))


def test_an_anchor_timestamps_the_head_and_is_skipped_when_nothing_moved(clinic, tsa):
    assert anchor_head(session=clinic, tsa=tsa) is None  # empty log
    _log(clinic, 3)
    anchor = anchor_head(session=clinic, tsa=tsa, now=NOW)
    clinic.commit()
    head = clinic.get(AuditHead, 1)
    assert (anchor.seq, anchor.hash, anchor.at) == (3, head.hash, NOW)
    assert tsa.calls == 1
    assert anchor_head(session=clinic, tsa=tsa) is None
    assert tsa.calls == 1  # no TSA round trip when the head did not move
    _log(clinic, 2, start=3)
    assert anchor_head(session=clinic, tsa=tsa).seq == 5
    clinic.commit()
    report = verify_chain(session=clinic)
    assert report.ok, report.problems
    assert (report.anchors, report.latest_anchor_seq) == (2, 5)
    assert abs(report.latest_anchor_time - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_anchor_token_is_an_rfc3161_token_over_the_head_mac(clinic, tsa):
    from asn1crypto import cms

    _log(clinic, 2)
    anchor = anchor_head(session=clinic, tsa=tsa)
    head = clinic.get(AuditHead, 1)
    token = cms.ContentInfo.load(base64.b64decode(anchor.token))
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    imprint = tst_info["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == "sha256"
    expected = hashlib.sha256(f"2|{head.hash}|{head.mac}".encode()).digest()
    assert imprint["hashed_message"].native == expected


def test_rolling_the_log_and_head_back_behind_an_anchor_is_found(clinic, tsa):
    _log(clinic, 3)
    saved_head = clinic.get(AuditHead, 1).model_dump()
    _log(clinic, 3, start=3)
    anchor = anchor_head(session=clinic, tsa=tsa)
    clinic.commit()
    # Restore the audit table and head from the copy taken at seq 3.
    for seq in (4, 5, 6):
        clinic.delete(_event(clinic, seq))
    head = clinic.get(AuditHead, 1)
    head.seq, head.hash, head.mac = (
        saved_head["seq"],
        saved_head["hash"],
        saved_head["mac"],
    )
    clinic.add(head)
    clinic.commit()
    # A consistent copy: every MAC and the head verify (as the old plain chain of
    # such a copy did); only the anchor knows that seq 6 existed.
    report = verify_chain(session=clinic, zone=UTC)
    when = report.latest_anchor_time
    assert [p.message for p in report.problems] == [
        f"log rolled back behind anchor at seq 6 ({when:%Y-%m-%d %H:%M:%S} UTC)"
    ]
    assert report.first_broken_seq == 4 and anchor.seq == 6
    # Appending past the anchored seq again does not hide it: entry 6 differs.
    _log(clinic, 4, start=10)
    report = verify_chain(session=clinic)
    assert [p.kind for p in report.problems] == [verify.ROLLED_BACK]


def test_an_altered_anchor_row_is_found(clinic, tsa):
    _log(clinic, 3)
    anchor = anchor_head(session=clinic, tsa=tsa)
    anchor.hash = _event(clinic, 2).hash
    anchor.seq = 2
    clinic.add(anchor)
    clinic.commit()
    report = verify_chain(session=clinic)
    assert [p.kind for p in report.problems] == [verify.ANCHOR_INVALID]
    assert "token does not cover this seq and hash" in report.reason
    anchor.token = base64.b64encode(b"not a token").decode()
    clinic.add(anchor)
    clinic.commit()
    assert "timestamp token unreadable" in verify_chain(session=clinic).reason


def test_a_head_that_does_not_verify_is_not_anchored(clinic, tsa):
    _log(clinic, 3)
    head = clinic.get(AuditHead, 1)
    head.seq, head.hash = 2, _event(clinic, 2).hash
    clinic.add(head)
    clinic.commit()
    with pytest.raises(AuditError, match="审计日志头部校验失败"):
        anchor_head(session=clinic, tsa=tsa)
    assert tsa.calls == 0
    assert clinic.exec(select(AuditAnchor)).all() == []


def _external_tsa():
    """A TSA under a root that is not the clinic's, as an HTTP service."""
    root = pki.create_ca(clinic_name="外部时间戳中心", now=NOW)
    issued = pki.issue_tsa_certificate(
        ca_cert_pem=root.cert_pem,
        ca_key=root.key,
        clinic_name="外部时间戳中心",
        now=NOW,
        crl_url="http://127.0.0.1:9/crl",
    )
    authority = TimestampAuthority(
        cert_pem=issued.cert_pem, key=issued.key, ca_chain_pems=[root.cert_pem]
    )

    class Handler(FakeHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.reply(200, authority.timestamp(body), RESPONSE_CONTENT_TYPE)

    return root, Handler


def test_an_external_tsa_anchors_and_must_be_trusted(clinic):
    root, handler = _external_tsa()
    _log(clinic, 2)
    with serve(handler) as url:
        anchor = anchor_head(session=clinic, tsa=HttpTimestampSource(url=url))
    clinic.commit()
    assert anchor.seq == 2
    # Only the clinic CA is trusted by default.
    report = verify_chain(session=clinic)
    assert [p.kind for p in report.problems] == [verify.ANCHOR_INVALID]
    assert "TSA certificate not trusted" in report.reason
    assert verify_chain(session=clinic, tsa_trust_roots=[root.cert_pem]).ok


def test_a_failing_tsa_leaves_no_anchor(clinic):
    class Broken:
        def timestamp(self, request_der):
            return b"\x30\x00"

    _log(clinic, 1)
    with pytest.raises(AuditError, match="审计日志加盖时间戳失败"):
        anchor_head(session=clinic, tsa=Broken())
    assert clinic.exec(select(AuditAnchor)).all() == []
