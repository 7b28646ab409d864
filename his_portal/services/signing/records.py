"""Signing medical records: render, PAdES-sign with the doctor's key, store durably,
lock — one record per transaction, so a crash leaves each record fully signed or
untouched. Amending and reading signed versions: :mod:`record_versions`.

Only :mod:`sign_batch` calls :func:`sign_record`, for the records of a spent 意愿校验;
each call re-checks the record and the signer at the moment it signs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlmodel import Session, select

from his_portal.errors import HisError
from his_portal.models import (
    Clinic,
    LockStatus,
    MedicalRecord,
    Patient,
    SignedDocument,
    SignStatus,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.profile import find_profile, require_doctor
from his_portal.services.pki import certificates, ocsp
from his_portal.services.pki.keyvault import decrypt_private_key
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.private_files import write_private
from his_portal.services.seals import store as seals
from his_portal.services.signing.ltv import long_term
from his_portal.services.signing.pades import SigningError, SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import RecordDocument, render_record_pdf
from his_portal.services.signing.verify_links import new_verify_id, verify_url
from his_portal.settings import get_settings

__all__ = [
    "RecordLocked",
    "SignOutcome",
    "SignerKit",
    "SigningRefused",
    "load_signer",
    "record_document",
    "sign_record",
    "sweep_orphans",
]

#: A file this old that no committed row names was left by a crash or a rollback.
ORPHAN_AGE = timedelta(minutes=10)

SECTIONS = (
    ("主诉", "chief_complaint"),
    ("现病史", "present_illness"),
    ("既往史", "past_history"),
    ("检查", "examination"),
    ("诊断", "diagnosis"),
    ("治疗计划", "treatment_plan"),
    ("处置", "treatment"),
    ("医嘱", "advice"),
)


class SigningRefused(HisError):
    """Signing cannot go ahead; ``message`` is shown as is."""


class RecordLocked(SigningRefused):
    """An edit of a signed (locked) or archived record."""


@dataclass(frozen=True)
class SignerKit:
    """Everything needed to sign for one doctor, loaded once per batch.

    The long-term validation data (B-LT) that hold for the whole batch come with
    it: the CA's CRL, the TSA's chain and an OCSP response for the TSA's
    certificate. The doctor's own OCSP response is made per record
    (``signer_ocsp``, ≈ 2 ms), so it dates from the signing time itself.
    """

    user: CurrentUser
    doctor_name: str
    cert_pem: bytes
    cert_serial: str
    key: Any = field(repr=False)
    chain_pems: list[bytes]
    tsa: TimestampAuthority
    tsa_url: str = ""
    tsa_chain_pems: list[bytes] = field(default_factory=list)
    """The TSA's certificate and the CA (for the DSS)."""
    crl_der: bytes = b""
    ocsp_ders: list[bytes] = field(default_factory=list)
    """OCSP responses valid for the whole batch (the TSA's certificate)."""
    signer_ocsp: Callable[[Session, datetime], bytes] | None = field(
        default=None, repr=False
    )
    """The doctor's certificate's OCSP response as of a moment; None: B-T only."""


@dataclass(frozen=True)
class SignOutcome:
    """One record's result in a batch."""

    record_id: int
    record_no: str
    patient_name: str
    ok: bool
    message: str
    signed_at: datetime | None = None
    amend_until: datetime | None = None


