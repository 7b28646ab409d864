"""Archive-timestamp renewal: a B-LTA record whose document timestamp's TSA
certificate nears its end gets fresh validation data and a second document
timestamp from the clinic's renewed TSA, validates offline, and is renewed once
however often and however many workers run it; a failure changes nothing."""

from __future__ import annotations

import functools
import hashlib
import io
import socket
import threading
from datetime import timedelta

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from sqlmodel import Session, select

from his_portal.models import AuditEvent, EarlierSignedFile, IssuerKey, SignedDocument
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.pki import authority, certificates
from his_portal.services.signing import archive_renewal
from his_portal.services.signing.archive_policy import RenewalPolicy
from his_portal.services.signing.archive_renewal import (
    document_by_hash,
    renew_archive_timestamps,
)
from his_portal.services.signing.archive_validation import validate_archived
from his_portal.services.signing.pades import TimestampError
from his_portal.services.signing.validation import validate_with_pyhanko
from his_portal.settings import Settings, SettingsError
from tests.conftest import NOW
from tests.services.identity.identity_helpers import CRL_URL, KEK
from tests.services.signing.test_record_signing import (  # noqa: F401
    T,
    ready,
    record_of,
    sign,
)
from tests.services.signing.test_verification import pinned_kit

LIU_NO = "P120111201801313"
RENEWED = T + timedelta(hours=2)
POLICY = RenewalPolicy(margin=timedelta(days=365))
SYSTEM = Actor(login_id="system")
CLINIC = "上海维乐海趣路门诊"


def new_tsa(session, now, days=1825) -> None:
    """Retire the clinic TSA and issue a new one at ``now``, valid ``days``."""
    row = session.exec(select(IssuerKey).where(IssuerKey.purpose == "tsa")).one()
    row.purpose = f"tsa-{row.key_id[:8]}"
    session.add(row)
    session.flush()
    issue = functools.partial(authority.issue_tsa_certificate, valid_days=days)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(certificates.pki, "issue_tsa_certificate", issue)
        certificates.ensure_authority(
            session=session, kek=KEK, clinic_name=CLINIC, crl_url=CRL_URL, now=now
        )
    session.commit()


def signed_with_short_tsa(session, tmp_path, *, renew_tsa=True):
    """刘作榛's record signed at T with a TSA certificate valid 30 days, then (by
    default) the clinic TSA renewed: the record's document."""
    new_tsa(session, NOW, days=30)
    record = record_of(session, LIU_NO)
    assert sign(session, record.id, tmp_path, signer=pinned_kit(session)).ok
    if renew_tsa:
        new_tsa(session, NOW + timedelta(hours=1))
    return session.exec(select(SignedDocument)).one()


@pytest.fixture
def ageing(ready, tmp_path):  # noqa: F811
    """(session, document, the stored PDF) of a record due for renewal."""
    doc = signed_with_short_tsa(ready, tmp_path)
    return ready, doc, stored(tmp_path, doc)


def stored(tmp_path, doc) -> bytes:
    return (tmp_path / "signed" / doc.file_name).read_bytes()


def renew(session, tmp_path, policy=POLICY, **options):
    return renew_archive_timestamps(
        session=session,
        kek=KEK,
        data_dir=tmp_path,
        policy=policy,
        actor=SYSTEM,
        now=RENEWED,
        tsa=pinned_kit(session, RENEWED).tsa,
        **options,
    )


def ca_pem(session) -> bytes:
    return certificates.ca_certificate_pem(session=session)


def files(tmp_path) -> set[str]:
    return {path.name for path in (tmp_path / "signed").rglob("*") if path.is_file()}


