"""验证: anyone (no login) checks a signed PDF they hold. Nothing of the file is
stored; the report names signers, times and certificate states, never a patient.

Each signature is validated by pyHanko with the clinic CA as the only trust root
and the revocation data from our own database (a CRL built from the certificate
table); nothing is ever fetched, whatever URLs the uploaded file names. The signer's
certificate is judged at the time the trusted signature timestamp proves (a doctor
whose certificate was revoked or expired afterwards still signed validly then),
the timestamp itself now. pyHanko's difference analysis tells whether anything was
changed or added after a signature: a PAdES B-LTA record carries, after the
signature, a DSS (validation data) and a document timestamp over the whole file,
which are the allowed long-term-validation updates; anything else, or bytes after
the last timestamp, is reported. The file's SHA-256 (and that of each signed or
timestamped revision) is looked up among the signed versions this system stored.

Checking costs CPU (tens of milliseconds, more for large files): callers run
:func:`verify_pdf` in a worker thread, at most :data:`PARALLEL_CHECKS` at a time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from datetime import datetime

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlmodel import Session, select

from his_portal.errors import HisError
from his_portal.models import DoctorCertificate, utcnow
from his_portal.services.pki import certificates
from his_portal.services.signing import verification_report as texts
from his_portal.services.signing.archive_renewal import document_by_hash
from his_portal.services.signing.pades_level import LABELS, signature_level
from his_portal.services.signing.validation import seals_whole_file, stamp_verifies
from his_portal.services.signing.verification_report import (
    SignatureCheck,
    VerificationReport,
)

__all__ = [
    "MAX_PDF_BYTES",
    "SignatureCheck",
    "VerificationError",
    "VerificationReport",
    "check_upload",
    "verify_pdf",
]

log = logging.getLogger(__name__)

MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_SIGNATURES = 10
PARALLEL_CHECKS = 2
_BUSY_SECONDS = 20
_HEADER_WINDOW = 1024  # the PDF header may follow some bytes of junk (ISO 32000)
_slots = threading.BoundedSemaphore(PARALLEL_CHECKS)

NOT_PDF = "该文件不是PDF文件，请上传签名的病历PDF"
TOO_LARGE = "文件超过20MB，无法验证"
EMPTY = "文件为空，请重新选择"
ENCRYPTED = "该PDF文件已加密，无法验证；请上传未加密的签名文件"
BROKEN = "PDF文件已损坏，无法读取"
UNSIGNED = "该PDF文件没有电子签名"
TOO_MANY = f"签名数量超过{MAX_SIGNATURES}个，无法验证"
BUSY = "验证服务繁忙，请稍后再试"
NO_MATCH = "未找到与之一致的本系统签署文件（文件已被修改，或并非本系统签署）"
APPENDED = "签名部分与本系统第{version}版签署文件一致，但文件在签名后被追加了内容"


class VerificationError(HisError):
    """The file cannot be checked at all; nothing was stored."""


def check_upload(data: bytes) -> None:
    """The checks that need no parsing: size and the PDF header.

    Raises:
        VerificationError: Empty, over :data:`MAX_PDF_BYTES`, or not a PDF.
    """
    if not data:
        raise VerificationError(EMPTY)
    if len(data) > MAX_PDF_BYTES:
        raise VerificationError(TOO_LARGE)
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise VerificationError(NOT_PDF)


def _signatures(
    data: bytes,
) -> tuple[list[EmbeddedPdfSignature], list[EmbeddedPdfSignature]]:
    """The signatures, and all signature objects (document timestamps too)."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise VerificationError(ENCRYPTED)
        signatures = list(reader.embedded_regular_signatures)
        everything = list(reader.embedded_signatures)
    except VerificationError:
        raise
    except Exception as exc:  # any parser failure on a hostile file: unreadable
        log.info("unreadable PDF upload: %r", exc)
        raise VerificationError(BROKEN) from exc
    if not signatures:
        raise VerificationError(UNSIGNED)
    if len(everything) > MAX_SIGNATURES:
        raise VerificationError(TOO_MANY)
    return signatures, everything


def _claimed_timestamp(signature: EmbeddedPdfSignature) -> datetime | None:
    """The genTime the signature timestamp claims (checked by pyHanko later)."""
    try:
        for attr in signature.signer_info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                content = attr["values"][0]["content"]["encap_content_info"]
                return content["content"].parsed["gen_time"].native
    except (KeyError, ValueError, TypeError, AttributeError, IndexError):
        return None
    return None


def _cert_row(session: Session, cert: x509.Certificate) -> DoctorCertificate | None:
    """Our row for exactly this certificate (same serial *and* same bytes)."""
    row = session.exec(
        select(DoctorCertificate).where(
            DoctorCertificate.serial_hex == format(cert.serial_number, "x")
        )
    ).first()
    if row is None or pem.unarmor(row.cert_pem.encode())[2] != cert.dump():
        return None
    return row


def _field_name(signature: EmbeddedPdfSignature) -> str:
    try:
        return str(signature.field_name)
    except Exception:  # a hostile signature field
        return ""


