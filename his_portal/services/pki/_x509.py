"""Small X.509 helpers shared by the issuing (:mod:`.authority`) and CRL
(:mod:`.crl`) code."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from his_portal.services.pki.keyvault import PkiError

RSA_BITS = 2048
# Back-date notBefore a little so a verifier whose clock runs slightly behind ours
# does not reject a certificate issued seconds ago.
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_SERIAL = 1 << 159  # RFC 5280: at most 20 octets, positive


KU_FLAGS = (
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


def key_usage(*flags: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: name in flags for name in KU_FLAGS})


def entity_name(
    clinic_name: str, common_name: str, *extra: x509.NameAttribute
) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, clinic_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            *extra,
        ]
    )


def aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC).replace(microsecond=0)


def add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def checked_serial(serial: int | None) -> int:
    if serial is None:
        return x509.random_serial_number()
    if not 0 < serial < MAX_SERIAL:
        raise PkiError("证书序列号超出范围")
    return serial


def load_ca(ca_cert_pem: bytes, ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    if ca_cert.public_key().public_numbers() != ca_key.public_key().public_numbers():
        raise PkiError("CA私钥与CA证书不匹配")
    return ca_cert
