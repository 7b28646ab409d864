"""The clinic's own CA: doctor and TSA certificates, CRLs, and keys encrypted at rest.

Private keys only leave these services as live key objects (in memory) or as
AES-256 encrypted PKCS#8 PEM (see :mod:`his_portal.services.pki.keyvault`, whose names
are re-exported here): nothing here writes an unencrypted key.

RSA-2048 throughout: ECDSA P-256 signatures made by endesive failed in poppler's
``pdfsig`` while RSA validates in both pdfsig and pyHanko.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict, Unpack

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from his_portal.services.pki.keyvault import (
    KEK_SIZE,
    KekError,
    PkiError,
    decrypt_private_key,
    encrypt_private_key,
    load_or_create_kek,
)

__all__ = [
    "KEK_SIZE",
    "CertInfo",
    "IssuedCert",
    "Issuing",
    "KekError",
    "PkiError",
    "RevokedEntry",
    "build_crl",
    "certificate_info",
    "create_ca",
    "decrypt_private_key",
    "encrypt_private_key",
    "issue_doctor_certificate",
    "issue_tsa_certificate",
    "load_or_create_kek",
]

_RSA_BITS = 2048
# Back-date notBefore a little so a verifier whose clock runs slightly behind ours
# does not reject a certificate issued seconds ago.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_MAX_SERIAL = 1 << 159  # RFC 5280: at most 20 octets, positive


@dataclass(frozen=True)
class IssuedCert:
    """A new certificate and its private key (in memory only).

    Persist the key with :func:`encrypt_private_key`, using ``key_id`` (the
    certificate's SubjectKeyIdentifier, hex) unless you have a better stable id.
    """

    cert_pem: bytes
    key: rsa.RSAPrivateKey = field(repr=False)
    serial: int
    key_id: str


@dataclass(frozen=True)
class RevokedEntry:
    """One line of a CRL. ``reason`` is an ``x509.ReasonFlags`` or its name/value,
    e.g. ``"key_compromise"`` or ``"keyCompromise"``."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | str = x509.ReasonFlags.unspecified


@dataclass(frozen=True)
class CertInfo:
    """What the UI shows about a certificate. Datetimes are aware UTC."""

    subject: str
    common_name: str
    issuer: str
    serial_hex: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256_fingerprint: str


_KU_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*flags: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: name in flags for name in _KU_FLAGS})


def _name(clinic_name: str, common_name: str, *extra: x509.NameAttribute) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, clinic_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            *extra,
        ]
    )


def _aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC).replace(microsecond=0)


def _add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def _serial(serial: int | None) -> int:
    if serial is None:
        return x509.random_serial_number()
    if not 0 < serial < _MAX_SERIAL:
        raise PkiError("证书序列号超出范围")
    return serial