_BLANK = (
    "signer",
    "issuer",
    "serial",
    "cert_status",
    "signing_time",
    "timestamp",
    "tsa",
    "changes",
    "coverage",
    "level",
)


def _broken(signature: EmbeddedPdfSignature) -> SignatureCheck:
    return SignatureCheck(
        field_name=_field_name(signature),
        valid=False,
        reasons=("签名数据已损坏，无法校验",),
        covers_whole_file=False,
        **dict.fromkeys(_BLANK, ""),
    )


def _check(
    session: Session,
    signature: EmbeddedPdfSignature,
    *,
    roots: list[x509.Certificate],
    crl: bytes,
    zone,
    now: datetime,
    tail_covered: bool,
) -> SignatureCheck:
    common = {"trust_roots": roots, "crls": [crl], "allow_fetching": False}
    signer_context = ValidationContext(
        **common,
        moment=_claimed_timestamp(signature) or now,
        retroactive_revinfo=True,  # our CRL is from now, the moment may be earlier
    )
    stamp_context = ValidationContext(**common, moment=now)
    try:
        status = validate_pdf_signature(
            signature,
            signer_validation_context=signer_context,
            ts_validation_context=stamp_context,
        )
        level = signature_level(
            signature, stamp_ok=lambda stamp: stamp_verifies(stamp, stamp_context)
        )
    except Exception as exc:  # any failure on a hostile signature: not checkable
        log.info("signature could not be validated: %r", exc)
        return _broken(signature)
    cert = status.signing_cert
    row = _cert_row(session, cert)
    stamp = status.timestamp_validity
    reported = status.signer_reported_dt
    reasons = texts.reasons(status, row)
    return SignatureCheck(
        field_name=_field_name(signature),
        valid=not reasons,
        reasons=tuple(reasons),
        signer=texts.name_of(cert),
        issuer=texts.name_of(cert, "issuer"),
        serial=format(cert.serial_number, "x"),
        cert_status=texts.cert_status(row, status.trusted or status.revoked, zone, now),
        signing_time=reported.astimezone(zone).strftime(texts.TIME) if reported else "",
        timestamp=(
            stamp.timestamp.astimezone(zone).strftime(texts.TIME)
            if stamp is not None
            else "无"
        ),
        tsa=texts.name_of(stamp.signing_cert) if stamp is not None else "",
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        coverage=texts.coverage(status, tail_covered=tail_covered),
        changes=texts.changes(status, tail_covered=tail_covered),
        level=LABELS[level],
    )


def _range_end(signature: EmbeddedPdfSignature) -> int:
    """Where the revision a signature (or timestamp) covers ends; 0: unusable."""
    try:
        start, _, offset, length = (int(v) for v in signature.sig_object["/ByteRange"])
    except Exception:  # a hostile /ByteRange: no signed part to compare
        return 0
    return offset + length if start == 0 else 0


def _match(
    session: Session, data: bytes, signatures: list[EmbeddedPdfSignature]
) -> tuple[bool, str]:
    found = document_by_hash(session, hashlib.sha256(data).hexdigest())
    if found is not None:
        text = f"与本系统第{found.version}版签署文件一致"
        if found.superseded_at is not None:
            text += "（该版本的签名已撤销，病历已修订）"
        return True, text
    for signature in signatures:
        end = _range_end(signature)
        found = (
            document_by_hash(session, hashlib.sha256(data[:end]).hexdigest())
            if 0 < end < len(data)
            else None
        )
        if found is not None:
            return False, APPENDED.format(version=found.version)
    return False, NO_MATCH


def verify_pdf(
    *, session: Session, data: bytes, kek: bytes, zone, now: datetime | None = None
) -> VerificationReport:
    """Check every signature of an uploaded PDF (blocking: run it in a thread).

    Args:
        session: For the CA, the certificate table and the stored hashes (read only).
        data: The uploaded file, in memory.
        kek: Opens the CA key that signs the CRL handed to the validator.
        zone: Times are shown in this zone.
        now: Certificates' current state as of this time; default now.

    Raises:
        VerificationError: Empty, too large, not a PDF, encrypted, unreadable,
            unsigned, too many signatures, or too many checks running.
    """
    check_upload(data)
    now = now or utcnow()
    if not _slots.acquire(timeout=_BUSY_SECONDS):
        raise VerificationError(BUSY)
    try:
        signatures, everything = _signatures(data)
        ca_pem = certificates.ca_certificate_pem(session=session)
        roots = [x509.Certificate.load(pem.unarmor(ca_pem)[2])]
        crl = certificates.crl_der(session=session, kek=kek, now=now)
        context = ValidationContext(
            trust_roots=roots, crls=[crl], allow_fetching=False, moment=now
        )
        last = everything[-1]
        tail_covered = _range_end(last) == len(data) and (
            last.sig_object_type != "/DocTimeStamp" or seals_whole_file(last, context)
        )
        checks = tuple(
            _check(
                session,
                signature,
                roots=roots,
                crl=crl,
                zone=zone,
                now=now,
                tail_covered=tail_covered,
            )
            for signature in signatures
        )
        matched, match = _match(session, data, everything)
    finally:
        _slots.release()
    return VerificationReport(
        signatures=checks,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        matched=matched,
        match=match,
    )
