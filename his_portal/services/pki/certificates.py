"""The clinic CA in the database: created on first start, issuing and revoking
doctors' certificates, and publishing the CRL.

Keys are stored encrypted under the KEK (:mod:`.keyvault`); they are
decrypted in memory only when something must be signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlmodel import Session, col, select

from his_portal.models import CertStatus, DoctorCertificate, IssuerKey, utcnow
from his_portal.services.pki import authority as pki

__all__ = [
    "Authority",
    "active_certificate",
    "ca_certificate_pem",
    "crl_der",
    "ensure_authority",
    "issue_for_doctor",
    "load_authority",
    "revoke_certificate",
]

CA = "ca"
TSA = "tsa"


@dataclass(frozen=True)
class Authority:
    """A CA or TSA certificate with its key, decrypted for one operation."""

    cert_pem: bytes
    key: object


def _store(session: Session, purpose: str, issued: pki.IssuedCert, kek: bytes) -> None:
    session.add(
        IssuerKey(
            purpose=purpose,
            cert_pem=issued.cert_pem.decode(),
            key_pem_enc=pki.encrypt_private_key(
                issued.key, kek=kek, key_id=issued.key_id
            ).decode(),
            key_id=issued.key_id,
        )
    )


def ensure_authority(
    *, session: Session, kek: bytes, clinic_name: str, crl_url: str, now: datetime
) -> bool:
    """Create the clinic CA and its timestamp authority if the database has none.

    Returns:
        True when they were created now. The caller commits.
    """
    if session.exec(select(IssuerKey).where(IssuerKey.purpose == CA)).first():
        return False
    ca = pki.create_ca(clinic_name=clinic_name, now=now)
    _store(session, CA, ca, kek)
    tsa = pki.issue_tsa_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        clinic_name=clinic_name,
        now=now,
        crl_url=crl_url,
    )
    _store(session, TSA, tsa, kek)
    session.flush()
    return True


def load_authority(*, session: Session, kek: bytes, purpose: str = CA) -> Authority:
    """The CA (or TSA) certificate and decrypted key.

    Raises:
        pki.PkiError: The authority was never created (run ``cli init``).
        pki.KekError: The KEK does not open its key.
    """
    row = session.exec(select(IssuerKey).where(IssuerKey.purpose == purpose)).first()
    if row is None:
        raise pki.PkiError("本院CA尚未创建，请先运行初始化（make run）")
    key = pki.decrypt_private_key(row.key_pem_enc.encode(), kek=kek, key_id=row.key_id)
    return Authority(cert_pem=row.cert_pem.encode(), key=key)


def ca_certificate_pem(*, session: Session) -> bytes:
    """The CA certificate (public), for download and for validators."""
    row = session.exec(select(IssuerKey).where(IssuerKey.purpose == CA)).first()
    if row is None:
        raise pki.PkiError("本院CA尚未创建，请先运行初始化（make run）")
    return row.cert_pem.encode()


def active_certificate(*, session: Session, user_id: int) -> DoctorCertificate | None:
    """The doctor's certificate in use, if any."""
    return session.exec(
        select(DoctorCertificate)
        .where(
            DoctorCertificate.user_id == user_id,
            DoctorCertificate.status == CertStatus.ACTIVE,
        )
        .order_by(col(DoctorCertificate.id).desc())
    ).first()


def issue_for_doctor(
    *,
    session: Session,
    kek: bytes,
    user_id: int,
    doctor_name: str,
    clinic_name: str,
    valid_days: int,
    crl_url: str,
    now: datetime,
) -> DoctorCertificate:
    """A fresh key pair and certificate for a verified doctor (caller commits).

    Any certificate the doctor still holds is revoked as superseded first, so a
    doctor has at most one usable key.
    """
    previous = active_certificate(session=session, user_id=user_id)
    if previous is not None:
        revoke_certificate(session=session, cert=previous, reason="superseded", now=now)
    ca = load_authority(session=session, kek=kek)
    issued = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name=doctor_name,
        clinic_name=clinic_name,
        user_id=user_id,
        now=now,
        valid_days=valid_days,
        crl_url=crl_url,
    )
    info = pki.certificate_info(issued.cert_pem)
    cert = DoctorCertificate(
        user_id=user_id,
        serial_hex=info.serial_hex,
        cert_pem=issued.cert_pem.decode(),
        key_pem_enc=pki.encrypt_private_key(
            issued.key, kek=kek, key_id=issued.key_id
        ).decode(),
        key_id=issued.key_id,
        subject=info.subject,
        fingerprint=info.sha256_fingerprint,
        not_before=info.not_before,
        not_after=info.not_after,
    )
    session.add(cert)
    session.flush()
    return cert


def revoke_certificate(
    *,
    session: Session,
    cert: DoctorCertificate,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Mark a certificate revoked; the next CRL lists it (caller commits)."""
    if cert.status == CertStatus.REVOKED:
        return
    cert.status = CertStatus.REVOKED
    cert.revoked_at = now or utcnow()
    cert.revoke_reason = reason
    session.add(cert)
    session.flush()


def crl_der(*, session: Session, kek: bytes, now: datetime | None = None) -> bytes:
    """A freshly signed CRL (DER) listing every revoked doctor certificate."""
    now = now or utcnow()
    ca = load_authority(session=session, kek=kek)
    revoked = session.exec(
        select(DoctorCertificate).where(DoctorCertificate.status == CertStatus.REVOKED)
    ).all()
    return pki.build_crl(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        revoked=[
            pki.RevokedEntry(
                serial=int(row.serial_hex, 16),
                revoked_at=row.revoked_at,
                reason=row.revoke_reason or x509.ReasonFlags.unspecified,
            )
            for row in revoked
        ],
        now=now,
    )
