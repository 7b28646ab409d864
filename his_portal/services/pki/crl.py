"""The CA's certificate revocation list (RFC 5280 §5), built and signed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from his_portal.services.pki._x509 import aki, load_ca, utc
from his_portal.services.pki.keyvault import PkiError

__all__ = ["RevokedEntry", "build_crl", "reason_flag"]


@dataclass(frozen=True)
class RevokedEntry:
    """One line of a CRL. ``reason`` is an ``x509.ReasonFlags`` or its name/value,
    e.g. ``"key_compromise"`` or ``"keyCompromise"``."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | str = x509.ReasonFlags.unspecified


def reason_flag(reason: x509.ReasonFlags | str) -> x509.ReasonFlags:
    """The reason as a flag, from a flag, its name or its value.

    Raises:
        PkiError: An unknown reason.
    """
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
    now = utc(now)
    ca_cert = load_ca(ca_cert_pem, ca_key)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(hours=next_update_hours))
        .add_extension(x509.CRLNumber(crl_number or int(now.timestamp())), False)
        .add_extension(aki(ca_cert), critical=False)
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(utc(entry.revoked_at))
        )
        reason = reason_flag(entry.reason)
        # RFC 5280 §5.3.1: omit the reason code rather than say "unspecified".
        if reason is not x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)
