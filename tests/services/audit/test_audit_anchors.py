"""The audit head's RFC 3161 anchors: made when the head moved, over the head's MAC,
checked by verify_chain (a log rolled back behind one, an altered anchor row, an
external TSA that must be trusted, a failing TSA)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from sqlmodel import select

from his_portal.adapters.tsa_client import RESPONSE_CONTENT_TYPE, HttpTimestampSource
from his_portal.models import AuditAnchor, AuditHead
from his_portal.services.audit import (
    AuditError,
    anchor_head,
    clinic_tsa,
    verify,
    verify_chain,
)
from his_portal.services.pki import authority as pki
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from tests.conftest import NOW
from tests.fake_server import FakeHandler, serve
from tests.services.audit.audit_helpers import event_at, log_events
from tests.services.identity.identity_helpers import KEK


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
    log_events(clinic, 3)
    anchor = anchor_head(session=clinic, tsa=tsa, now=NOW)
    clinic.commit()
    head = clinic.get(AuditHead, 1)
    assert (anchor.seq, anchor.hash, anchor.at) == (3, head.hash, NOW)
    assert tsa.calls == 1
    assert anchor_head(session=clinic, tsa=tsa) is None
    assert tsa.calls == 1  # no TSA round trip when the head did not move
    log_events(clinic, 2, start=3)
    assert anchor_head(session=clinic, tsa=tsa).seq == 5
    clinic.commit()
    report = verify_chain(session=clinic)
    assert report.ok, report.problems
    assert (report.anchors, report.latest_anchor_seq) == (2, 5)
    assert abs(report.latest_anchor_time - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_anchor_token_is_an_rfc3161_token_over_the_head_mac(clinic, tsa):
    log_events(clinic, 2)
    anchor = anchor_head(session=clinic, tsa=tsa)
    head = clinic.get(AuditHead, 1)
    token = cms.ContentInfo.load(base64.b64decode(anchor.token))
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    imprint = tst_info["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == "sha256"
    expected = hashlib.sha256(f"2|{head.hash}|{head.mac}".encode()).digest()
    assert imprint["hashed_message"].native == expected


def test_rolling_the_log_and_head_back_behind_an_anchor_is_found(clinic, tsa):
    log_events(clinic, 3)
    saved_head = clinic.get(AuditHead, 1).model_dump()
    log_events(clinic, 3, start=3)
    anchor = anchor_head(session=clinic, tsa=tsa)
    clinic.commit()
    # Restore the audit table and head from the copy taken at seq 3.
    for seq in (4, 5, 6):
        clinic.delete(event_at(clinic, seq))
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
    log_events(clinic, 4, start=10)
    report = verify_chain(session=clinic)
    assert [p.kind for p in report.problems] == [verify.ROLLED_BACK]


def test_an_altered_anchor_row_is_found(clinic, tsa):
    log_events(clinic, 3)
    anchor = anchor_head(session=clinic, tsa=tsa)
    anchor.hash = event_at(clinic, 2).hash
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
    log_events(clinic, 3)
    head = clinic.get(AuditHead, 1)
    head.seq, head.hash = 2, event_at(clinic, 2).hash
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
    log_events(clinic, 2)
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

    log_events(clinic, 1)
    with pytest.raises(AuditError, match="审计日志加盖时间戳失败"):
        anchor_head(session=clinic, tsa=Broken())
    assert clinic.exec(select(AuditAnchor)).all() == []
