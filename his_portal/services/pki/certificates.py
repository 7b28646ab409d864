"""The clinic CA in the database: created on first start with its timestamp
authority and its delegated OCSP signer, issuing and revoking doctors' certificates,
and publishing the CRL (cached, :mod:`.crl_cache`).

Keys are stored encrypted under the KEK (:mod:`.keyvault`); they are
decrypted in memory only when something must be signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlmodel import Session, col, select

from his_portal.models import CertStatus, DoctorCertificate, IssuerKey, utcnow
from his_portal.services.pki import authority as pki
from his_portal.services.pki import crl_cache
from his_portal.services.pki.keyvault import open_issuer_key
from his_portal.services.pki.profile import IssuingProfile

__all__ = [
    "Authority",
    "IssuingProfile",
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
OCSP = "ocsp"
#: The OCSP signer is renewed this long before it expires (at start, and by the
#: daily upkeep job), so responses never come from an expired certificate.
OCSP_RENEW_BEFORE = timedelta(days=60)
#: How often the app's maintenance runs the upkeep (``maintenance.run_pki_upkeep``).
UPKEEP_INTERVAL = timedelta(days=1)


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


def _issuing(profile: IssuingProfile, **extra) -> dict:
    """The :class:`pki.Issuing` items a profile fills (empty ones left out)."""
    items = {"ocsp_url": profile.ocsp_url, "ca_issuers_url": profile.ca_issuers_url}
    items |= {"cps_url": profile.cps_url} | extra
    return {key: value for key, value in items.items() if value}


def _row(session: Session, purpose: str) -> IssuerKey | None:
    return session.exec(select(IssuerKey).where(IssuerKey.purpose == purpose)).first()


def _policies(cert_pem: str) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return set()
    return {info.policy_identifier.dotted_string for info in ext.value}


def _retire(session: Session, row: IssuerKey) -> None:
    """Keep a replaced TSA or OCSP certificate (tokens and responses it signed
    still name it, and the OCSP responder still answers for it) under a purpose
    of its own."""
    row.purpose = f"{row.purpose}-{row.key_id}"[:16]
    session.add(row)
    session.flush()


def _stale(session: Session, profile: IssuingProfile, now: datetime) -> list[str]:
    """Which of the TSA and OCSP certificates are missing or due for renewal."""
    stale = []
    tsa = _row(session, TSA)
    if (
        tsa is None
        or _policies(tsa.cert_pem) != {profile.tsa_policy_oid}
        or _not_after(tsa.cert_pem) < now + profile.tsa_renew_before
    ):
        stale.append(TSA)
    ocsp = _row(session, OCSP)
    if ocsp is None or _not_after(ocsp.cert_pem) < now + OCSP_RENEW_BEFORE:
        stale.append(OCSP)
    return stale


def _not_after(cert_pem: str) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc


def ensure_authority(
    *,
    session: Session,
    kek: bytes,
    clinic_name: str,
    crl_url: str,
    now: datetime,
    profile: IssuingProfile | None = None,
) -> bool:
    """Create the clinic CA if the database has none, and keep its timestamp
    authority and OCSP signer current. Idempotent: run at every start.

    The TSA certificate is (re)issued when missing or when its policy is not
    ``profile.tsa_policy_oid``; the OCSP signer when missing or within
    :data:`OCSP_RENEW_BEFORE` of its expiry. A replaced one is kept (retired).

    Returns:
        True when the CA was created now. The caller commits.
    """
    profile = profile or IssuingProfile()
    created = _row(session, CA) is None
    if created:
        _store(session, CA, pki.create_ca(clinic_name=clinic_name, now=now), kek)
        session.flush()
    stale = _stale(session, profile, now)
    if not stale:
        return created
    ca = load_authority(session=session, kek=kek)
    common = {"ca_cert_pem": ca.cert_pem, "ca_key": ca.key, "now": now}
    for purpose in stale:
        old = _row(session, purpose)
        if old is not None:
            _retire(session, old)
        if purpose == TSA:
            issued = pki.issue_tsa_certificate(
                clinic_name=clinic_name,
                crl_url=crl_url,
                **common,
                **_issuing(profile, policy_oid=profile.tsa_policy_oid),
            )
        else:
            issued = pki.issue_ocsp_certificate(
                clinic_name=clinic_name,
                crl_url=crl_url,
                **common,
                **_issuing(profile),
            )
        _store(session, purpose, issued, kek)
    session.flush()
    return created


def load_authority(*, session: Session, kek: bytes, purpose: str = CA) -> Authority:
    """The CA (or TSA) certificate and decrypted key.

    Raises:
        pki.PkiError: The authority was never created (run ``cli init``).
        pki.KekError: The KEK does not open its key.
    """
    row = session.exec(select(IssuerKey).where(IssuerKey.purpose == purpose)).first()
    if row is None:
        raise pki.PkiError("本院CA尚未创建，请先运行初始化（make run）")
    key = open_issuer_key(row.key_pem_enc.encode(), kek=kek, key_id=row.key_id)
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
    profile: IssuingProfile | None = None,
) -> DoctorCertificate:
    """A fresh key pair and certificate for a verified doctor (caller commits).

    Any certificate the doctor still holds is revoked as superseded first, so a
    doctor has at most one usable key. ``profile`` gives the AIA pointers and the
    certificate policy (the defaults when left out: no AIA, the test policy).
    """
    profile = profile or IssuingProfile()
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
        **_issuing(profile, policy_oid=profile.policy_oid),
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
    crl_cache.invalidate()


def _revoked_entries(session: Session) -> list[pki.RevokedEntry]:
    rows = session.exec(
        select(DoctorCertificate).where(DoctorCertificate.status == CertStatus.REVOKED)
    ).all()
    return [
        pki.RevokedEntry(
            serial=int(row.serial_hex, 16),
            revoked_at=row.revoked_at,
            reason=row.revoke_reason or x509.ReasonFlags.unspecified,
        )
        for row in rows
    ]


def crl_der(*, session: Session, kek: bytes, now: datetime | None = None) -> bytes:
    """The CA's current CRL (DER) listing every revoked doctor certificate.

    Served from a cache: re-signed once a day, or as soon as the revoked set
    changes (:mod:`.crl_cache`); nextUpdate is a week after thisUpdate.
    """
    revoked = _revoked_entries(session)

    def sign(this_update: datetime) -> bytes:
        ca = load_authority(session=session, kek=kek)
        return pki.build_crl(
            ca_cert_pem=ca.cert_pem,
            ca_key=ca.key,
            revoked=revoked,
            now=this_update,
            next_update_hours=int(crl_cache.NEXT_UPDATE.total_seconds()) // 3600,
        )

    return crl_cache.cached_crl(
        ca_cert_pem=ca_certificate_pem(session=session),
        revoked=revoked,
        now=now or utcnow(),
        sign=sign,
    )
