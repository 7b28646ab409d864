"""The audit log's scheme: entries chained by an HMAC under a KEK-derived key, a
MAC'd head; no KEK, no entry; the key loaded once per process."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select

from his_portal.models import AuditEvent, AuditHead
from his_portal.services import audit
from his_portal.services.audit import (
    Actor,
    AuditError,
    chain,
    record_event,
    verify,
    verify_chain,
)
from his_portal.services.pki.keyvault import mac_key
from his_portal.settings import Settings
from tests.conftest import AUDIT_KEY
from tests.services.audit.audit_helpers import (
    event_at,
    events_in_order,
    log_events,
    plain_sha,
)
from tests.services.identity.identity_helpers import KEK

GENESIS = "0" * 64


def test_entries_are_chained_with_a_keyed_mac(session):
    log_events(session, 3)
    events = events_in_order(session)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    # Not the public SHA-256 of the entry: an HMAC under the audit key.
    assert all(event.hash != plain_sha(event) for event in events)
    report = verify_chain(session=session)
    assert report.ok and report.checked == 3 and report.problems == ()
    assert report.first_broken_seq is None and report.head_seq == 3
    # Another key (another KEK) verifies nothing: the entries and the head.
    other = verify_chain(session=session, key=mac_key(bytes(32), "audit"))
    assert not other.ok
    assert "entries 1-3: MAC does not verify" in other.problems[0].message
    assert verify.HEAD_FORGED in {p.kind for p in other.problems}


def test_the_head_carries_a_mac_over_seq_and_hash(session):
    log_events(session, 2)
    head = session.get(AuditHead, 1)
    newest = event_at(session, 2)
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
    log_events(session, 2)
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