def test_a_timestamp_whose_tsa_certificate_nears_expiry_gets_a_second_one(
    ageing, tmp_path, monkeypatch
):
    session, doc, before = ageing
    result = renew(session, tmp_path)
    assert [item.document_id for item in result.renewed] == [doc.id]
    assert result.renewed[0].reason.startswith("时间戳服务证书将于")
    assert (result.skipped, result.failed) == (0, [])
    session.refresh(doc)
    after = stored(tmp_path, doc)
    assert after.startswith(before) and len(after) > len(before)
    assert doc.sha256 == hashlib.sha256(after).hexdigest()
    reader = PdfFileReader(io.BytesIO(after))
    stamps = reader.embedded_timestamp_signatures
    assert len(stamps) == 2
    assert len(reader.embedded_regular_signatures) == 1

    def no_network(*_args, **_kwargs):
        raise AssertionError("validation tried the network")

    with monkeypatch.context() as offline:
        offline.setattr(socket.socket, "connect", no_network)
        offline.setattr(socket, "create_connection", no_network)
        report = validate_archived(
            after, trust_roots_pem=[ca_pem(session)], at=RENEWED + timedelta(hours=1)
        )
    assert report.passed, report.indication
    assert report.best_signature_time == T
    assert report.oldest_archive_timestamp == T
    signature = reader.embedded_regular_signatures[0]
    signature.compute_integrity_info()
    assert signature.diff_result.modification_level == ModificationLevel.LTA_UPDATES
    check = validate_with_pyhanko(
        after, trust_roots_pem=[ca_pem(session)], moment=RENEWED
    )
    assert check.intact and check.valid and check.trusted and check.ok
    assert check.doc_timestamp_covers_whole_file


def test_after_the_first_tsa_certificate_expired_only_the_renewed_file_holds(
    ageing, tmp_path
):
    """Forty days on, the first TSA's certificate has expired: its timestamp
    alone proves nothing any more (no proof of existence), while the renewed
    file's second timestamp does. The validator brings that day's CRL, for the
    newest timestamp's TSA (nothing in a file can be newer than the file)."""
    session, doc, before = ageing
    renew(session, tmp_path)
    session.refresh(doc)
    at = NOW + timedelta(days=40)
    today = certificates.crl_der(session=session, kek=KEK, now=at - timedelta(hours=1))

    def archived(pdf):
        return validate_archived(
            pdf, trust_roots_pem=[ca_pem(session)], known_crls_der=[today], at=at
        )

    renewed = archived(stored(tmp_path, doc))
    assert renewed.passed, renewed.indication
    assert renewed.best_signature_time == T
    assert archived(before).indication == "INDETERMINATE.NO_POE"


def test_the_earlier_file_still_matches_its_version_and_the_renewal_is_audited(
    ageing, tmp_path
):
    session, doc, before = ageing
    old_hash, old_name = doc.sha256, doc.file_name
    renew(session, tmp_path)
    session.refresh(doc)
    earlier = session.exec(select(EarlierSignedFile)).one()
    assert (earlier.document_id, earlier.sha256) == (doc.id, old_hash)
    assert stored(tmp_path, doc)[: earlier.size] == before
    assert document_by_hash(session, old_hash).id == doc.id
    assert document_by_hash(session, doc.sha256).id == doc.id
    assert document_by_hash(session, "0" * 64) is None
    assert doc.file_name != old_name and doc.renewal_claimed_at is None
    event = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "record.archive_timestamp_renewed"
        )
    ).one()
    assert old_hash in event.detail and doc.sha256 in event.detail
    assert event.target == f"record:{doc.record_id}"
    assert verify_chain(session=session).ok


def test_running_twice_renews_once(ageing, tmp_path):
    session, doc, _ = ageing
    assert len(renew(session, tmp_path).renewed) == 1
    session.refresh(doc)
    after = stored(tmp_path, doc)
    again = renew(session, tmp_path)
    assert (len(again.renewed), again.skipped, again.failed) == (0, 1, [])
    assert again.summary() == "Archive timestamps renewed 0, skipped 1, failed 0."
    session.refresh(doc)
    assert stored(tmp_path, doc) == after
    assert len(session.exec(select(EarlierSignedFile)).all()) == 1


