"""Signing records end to end in the services: PAdES PDFs that validate, the lock,
races, crashes mid-batch, amendment versions."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from his_portal.errors import AccessDenied
from his_portal.models import AuditEvent, MedicalRecord, Patient, SignedDocument
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import encrypt_private_key
from his_portal.services.seals import store as seals
from his_portal.services.signing import records as record_signing
from his_portal.services.signing import versions as record_versions
from his_portal.services.signing.validation import (
    validate_with_pdfsig,
    validate_with_pyhanko,
)
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.identity.identity_helpers import DOCTOR, KEK, save, verify

ACTOR = Actor(login_id=DOCTOR, ip="10.0.0.8", user_agent="pytest")
T = NOW + timedelta(minutes=5)


@pytest.fixture
def ready(clinic):
    """郑程 verified, 电子签名 on."""
    save(clinic)
    verify(clinic)
    seals.set_esign(
        session=clinic,
        user=user_by_login(clinic, DOCTOR),
        enabled=True,
        actor=ACTOR,
        now=T,
    )
    return clinic


def record_of(session: Session, record_no: str) -> MedicalRecord:
    return session.exec(
        select(MedicalRecord).join(Patient).where(Patient.record_no == record_no)
    ).first()


def kit(session):
    return record_signing.load_signer(
        session=session, user=user_by_login(session, DOCTOR), kek=KEK, now=T
    )


def sign(session, record_id, tmp_path, *, choice="system", now=T, signer=None):
    return record_signing.sign_record(
        session=session,
        kit=signer or kit(session),
        record_id=record_id,
        seal_choice=choice,
        method="sms",
        confirmation_id=None,
        data_dir=tmp_path,
        amend_days=7,
        zone=ZONE,
        actor=ACTOR,
        now=now,
    )


def stored_pdf(session, tmp_path, record_id) -> bytes:
    doc = session.exec(
        select(SignedDocument)
        .where(SignedDocument.record_id == record_id)
        .order_by(SignedDocument.version.desc())
    ).first()
    return (tmp_path / "signed" / doc.file_name).read_bytes()


def test_a_signed_record_is_locked_and_its_pdf_validates(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    outcome = sign(ready, record.id, tmp_path)
    assert outcome.ok and outcome.message == "已签名"
    assert outcome.amend_until == T + timedelta(days=7)
    ready.refresh(record)
    assert (record.sign_status, record.lock_status) == ("signed", "locked")
    assert record_versions.signer_login(ready, record) == DOCTOR
    pdf = stored_pdf(ready, tmp_path, record.id)
    doc = ready.exec(select(SignedDocument)).one()
    import hashlib

    assert doc.sha256 == hashlib.sha256(pdf).hexdigest()
    ca = certificates.ca_certificate_pem(session=ready)
    report = validate_with_pyhanko(pdf, trust_roots_pem=[ca], moment=T)
    assert report.intact and report.valid and report.trusted
    assert report.timestamp_valid and report.ok
    # B-LTA: after the signature only the DSS and a document timestamp, which
    # covers the whole file
    assert not report.covers_whole_file and report.archived
    assert report.signer_cn == "郑程" and report.signature_count == 1
    pdfsig = validate_with_pdfsig(pdf)
    assert pdfsig.signatures[0].signature_status == "Signature is Valid."
    assert not pdfsig.signatures[0].total_document_signed
    assert pdfsig.signatures[1].total_document_signed
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "刘作榛" in text and "P120111201801313" in text and "左下后牙" in text
    assert f"http://localhost:3000/verify/{doc.verify_id}" in text  # the footer
    event = ready.exec(
        select(AuditEvent).where(AuditEvent.action == "record.signed")
    ).one()
    assert doc.sha256 in event.detail and event.ip == "10.0.0.8"
    assert verify_chain(session=ready).ok


def test_the_personal_seal_needs_to_exist(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    with pytest.raises(record_signing.SigningRefused, match="尚未设置个性签章"):
        sign(ready, record.id, tmp_path, choice="personal")
    ready.refresh(record)
    assert record.sign_status == "unsigned"


def test_another_doctors_record_is_refused_in_the_service(ready, tmp_path):
    record = record_of(ready, "P111220000601")  # 王莉's
    outcome = sign(ready, record.id, tmp_path)
    assert not outcome.ok and outcome.message == "只能签署本人的病历"
    ready.refresh(record)
    assert record.sign_status == "unsigned" and not (tmp_path / "signed").exists()
    actions = ready.exec(select(AuditEvent.action)).all()
    assert "sign.refused_not_owner" in actions


def test_a_manager_cannot_sign(ready):
    with pytest.raises(AccessDenied):
        record_signing.load_signer(
            session=ready, user=user_by_login(ready, "sh-manager@8112"), kek=KEK, now=T
        )


def test_esign_off_blocks_signing_at_once(ready):
    doctor = user_by_login(ready, DOCTOR)
    seals.set_esign(session=ready, user=doctor, enabled=False, actor=ACTOR)
    with pytest.raises(record_signing.SigningRefused, match="电子签名未开启"):
        kit(ready)


def test_a_stored_key_that_is_not_the_certificates_is_refused(ready):
    doctor = user_by_login(ready, DOCTOR)
    cert = certificates.active_certificate(session=ready, user_id=doctor.id)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert.key_pem_enc = encrypt_private_key(other, kek=KEK, key_id=cert.key_id).decode()
    ready.add(cert)
    ready.commit()
    with pytest.raises(record_signing.SigningRefused, match="证书与私钥不匹配"):
        kit(ready)


def test_signing_again_is_a_safe_no_op(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    assert sign(ready, record.id, tmp_path).ok
    again = sign(ready, record.id, tmp_path)
    assert not again.ok and again.message == "该病历已签名"
    assert len(ready.exec(select(SignedDocument)).all()) == 1


def test_two_sessions_racing_sign_once(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    signer = kit(ready)
    with Session(ready.get_bind()) as other:
        stale = other.get(MedicalRecord, record.id)  # loaded before the first commit
        assert stale.sign_status == "unsigned"
        assert sign(ready, record.id, tmp_path, signer=signer).ok
        lost = sign(other, record.id, tmp_path, signer=signer)
    assert not lost.ok and lost.message in {"该病历已由其他会话签署", "该病历已签名"}
    assert len(ready.exec(select(SignedDocument)).all()) == 1
    assert len(list((tmp_path / "signed").rglob("*.pdf"))) == 1


def test_a_crash_mid_batch_leaves_each_record_signed_or_untouched(
    ready, tmp_path, monkeypatch
):
    first = record_of(ready, "P120111201801313")
    second = record_of(ready, "P120111190005083")
    signer = kit(ready)
    assert sign(ready, first.id, tmp_path, signer=signer).ok
    real_write = record_signing.write_private

    def crash(path: Path, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(record_signing, "write_private", crash)
    with pytest.raises(OSError):
        sign(ready, second.id, tmp_path, signer=signer)
    monkeypatch.setattr(record_signing, "write_private", real_write)
    ready.rollback()
    ready.refresh(second)
    assert (second.sign_status, second.lock_status, second.signed_at) == (
        "unsigned",
        "open",
        None,
    )
    docs = ready.exec(select(SignedDocument.record_id)).all()
    assert docs == [first.id]
    assert sign(ready, second.id, tmp_path, signer=signer).ok  # the retry works


def test_a_locked_record_refuses_edits_and_logs_the_attempt(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    doctor = user_by_login(ready, DOCTOR)
    record_versions.update_record(
        session=ready,
        user=doctor,
        record_id=record.id,
        changes={"advice": "一周后复诊"},
        actor=ACTOR,
    )
    assert sign(ready, record.id, tmp_path).ok
    with pytest.raises(record_signing.RecordLocked):
        record_versions.update_record(
            session=ready,
            user=doctor,
            record_id=record.id,
            changes={"advice": "改"},
            actor=ACTOR,
        )
    ready.refresh(record)
    assert record.advice == "一周后复诊"
    assert "record.edit_refused_locked" in ready.exec(select(AuditEvent.action)).all()


def test_amend_within_the_window_makes_a_new_version(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    doctor = user_by_login(ready, DOCTOR)
    assert sign(ready, record.id, tmp_path).ok
    record_versions.revoke_signature(
        session=ready,
        user=doctor,
        record_id=record.id,
        reason="补充医嘱",
        actor=ACTOR,
        now=T + timedelta(days=1),
    )
    ready.refresh(record)
    assert (record.version, record.sign_status, record.lock_status) == (
        2,
        "unsigned",
        "open",
    )
    record_versions.update_record(
        session=ready,
        user=doctor,
        record_id=record.id,
        changes={"advice": "补充：两周后复查"},
        actor=ACTOR,
    )
    assert sign(ready, record.id, tmp_path, now=T + timedelta(days=1, hours=1)).ok
    docs = ready.exec(select(SignedDocument).order_by(SignedDocument.version)).all()
    assert [d.version for d in docs] == [1, 2]
    assert docs[0].superseded_at is not None and docs[1].superseded_at is None
    assert docs[0].verify_id != docs[1].verify_id  # each version its own link
    assert all((tmp_path / "signed" / d.file_name).exists() for d in docs)


def test_after_the_window_the_record_is_archived(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    assert sign(ready, record.id, tmp_path).ok
    with pytest.raises(record_signing.RecordLocked, match="归档"):
        record_versions.revoke_signature(
            session=ready,
            user=user_by_login(ready, DOCTOR),
            record_id=record.id,
            reason="x",
            actor=ACTOR,
            now=T + timedelta(days=7, seconds=1),
        )


def test_one_changed_byte_is_detected(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    assert sign(ready, record.id, tmp_path).ok
    pdf = bytearray(stored_pdf(ready, tmp_path, record.id))
    position = pdf.index(b"/MediaBox")
    pdf[position + 1] ^= 0x01
    ca = certificates.ca_certificate_pem(session=ready)
    assert not validate_with_pyhanko(bytes(pdf), trust_roots_pem=[ca], moment=T).intact
    assert validate_with_pdfsig(bytes(pdf)).signatures[0].signature_status != (
        "Signature is Valid."
    )


def test_signed_document_for_its_doctor_and_clinic_manager_only(ready, tmp_path):
    record = record_of(ready, "P120111201801313")
    assert sign(ready, record.id, tmp_path).ok
    doctor = user_by_login(ready, DOCTOR)
    record_versions.revoke_signature(
        session=ready,
        user=doctor,
        record_id=record.id,
        reason="补充",
        actor=ACTOR,
        now=T + timedelta(hours=1),
    )
    assert sign(ready, record.id, tmp_path, now=T + timedelta(hours=2)).ok
    view = record_versions.signed_document(
        session=ready, viewer=doctor, record_id=record.id, zone=ZONE
    )
    assert view.version == 2 and view.signer == DOCTOR
    assert view.download_name.endswith("_刘作榛_P120111201801313_口腔检查.pdf")
    assert len(view.history) == 2 and "已撤销" in view.history[1]
    manager = user_by_login(ready, "sh-manager@8112")
    assert (
        record_versions.signed_document(
            session=ready, viewer=manager, record_id=record.id, zone=ZONE
        ).version
        == 2
    )
    for other in ("sh-wangli@8112", "sh-admin@8112"):
        with pytest.raises(AccessDenied):
            record_versions.signed_document(
                session=ready,
                viewer=user_by_login(ready, other),
                record_id=record.id,
                zone=ZONE,
            )


def test_a_configured_external_tsa_is_used_and_its_failure_changes_nothing(
    ready, tmp_path
):
    record = record_of(ready, "P120111201801313")
    signer = record_signing.load_signer(
        session=ready,
        user=user_by_login(ready, DOCTOR),
        kek=KEK,
        now=T,
        tsa_url="http://127.0.0.1:9/tsa",  # nothing listens there
    )
    outcome = sign(ready, record.id, tmp_path, signer=signer)
    assert not outcome.ok and outcome.message
    ready.refresh(record)
    assert record.sign_status == "unsigned"
    assert not (tmp_path / "signed").exists()