def _issued(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> IssuedCert:
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return IssuedCert(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key=key,
        serial=cert.serial_number,
        key_id=ski.value.digest.hex(),
    )


def create_ca(
    *, clinic_name: str, now: dt.datetime, valid_years: int = 20
) -> IssuedCert:
    """Create the clinic's self-signed root CA (it signs only end-entity certs).

    Args:
        clinic_name: The clinic's legal name, used in O and CN.
        now: The issuing time (aware).
        valid_years: Lifetime of the CA certificate.

    Returns:
        The CA certificate and its new RSA-2048 key.
    """
    now = _utc(now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    name = _name(clinic_name, f"{clinic_name} 电子病历签名CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(_add_years(now, valid_years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _issued(cert, key)


def _load_ca(ca_cert_pem: bytes, ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    if ca_cert.public_key().public_numbers() != ca_key.public_key().public_numbers():
        raise PkiError("CA私钥与CA证书不匹配")
    return ca_cert


def _issue_end_entity(
    *,
    ca_cert_pem: bytes,
    ca_key: rsa.RSAPrivateKey,
    subject: x509.Name,
    serial: int | None = None,
    now: dt.datetime,
    valid_days: int,
    crl_url: str,
    eku: x509.ExtendedKeyUsage | None,
) -> IssuedCert:
    now = _utc(now)
    ca_cert = _load_ca(ca_cert_pem, ca_key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    # Never outlive the CA: a chain with an expired issuer fails validation anyway.
    not_after = min(now + dt.timedelta(days=valid_days), ca_cert.not_valid_after_utc)
    cdp = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(crl_url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial(serial))
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature", "content_commitment"), critical=True
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(_aki(ca_cert), critical=False)
        .add_extension(x509.CRLDistributionPoints([cdp]), critical=False)
    )
    if eku is not None:
        # RFC 3161 §2.3: a TSA certificate's EKU must be critical.
        builder = builder.add_extension(eku, critical=True)
    return _issued(builder.sign(ca_key, hashes.SHA256()), key)


class Issuing(TypedDict):
    """What every end-entity issuance takes (see :func:`issue_doctor_certificate`)."""

    ca_cert_pem: bytes
    ca_key: rsa.RSAPrivateKey
    now: dt.datetime
    crl_url: str
    serial: NotRequired[int | None]
    valid_days: NotRequired[int]


def issue_doctor_certificate(
    *,
    doctor_name: str,
    clinic_name: str,
    user_id: int | str,
    **issuing: Unpack[Issuing],
) -> IssuedCert:
    """Issue a signing certificate with a fresh RSA-2048 key for one doctor.

    The subject carries ``UID=user-<user_id>`` to tell namesakes apart; it never
    carries the ID-card number, because anyone holding a signed PDF can read it.
    No EKU is set: pdfsig and pyHanko accept the key usage alone.

    Args:
        doctor_name: The doctor's real (verified) name, the certificate CN.
        clinic_name: The clinic, the subject's O.
        user_id: The doctor's account id (UID).
        issuing: ``ca_cert_pem`` (the clinic CA certificate), ``ca_key`` (its
            private key, decrypted, in memory), ``now`` (the issuing time, aware),
            ``crl_url`` (the public URL of the CA's CRL), optional ``serial`` (a
            fixed serial for tests; random 159-bit by default) and ``valid_days``
            (365 by default, capped at the CA's own expiry).

    Returns:
        The doctor's certificate and private key.
    """
    if not doctor_name.strip():
        raise PkiError("医生姓名不能为空")
    uid = x509.NameAttribute(NameOID.USER_ID, f"user-{user_id}")
    subject = _name(clinic_name, doctor_name.strip(), uid)
    return _issue_end_entity(
        subject=subject, eku=None, **{"valid_days": 365, **issuing}
    )


def issue_tsa_certificate(
    *, clinic_name: str, **issuing: Unpack[Issuing]
) -> IssuedCert:
    """Issue the clinic timestamp authority's certificate (EKU timeStamping, critical).

    Args: as :func:`issue_doctor_certificate` (``valid_days`` 1825 by default);
    ``clinic_name`` also forms the CN.

    Returns:
        The TSA certificate and private key.
    """
    return _issue_end_entity(
        subject=_name(clinic_name, f"{clinic_name} 时间戳服务"),
        eku=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
        **{"valid_days": 1825, **issuing},
    )


def _reason(reason: x509.ReasonFlags | str) -> x509.ReasonFlags:
    if isinstance(reason, x509.ReasonFlags):
        return reason
    for flag in x509.ReasonFlags:
        if reason in (flag.name, flag.value):
            return flag
    raise PkiError(f"未知的吊销原因：{reason}")


def build_crl(
    *,
    ca_cert_pem: bytes,
    ca_key: rsa.RSAPrivateKey,
    revoked: list[RevokedEntry],
    now: dt.datetime,
    next_update_hours: int = 24,
    crl_number: int | None = None,
) -> bytes:
    """Build and sign the CA's CRL.

    Args:
        ca_cert_pem: The clinic CA certificate.
        ca_key: The CA private key (decrypted, in memory).
        revoked: Every revoked, not yet expired certificate.
        now: thisUpdate (aware).
        next_update_hours: Hours until nextUpdate.
        crl_number: The CRL number (RFC 5280 requires one, increasing); defaults
            to ``now`` in Unix seconds, which increases as long as the clock does.

    Returns:
        The CRL, DER-encoded.
    """
    now = _utc(now)
    ca_cert = _load_ca(ca_cert_pem, ca_key)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(hours=next_update_hours))
        .add_extension(x509.CRLNumber(crl_number or int(now.timestamp())), False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(_utc(entry.revoked_at))
        )
        reason = _reason(entry.reason)
        # RFC 5280 §5.3.1: omit the reason code rather than say "unspecified".
        if reason is not x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def certificate_info(cert_pem: bytes) -> CertInfo:
    """Summarise a PEM certificate for display.

    Args:
        cert_pem: One PEM certificate.

    Returns:
        Subject and issuer (RFC 4514), serial, validity and SHA-256 fingerprint.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=str(cns[0].value) if cns else "",
        issuer=cert.issuer.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256_fingerprint=":".join(
            fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)
        ),
    )
