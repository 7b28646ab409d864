"""The public verification link of a signed record version, ``/verify/<id>``: its
random id, and what the page behind it may tell anyone who scanned the footer's QR
code — the signature's status, signer, clinic, time, version and the file's hash,
never who the patient is or what the record says.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlmodel import Session, col, select

from his_portal.errors import HisError
from his_portal.models import (
    CertStatus,
    Clinic,
    DoctorCertificate,
    MedicalRecord,
    SignedDocument,
    utcnow,
)

__all__ = [
    "ID_LENGTH",
    "NOT_FOUND",
    "RecordSignatureStatus",
    "VerifyNotFound",
    "new_verify_id",
    "record_signature_status",
    "verify_url",
]

#: RFC 4648 base32 in lower case: no 0/1/8/9, nothing to mistake when typed.
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ID_LENGTH = 12  # 60 bits: not guessable, short enough to type from a print
VERIFY_PATH = "/verify"
NOT_FOUND = "未找到该签名记录，请核对验证链接"
_ID = re.compile(rf"[{ID_ALPHABET}]{{{ID_LENGTH}}}")
_TIME = "%Y-%m-%d %H:%M:%S"

VALID, SUPERSEDED, CERT_REVOKED = "valid", "superseded", "cert_revoked"
LABELS = {VALID: "签名有效", SUPERSEDED: "已撤销", CERT_REVOKED: "证书已吊销"}


class VerifyNotFound(HisError):
    """No signed record version has this id (or the id is malformed)."""


def new_verify_id() -> str:
    """A fresh random id for one signed version (``secrets``)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def verify_url(public_url: str, verify_id: str) -> str:
    """The link printed in the PDF footer and encoded in its QR code."""
    return f"{public_url.rstrip('/')}{VERIFY_PATH}/{verify_id}"


@dataclass(frozen=True)
class RecordSignatureStatus:
    """What ``/verify/<id>`` shows; display strings, no patient data."""

    status: str
    """``valid``, ``superseded`` (撤销签名 for an amendment) or ``cert_revoked``."""
    label: str
    """签名有效 / 已撤销 / 证书已吊销."""
    note: str
    """One sentence on what the status means for this version."""
    signer_name: str
    """The signing doctor, as named in the certificate."""
    clinic_name: str
    signed_at: str
    version: int
    sha256: str
    """SHA-256 of the signed PDF as stored: compare with a copy in hand."""
    cert_serial: str
    cert_status: str
    """有效 / 已过期 / 已吊销, with the date."""


def _common_name(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _status(
    session: Session,
    doc: SignedDocument,
    cert: DoctorCertificate | None,
    zone,
) -> tuple[str, str]:
    record = session.get(MedicalRecord, doc.record_id)
    if doc.superseded_at is not None or record is None or record.version != doc.version:
        newer = session.exec(
            select(SignedDocument.version)
            .where(
                SignedDocument.record_id == doc.record_id,
                SignedDocument.version > doc.version,
            )
            .order_by(col(SignedDocument.version).desc())
        ).first()
        if newer is not None:
            return SUPERSEDED, (
                f"医生已撤销该版本的签名并修订病历，最新签署版本为第{newer}版"
            )
        return SUPERSEDED, "医生已撤销该版本的签名以修订病历，修订后的病历尚未重新签署"
    if cert is not None and cert.status == CertStatus.REVOKED:
        when = cert.revoked_at.astimezone(zone).strftime(_TIME)
        if cert.revoked_at > doc.signed_at:
            return CERT_REVOKED, (
                f"签名证书已于 {when} 吊销；签名在吊销之前完成，签名时证书有效"
            )
        return CERT_REVOKED, f"签名证书已于 {when} 吊销，签名时证书已失效"
    return VALID, "该版本的签名有效，病历签名后未被修改"


def _cert_status(cert: DoctorCertificate | None, zone, now: datetime) -> str:
    if cert is None:
        return "未知"
    if cert.status == CertStatus.REVOKED:
        return f"已吊销（{cert.revoked_at.astimezone(zone):{_TIME}}）"
    until = cert.not_after.astimezone(zone).strftime("%Y-%m-%d")
    if now >= cert.not_after:
        return f"已过期（有效期至 {until}，签名时在有效期内）"
    return f"有效（有效期至 {until}）"


def record_signature_status(
    *, session: Session, verify_id: str, zone, now: datetime | None = None
) -> RecordSignatureStatus:
    """The signature status of the record version behind a verification link.

    A malformed id is looked up like any other (and found nowhere), so every
    unknown id gets the same answer in the same way.

    Raises:
        VerifyNotFound: No signed version has this id.
    """
    now = now or utcnow()
    wanted = str(verify_id).strip().lower()[: ID_LENGTH * 2]
    doc = session.exec(
        select(SignedDocument).where(SignedDocument.verify_id == wanted)
    ).first()
    if doc is None or not _ID.fullmatch(wanted):
        raise VerifyNotFound(NOT_FOUND)
    cert = session.exec(
        select(DoctorCertificate).where(DoctorCertificate.serial_hex == doc.cert_serial)
    ).first()
    record = session.get(MedicalRecord, doc.record_id)
    clinic = session.get(Clinic, record.clinic_id) if record else None
    status, note = _status(session, doc, cert, zone)
    return RecordSignatureStatus(
        status=status,
        label=LABELS[status],
        note=note,
        signer_name=_common_name(cert.cert_pem) if cert else "",
        clinic_name=clinic.name if clinic else "",
        signed_at=doc.signed_at.astimezone(zone).strftime(_TIME),
        version=doc.version,
        sha256=doc.sha256,
        cert_serial=doc.cert_serial,
        cert_status=_cert_status(cert, zone, now),
    )