def test_two_concurrent_runs_renew_once(file_engine, tmp_path):
    with Session(file_engine) as session:
        doc = signed_with_short_tsa(session, tmp_path)
        doc_id, before = doc.id, stored(tmp_path, doc)
    start = threading.Barrier(2)
    results = []

    def run():
        with Session(file_engine) as session:
            start.wait()
            results.append(renew(session, tmp_path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(result.renewed) for result in results) == [0, 1]
    assert all(result.failed == [] for result in results)
    with Session(file_engine) as session:
        doc = session.get(SignedDocument, doc_id)
        after = stored(tmp_path, doc)
        assert after.startswith(before)
        assert len(PdfFileReader(io.BytesIO(after)).embedded_timestamp_signatures) == 2
        assert len(session.exec(select(EarlierSignedFile)).all()) == 1


def assert_untouched(session, tmp_path, doc, before, names):
    sha256, file_name = doc.sha256, doc.file_name
    session.refresh(doc)
    assert (doc.sha256, doc.file_name) == (sha256, file_name)
    assert doc.renewal_claimed_at is None  # released: the next run may try again
    assert stored(tmp_path, doc) == before and files(tmp_path) == names
    assert session.exec(select(EarlierSignedFile)).all() == []


def test_a_tsa_failure_leaves_the_file_and_its_hash_untouched(
    ageing, tmp_path, monkeypatch
):
    session, doc, before = ageing
    names = files(tmp_path)

    def refuse(*_args, **_kwargs):
        raise TimestampError("时间戳服务暂不可用")

    monkeypatch.setattr(archive_renewal, "add_long_term_validation", refuse)
    result = renew(session, tmp_path)
    assert [item.reason for item in result.failed] == ["时间戳服务暂不可用"]
    assert result.renewed == []
    assert result.summary() == "Archive timestamps renewed 0, skipped 0, failed 1."
    assert_untouched(session, tmp_path, doc, before, names)
    monkeypatch.undo()
    assert len(renew(session, tmp_path).renewed) == 1


def test_a_failure_after_the_new_file_was_written_removes_it(
    ageing, tmp_path, monkeypatch
):
    session, doc, before = ageing
    names = files(tmp_path)

    def broken(**_kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(archive_renewal, "record_event", broken)
    result = renew(session, tmp_path)
    assert (
        len(result.failed) == 1 and "audit log unavailable" in result.failed[0].reason
    )
    assert_untouched(session, tmp_path, doc, before, names)


def test_a_file_that_no_longer_matches_its_hash_is_not_renewed(ageing, tmp_path):
    session, doc, before = ageing
    path = tmp_path / "signed" / doc.file_name
    path.write_bytes(before + b"\n% edited\n")
    result = renew(session, tmp_path)
    assert [item.reason for item in result.failed] == [
        "文件内容与记录的SHA-256不符，未续期"
    ]
    assert path.read_bytes() == before + b"\n% edited\n"
    session.refresh(doc)
    assert doc.sha256 == hashlib.sha256(before).hexdigest()


def test_a_missing_file_is_reported(ageing, tmp_path):
    session, doc, _ = ageing
    (tmp_path / "signed" / doc.file_name).unlink()
    result = renew(session, tmp_path)
    assert [item.line() for item in result.failed] == [
        f"record {doc.record_id} version {doc.version} (document {doc.id}): 文件缺失"
    ]


def test_a_live_claim_of_another_worker_is_left_alone_and_a_stale_one_taken(
    ageing, tmp_path
):
    session, doc, _ = ageing
    doc.renewal_claimed_at = RENEWED - timedelta(minutes=1)
    session.add(doc)
    session.commit()
    busy = renew(session, tmp_path)
    assert (len(busy.renewed), busy.skipped) == (0, 1)
    doc.renewal_claimed_at = (
        RENEWED - archive_renewal.CLAIM_LEASE - timedelta(seconds=1)
    )
    session.add(doc)
    session.commit()
    assert len(renew(session, tmp_path).renewed) == 1


def test_a_dry_run_lists_and_writes_nothing(ageing, tmp_path):
    session, doc, before = ageing
    names = files(tmp_path)
    result = renew(session, tmp_path, dry_run=True)
    assert [item.document_id for item in result.renewed] == [doc.id]
    assert result.summary() == (
        "Archive timestamps (dry run): would renew 1, skipped 0, failed 0."
    )
    assert_untouched(session, tmp_path, doc, before, names)


def test_a_timestamp_not_due_is_skipped_unless_forced(ready, tmp_path):  # noqa: F811
    record = record_of(ready, LIU_NO)
    assert sign(ready, record.id, tmp_path, signer=pinned_kit(ready)).ok
    result = renew(ready, tmp_path)
    assert (len(result.renewed), result.skipped) == (0, 1)
    forced = renew(ready, tmp_path, force=True)
    assert [item.reason for item in forced.renewed] == ["强制续期"]
    doc = ready.exec(select(SignedDocument)).one()
    pdf = stored(tmp_path, doc)
    assert len(PdfFileReader(io.BytesIO(pdf)).embedded_timestamp_signatures) == 2
    report = validate_archived(pdf, trust_roots_pem=[ca_pem(ready)], at=RENEWED)
    assert report.passed, report.indication


def test_while_the_clinic_tsa_is_itself_due_nothing_is_renewed(ready, tmp_path):  # noqa: F811
    doc = signed_with_short_tsa(ready, tmp_path, renew_tsa=False)
    before = stored(tmp_path, doc)
    result = renew(ready, tmp_path)
    assert len(result.failed) == 1
    assert result.failed[0].reason.startswith(
        "本院时间戳服务也需更新（时间戳服务证书将于"
    )
    assert stored(tmp_path, doc) == before


def test_an_ageing_digest_is_renewed_but_not_with_the_same_digest(ageing, tmp_path):
    """Retiring SHA-256 is a setting; the clinic TSA still stamps with SHA-256,
    so such a renewal is refused rather than stored."""
    session, doc, before = ageing
    names = files(tmp_path)
    policy = RenewalPolicy(margin=timedelta(days=1), ageing=("sha1", "sha256"))
    dry = renew(session, tmp_path, policy=policy, dry_run=True)
    assert [item.reason for item in dry.renewed] == ["时间戳使用老化算法 sha256"]
    result = renew(session, tmp_path, policy=policy)
    assert [item.reason for item in result.failed] == [
        "新的文档时间戳仍需续期：时间戳使用老化算法 sha256"
    ]
    assert_untouched(session, tmp_path, doc, before, names)


def test_the_settings_read_and_check_the_renewal_knobs(tmp_path):
    base = {"HIS_DATA_DIR": str(tmp_path)}
    default = RenewalPolicy.from_settings(Settings.from_env(base))
    assert default == RenewalPolicy(margin=timedelta(days=365))
    settings = Settings.from_env(
        base
        | {
            "HIS_ARCHIVE_RENEW_DAYS": "730",
            "HIS_ARCHIVE_AGEING_ALGORITHMS": "SHA-1, sha256,rsa<3072",
        }
    )
    assert settings.archive_renew_days == 730
    assert settings.archive_ageing_algorithms == ("sha1", "sha256", "rsa<3072")
    assert RenewalPolicy.from_settings(settings).min_rsa_bits == 3072
    assert default.min_rsa_bits == 2048
    for name, value, message in (
        ("HIS_ARCHIVE_RENEW_DAYS", "0", "HIS_ARCHIVE_RENEW_DAYS must be positive"),
        ("HIS_ARCHIVE_RENEW_DAYS", "a year", "must be an integer"),
        ("HIS_ARCHIVE_RENEW_DAYS", "1461", "must be at most 1460"),
        ("HIS_ARCHIVE_AGEING_ALGORITHMS", "sha1,whirlpool", "not 'whirlpool'"),
        ("HIS_ARCHIVE_AGEING_ALGORITHMS", "rsa<many", "or rsa<BITS"),
    ):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(base | {name: value})
