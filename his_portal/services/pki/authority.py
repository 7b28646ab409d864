"""The clinic's own CA: doctor, TSA and OCSP certificates, CRLs, and keys encrypted
at rest. What certificates assert (policies, AIA, the name form) is :mod:`.profile`.

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
from cryptography.x509.oid import AuthorityInformationAccessOID as AiaOID
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from his_portal.services.pki import profile
from his_portal.services.pki._x509 import (
    CLOCK_SKEW,
    RSA_BITS,
    add_years,
    aki,
    checked_serial,
    entity_name,
    key_usage,
    load_ca,
    utc,
)
from his_portal.services.pki.crl import RevokedEntry, build_crl
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
    "issue_ocsp_certificate",
    "issue_tsa_certificate",
    "load_or_create_kek",
]


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
class CertInfo:
    """What the UI shows about a certificate. Datetimes are aware UTC."""

    subject: str
    common_name: str
    issuer: str
    serial_hex: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256_fingerprint: str


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
    now = utc(now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = entity_name(clinic_name, f"{clinic_name} 电子病历签名CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(add_years(now, valid_years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _issued(cert, key)


class Issuing(TypedDict):
    """What every end-entity issuance takes (see :func:`issue_doctor_certificate`)."""

    ca_cert_pem: bytes
    ca_key: rsa.RSAPrivateKey
    now: dt.datetime
    crl_url: str
    serial: NotRequired[int | None]
    valid_days: NotRequired[int]
    ocsp_url: NotRequired[str]
    ca_issuers_url: NotRequired[str]
    policy_oid: NotRequired[str]
    cps_url: NotRequired[str]


def _aia(issuing: Issuing, *, ocsp: bool) -> x509.AuthorityInformationAccess | None:
    places = []
    if ocsp and issuing.get("ocsp_url"):
        uri = x509.UniformResourceIdentifier(issuing["ocsp_url"])
        places.append(x509.AccessDescription(AiaOID.OCSP, uri))
    if issuing.get("ca_issuers_url"):
        uri = x509.UniformResourceIdentifier(issuing["ca_issuers_url"])
        places.append(x509.AccessDescription(AiaOID.CA_ISSUERS, uri))
    return x509.AuthorityInformationAccess(places) if places else None


def _issue_end_entity(
    subject: x509.Name,
    key_usage: x509.KeyUsage,
    issuing: Issuing,
    *,
    eku: tuple[x509.ExtendedKeyUsage, bool] | None = None,
    policy_oid: str | None = None,
    ocsp_signer: bool = False,
) -> IssuedCert:
    """One end-entity certificate. An OCSP signer gets ``id-pkix-ocsp-nocheck``
    (RFC 6960 §4.2.2.2.1) instead of revocation pointers: nobody checks its status."""
    now = utc(issuing["now"])
    ca_key = issuing["ca_key"]
    ca_cert = load_ca(issuing["ca_cert_pem"], ca_key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    # Never outlive the CA: a chain with an expired issuer fails validation anyway.
    days = dt.timedelta(days=issuing.get("valid_days", 365))
    not_after = min(now + days, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(checked_serial(issuing.get("serial")))
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(aki(ca_cert), critical=False)
    )
    if ocsp_signer:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    else:
        cdp = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(issuing["crl_url"])],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([cdp]), False)
    aia = _aia(issuing, ocsp=not ocsp_signer)
    if aia is not None:
        builder = builder.add_extension(aia, critical=False)
    if policy_oid:
        policies = profile.certificate_policies(policy_oid, issuing.get("cps_url", ""))
        builder = builder.add_extension(policies, critical=False)
    if eku is not None:
        builder = builder.add_extension(eku[0], critical=eku[1])
    return _issued(builder.sign(ca_key, hashes.SHA256()), key)


def issue_doctor_certificate(
    *,
    doctor_name: str,
    clinic_name: str,
    user_id: int | str,
    **issuing: Unpack[Issuing],
) -> IssuedCert:
    """Issue a signing certificate with a fresh RSA-2048 key for one doctor.

    Key usage digitalSignature + nonRepudiation only (critical), no EKU (pdfsig and
    pyHanko accept the key usage alone). The subject is C, O, CN = the name, the
    name again as surname + givenName when the split is certain
    (:func:`.profile.person_name_attributes`), and ``UID=user-<user_id>`` to tell
    namesakes apart; never the ID-card number, which anyone holding a signed PDF
    could read.

    Args:
        doctor_name: The doctor's real (verified) name, the certificate CN.
        clinic_name: The clinic, the subject's O.
        user_id: The doctor's account id (UID).
        issuing: ``ca_cert_pem`` (the clinic CA certificate), ``ca_key`` (its
            private key, decrypted, in memory), ``now`` (the issuing time, aware),
            ``crl_url`` (the public URL of the CA's CRL), optional ``serial`` (a
            fixed serial for tests; random 159-bit by default), ``valid_days``
            (365 by default, capped at the CA's own expiry), ``ocsp_url`` and
            ``ca_issuers_url`` (Authority Information Access; left out when not
            given), ``policy_oid`` (:data:`.profile.DOCTOR_POLICY_OID` by
            default) and ``cps_url`` (the policy's CPS qualifier).

    Returns:
        The doctor's certificate and private key.
    """
    name = doctor_name.strip()
    if not name:
        raise PkiError("医生姓名不能为空")
    uid = x509.NameAttribute(NameOID.USER_ID, f"user-{user_id}")
    subject = entity_name(clinic_name, name, *profile.person_name_attributes(name), uid)
    return _issue_end_entity(
        subject,
        key_usage("digital_signature", "content_commitment"),
        issuing,
        policy_oid=issuing.get("policy_oid", profile.DOCTOR_POLICY_OID),
    )


def issue_tsa_certificate(
    *, clinic_name: str, **issuing: Unpack[Issuing]
) -> IssuedCert:
    """Issue the clinic timestamp authority's certificate: EKU timeStamping only,
    critical (RFC 3161 §2.3), and the TSA's policy (``policy_oid``,
    :data:`.profile.TSA_POLICY_OID` by default), which its tokens also name.

    Args: as :func:`issue_doctor_certificate` (``valid_days`` 1825 by default);
    ``clinic_name`` also forms the CN.

    Returns:
        The TSA certificate and private key.
    """
    return _issue_end_entity(
        entity_name(clinic_name, f"{clinic_name} 时间戳服务"),
        key_usage("digital_signature", "content_commitment"),
        {"valid_days": 1825, **issuing},
        eku=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
        policy_oid=issuing.get("policy_oid", profile.TSA_POLICY_OID),
    )


def issue_ocsp_certificate(
    *, clinic_name: str, **issuing: Unpack[Issuing]
) -> IssuedCert:
    """Issue the delegated OCSP signing certificate (RFC 6960 §4.2.2.2): EKU
    id-kp-OCSPSigning, key usage digitalSignature, ``id-pkix-ocsp-nocheck``, and
    no CRL or OCSP pointer of its own.

    Args: as :func:`issue_doctor_certificate` (``valid_days`` 365 by default;
    ``crl_url``, ``ocsp_url`` and the policy are not used).

    Returns:
        The OCSP signing certificate and private key.
    """
    return _issue_end_entity(
        entity_name(clinic_name, f"{clinic_name} OCSP服务"),
        key_usage("digital_signature"),
        issuing,
        eku=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
        ocsp_signer=True,
    )


# RFC 4514 spells only a few attribute types by name; these two by their X.520 names.
_SHORT_NAMES = {NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "GN"}


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
        subject=cert.subject.rfc4514_string(_SHORT_NAMES),
        common_name=str(cns[0].value) if cns else "",
        issuer=cert.issuer.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256_fingerprint=":".join(
            fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)
        ),
    )
