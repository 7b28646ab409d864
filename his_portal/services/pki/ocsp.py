"""The clinic CA's OCSP responder (RFC 6960), in-process and behind ``/pki/ocsp``.

Answers come from the database as it is now: ``good`` for a doctor certificate not
revoked and for the CA's own TSA and OCSP certificates (current and retired),
``revoked`` with its time and reason, ``unknown`` for a serial this CA never
issued. They are signed by the delegated OCSP signer (``certificates.OCSP``, EKU
id-kp-OCSPSigning with ``ocsp-nocheck``), which each response carries, and valid
for :data:`NEXT_UPDATE`. A request about another issuer gets ``unauthorized``; one
that does not parse, asks about several certificates at once or carries a nonce
over 32 octets (RFC 8954) gets ``malformedRequest``; both unsigned, as RFC 6960
§2.3 has it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from sqlmodel import Session, col, select

from his_portal.models import CertStatus, DoctorCertificate, IssuerKey, utcnow
from his_portal.services.pki import certificates
from his_portal.services.pki.crl import reason_flag
from his_portal.services.pki.keyvault import PkiError, open_issuer_key

__all__ = [
    "MAX_REQUEST_BYTES",
    "NEXT_UPDATE",
    "error_response",
    "request_from_path",
    "respond",
    "response_for",
]

NEXT_UPDATE = timedelta(hours=24)
#: A one-certificate request is ~100 bytes, ~250 with a signature-less nonce.
MAX_REQUEST_BYTES = 8192
_MAX_NONCE = 32
_NOT_OURS = "该证书不是本院CA签发的，无法提供OCSP状态"
_Status = ocsp.OCSPCertStatus


def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned OCSP error response (malformedRequest, tryLater, ...), DER."""
    unsuccessful = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return unsuccessful.public_bytes(serialization.Encoding.DER)


def request_from_path(encoded: str) -> bytes | None:
    """The DER request of a GET (RFC 6960 A.1: base64, then URL-encoded), or None
    when it is not base64. ASGI servers hand over the path decoded; decoding again
    is harmless (base64 has no ``%``) and covers one that does not."""
    if len(encoded) > MAX_REQUEST_BYTES * 2:
        return None
    try:
        return base64.b64decode(unquote(encoded).strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _signer(session: Session, kek: bytes) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    row = session.exec(
        select(IssuerKey).where(IssuerKey.purpose == certificates.OCSP)
    ).first()
    if row is None:
        raise PkiError("本院OCSP服务证书尚未创建，请先运行初始化（make run）")
    key = open_issuer_key(row.key_pem_enc.encode(), kek=kek, key_id=row.key_id)
    return x509.load_pem_x509_certificate(row.cert_pem.encode()), key


def _issuer_hashes(ca: x509.Certificate, algorithm: hashes.HashAlgorithm):
    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    key = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    return digest(ca.subject.public_bytes()), digest(key)


def _status(session: Session, serial: int, now: datetime):
    """(status, revocation time, reason) of one serial of our CA."""
    row = session.exec(
        select(DoctorCertificate).where(
            col(DoctorCertificate.serial_hex) == format(serial, "x")
        )
    ).first()
    if row is not None:
        revoked_at = row.revoked_at and row.revoked_at.astimezone(UTC).replace(
            microsecond=0
        )
        if row.status == CertStatus.REVOKED and revoked_at <= now:
            reason = reason_flag(row.revoke_reason or "unspecified")
            keep = None if reason is x509.ReasonFlags.unspecified else reason
            return _Status.REVOKED, revoked_at, keep
        return _Status.GOOD, None, None
    for pem in session.exec(select(IssuerKey.cert_pem)).all():
        if x509.load_pem_x509_certificate(pem.encode()).serial_number == serial:
            return _Status.GOOD, None, None
    return _Status.UNKNOWN, None, None


def _nonce(request: ocsp.OCSPRequest) -> x509.OCSPNonce | None:
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
    except x509.ExtensionNotFound:
        return None
    if not 0 < len(nonce.nonce) <= _MAX_NONCE:
        raise ValueError("nonce length")
    return nonce


def respond(
    *, session: Session, kek: bytes, request_der: bytes, now: datetime | None = None
) -> bytes:
    """Answer a DER ``OCSPRequest`` with a DER ``OCSPResponse``.

    Raises:
        PkiError: No CA or OCSP signer yet, or the KEK does not open the signer's
            key (the HTTP route answers tryLater / internalError).
    """
    now = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    try:
        if len(request_der) > MAX_REQUEST_BYTES:
            raise ValueError("request too large")
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        nonce = _nonce(request)
    except (ValueError, UnsupportedAlgorithm):
        return error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    ca = x509.load_pem_x509_certificate(
        certificates.ca_certificate_pem(session=session)
    )
    ours = _issuer_hashes(ca, algorithm)
    if (request.issuer_name_hash, request.issuer_key_hash) != ours:
        return error_response(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    return _answer(
        session,
        kek,
        issuer_hashes=ours,
        serial=request.serial_number,
        algorithm=algorithm,
        nonce=nonce,
        now=now,
    )


def _answer(
    session: Session,
    kek: bytes,
    *,
    issuer_hashes: tuple[bytes, bytes],
    serial: int,
    algorithm: hashes.HashAlgorithm,
    nonce: x509.OCSPNonce | None,
    now: datetime,
) -> bytes:
    """The signed response about one serial of our CA (DER)."""
    signer_cert, signer_key = _signer(session, kek)
    status, revoked_at, reason = _status(session, serial, now)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=issuer_hashes[0],
            issuer_key_hash=issuer_hashes[1],
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + NEXT_UPDATE,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        .certificates([signer_cert])
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    response = builder.sign(signer_key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def response_for(
    *, session: Session, kek: bytes, cert_pem: bytes, now: datetime | None = None
) -> bytes:
    """A signed OCSP response (DER) about one certificate of our CA, for embedding
    as validation data (the PDF's DSS). The CertID uses SHA-1, as RFC 5019 clients
    do, so validators of any age match it.

    Raises:
        PkiError: The certificate is not from our CA, or no CA / OCSP signer yet.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(
        certificates.ca_certificate_pem(session=session)
    )
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(_NOT_OURS) from None
    return _answer(
        session,
        kek,
        issuer_hashes=_issuer_hashes(ca, hashes.SHA1()),
        serial=cert.serial_number,
        algorithm=hashes.SHA1(),
        nonce=None,
        now=(now or utcnow()).astimezone(UTC).replace(microsecond=0),
    )