def load_signer(
    *, session: Session, user: CurrentUser, kek: bytes, now: datetime, tsa_url: str = ""
) -> SignerKit:
    """The doctor's certificate, key and the clinic TSA, after checking that signing
    is allowed at all: verified, 电子签名 on, certificate valid.

    Raises:
        SigningRefused: With the reason and where to fix it.
    """
    require_doctor(user)
    profile = find_profile(session, user.id)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise SigningRefused("尚未通过实名认证，请先到 个人中心 完成实名认证")
    if not profile.esign_enabled:
        raise SigningRefused("电子签名未开启，请到 个人中心 → 个性设置 开启")
    cert = certificates.active_certificate(session=session, user_id=user.id)
    if cert is None or not cert.not_before <= now < cert.not_after:
        raise SigningRefused("数字证书无效或已过期，请重新实名认证")
    ca = certificates.load_authority(session=session, kek=kek)
    tsa = certificates.load_authority(
        session=session, kek=kek, purpose=certificates.TSA
    )
    cert_pem = cert.cert_pem.encode()
    key = decrypt_private_key(cert.key_pem_enc.encode(), kek=kek, key_id=cert.key_id)
    certified = x509.load_pem_x509_certificate(cert_pem).public_key()
    if key.public_key().public_numbers() != certified.public_numbers():
        raise SigningRefused("数字证书与私钥不匹配，请重新实名认证")

    def signer_ocsp(session: Session, moment: datetime) -> bytes:
        return ocsp.response_for(
            session=session, kek=kek, cert_pem=cert_pem, now=moment
        )

    return SignerKit(
        user=user,
        doctor_name=profile.name,
        cert_pem=cert_pem,
        cert_serial=cert.serial_hex,
        key=key,
        chain_pems=[ca.cert_pem],
        tsa=TimestampAuthority(
            cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca.cert_pem]
        ),
        tsa_url=tsa_url,
        tsa_chain_pems=[tsa.cert_pem, ca.cert_pem],
        crl_der=certificates.crl_der(session=session, kek=kek, now=now),
        ocsp_ders=[
            ocsp.response_for(session=session, kek=kek, cert_pem=tsa.cert_pem, now=now)
        ],
        signer_ocsp=signer_ocsp,
    )


def _age(born, on) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def record_document(
    *, session: Session, record: MedicalRecord, zone, doctor_name: str
) -> RecordDocument:
    """What the PDF shows for a record (also the 签署 dialog's preview)."""
    patient = session.get(Patient, record.patient_id)
    clinic = session.get(Clinic, record.clinic_id)
    created = record.created_at.astimezone(zone)
    return RecordDocument(
        clinic_name=clinic.name,
        title=record.title,
        record_no=patient.record_no,
        patient_name=patient.name,
        sex="男" if patient.sex == "male" else "女",
        age=_age(patient.birth_date, created.date()),
        doctor_name=doctor_name,
        visit_item=record.visit_item,
        created_at=created.strftime("%Y-%m-%d %H:%M"),
        sections=[
            (label, getattr(record, name))
            for label, name in SECTIONS
            if getattr(record, name)
        ],
        version=record.version,
    )


def _signer_refusal(session: Session, kit: SignerKit, now: datetime) -> str:
    """Why the signer may no longer sign right now ("" if they may)."""
    profile = find_profile(session, kit.user.id)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        return "实名认证已解除，不能继续签署"
    if not profile.esign_enabled:
        return "电子签名已关闭，不能继续签署"
    cert = certificates.active_certificate(session=session, user_id=kit.user.id)
    if cert is None or cert.serial_hex != kit.cert_serial:
        return "数字证书已吊销或已更换，请重新发起签署"
    if not cert.not_before <= now < cert.not_after:
        return "数字证书已过期，请重新实名认证"
    return ""


def _seal_png(session: Session, kit: SignerKit, choice: str, data_dir: Path):
    if choice == "system":
        return seals.system_seal_png(kit.doctor_name), None
    seal = seals.current_seal(session=session, user_id=kit.user.id)
    if seal is None:
        raise SigningRefused("尚未设置个性签章，请选择系统签名或先设置个性签章")
    png = seals.read_seal(
        session=session, user=kit.user, seal_id=seal.id, data_dir=data_dir
    )
    return png, seal.id


def sign_record(
    *,
    session: Session,
    kit: SignerKit,
    record_id: int,
    seal_choice: str,
    method: str,
    confirmation_id: int | None,
    data_dir: Path,
    amend_days: int,
    zone,
    actor: Actor,
    now: datetime | None = None,
    public_url: str | None = None,
    on_signed: Callable[[Session], None] | None = None,
) -> SignOutcome:
    """Sign one record. Safe to retry, and safe when two sessions race: the record
    row is claimed by a conditional update in the same transaction that records the
    PDF's hash, so it is signed exactly once.

    Each signed version gets its own verification id, printed (link and QR code)
    in the footer before signing; ``public_url`` defaults to the settings'.
    ``on_signed`` adds its statements to that transaction (the batch marks its
    item signed: both or neither).
    """
    now = now or utcnow()
    record = session.get(MedicalRecord, record_id)
    if record is None:
        return SignOutcome(record_id, "", "", False, "病历不存在")
    patient = session.get(Patient, record.patient_id)

    def outcome(ok: bool, message: str, **extra) -> SignOutcome:
        return SignOutcome(
            record_id, patient.record_no, patient.name, ok, message, **extra
        )

    if record.doctor_id != kit.user.id:
        record_event(
            session=session,
            actor=actor,
            action="sign.refused_not_owner",
            target=f"record:{record_id}",
        )
        session.commit()
        return outcome(False, "只能签署本人的病历")
    if record.sign_status == SignStatus.SIGNED:
        return outcome(False, "该病历已签名")
    if record.lock_status == LockStatus.LOCKED:
        return outcome(False, "该病历已锁定，不能签署")
    refusal = _signer_refusal(session, kit, now)
    if refusal:
        return outcome(False, refusal)
    seal_png, seal_id = _seal_png(session, kit, seal_choice, data_dir)
    version = record.version
    local_now = now.astimezone(zone)
    verify_id = new_verify_id()
    pdf = render_record_pdf(
        record_document(
            session=session, record=record, zone=zone, doctor_name=kit.doctor_name
        ),
        seal_png=seal_png,
        signer_name=kit.doctor_name,
        signed_at=local_now.strftime("%Y-%m-%d %H:%M:%S"),
        verify_url=verify_url(public_url or get_settings().public_url, verify_id),
    )
    try:
        signed = sign_pdf(
            pdf,
            cert_pem=kit.cert_pem,
            key=kit.key,
            chain_pems=kit.chain_pems,
            tsa=kit.tsa,
            signing_time=now,
            options=SigningOptions(
                reason="电子病历签名",
                location=patient.record_no,
                signer_name=kit.doctor_name,
                tsa_url=kit.tsa_url,
            ),
        )
        signed = long_term(session, kit, signed, now)
    except SigningError as exc:
        return outcome(False, exc.message)
    digest = hashlib.sha256(signed).hexdigest()
    file_name = f"{record_id}/v{version}-{uuid.uuid4().hex}.pdf"
    path = data_dir / "signed" / file_name
    write_private(path, signed)
    amend_until = now + timedelta(days=amend_days)
    table = MedicalRecord.__table__
    claimed = session.execute(
        table.update()
        .where(
            table.c.id == record_id,
            table.c.version == version,
            table.c.sign_status == SignStatus.UNSIGNED,
        )
        .values(
            sign_status=SignStatus.SIGNED,
            lock_status=LockStatus.LOCKED,
            signed_at=now,
            signer_id=kit.user.id,
            amend_until=amend_until,
        )
    ).rowcount
    if claimed != 1:
        session.rollback()
        path.unlink(missing_ok=True)
        return outcome(False, "该病历已由其他会话签署")
    session.add(
        SignedDocument(
            record_id=record_id,
            version=version,
            file_name=file_name,
            sha256=digest,
            cert_serial=kit.cert_serial,
            seal_kind=seal_choice,
            seal_id=seal_id,
            confirmation_id=confirmation_id,
            method=method,
            signer_id=kit.user.id,
            signed_at=now,
            verify_id=verify_id,
        )
    )
    record_event(
        session=session,
        actor=actor,
        action="record.signed",
        target=f"record:{record_id}",
        detail={
            "version": version,
            "pdf_sha256": digest,
            "cert_serial": kit.cert_serial,
            "method": method,
            "confirmation": confirmation_id,
            "seal": seal_choice,
        },
    )
    if on_signed is not None:
        on_signed(session)
    session.commit()
    return outcome(True, "已签名", signed_at=now, amend_until=amend_until)


def sweep_orphans(
    *, session: Session, data_dir: Path, now: datetime | None = None
) -> int:
    """Delete half-written temp files and signed PDFs whose transaction never
    committed (a crash between the file and the row), older than ``ORPHAN_AGE``.

    Returns:
        How many files were removed.
    """
    base = data_dir / "signed"
    if not base.is_dir():
        return 0
    cutoff = ((now or utcnow()) - ORPHAN_AGE).timestamp()
    known = set(session.exec(select(SignedDocument.file_name)).all())
    removed = 0
    for path in base.rglob("*"):
        name = path.relative_to(base).as_posix()
        orphan = path.name.endswith(".tmp") or (
            path.suffix == ".pdf" and name not in known
        )
        try:
            if path.is_file() and orphan and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
