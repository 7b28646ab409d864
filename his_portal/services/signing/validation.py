"""Check signed PDFs with validators nobody here wrote: pyHanko and poppler's pdfsig.

pyHanko gives the full PAdES picture (integrity, trust in our CA only, the
signature timestamp, what was appended after the signature: for a B-LTA record
only the DSS and the document timestamp, which covers the whole file).
``pdfsig`` is what a patient's lawyer or an auditor may run on their own machine;
its trust comes from an NSS database (:func:`make_nss_db`). pyHanko never fetches
anything here. pdfsig does: our certificates name the clinic's OCSP responder
(AIA), which it asks about the signer's certificate when it can reach it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from his_portal.services.signing.pades import SigningError
from his_portal.services.signing.pades_level import PadesLevel, signature_level

__all__ = [
    "PdfsigReport",
    "PdfsigSignature",
    "ValidationError",
    "ValidationReport",
    "make_nss_db",
    "seals_whole_file",
    "stamp_verifies",
    "validate_with_pdfsig",
    "validate_with_pyhanko",
]

_TIMEOUT = 60  # seconds for one pdfsig / certutil run


class ValidationError(SigningError):
    """The file could not be checked at all (not a PDF, no signature, no tool)."""


@dataclass(frozen=True)
class ValidationReport:
    """pyHanko's verdict on the last signature of a PDF."""

    intact: bool
    """The signed bytes hash to the digest in the signature."""
    valid: bool
    """The CMS signature over that digest verifies with the signer's key."""
    trusted: bool
    """The signer's chain ends at one of the given trust roots."""
    timestamp_present: bool
    """The signature carries an RFC 3161 signature timestamp (PAdES B-T)."""
    timestamp_valid: bool
    """That timestamp is intact, valid and its TSA is trusted."""
    timestamp_time: dt.datetime | None
    """The TSA's time (genTime), aware UTC; None without a timestamp."""
    covers_whole_file: bool
    """Nothing at all was appended after the signature (B-T)."""
    lta_updates_only: bool
    """What was appended after the signature is long-term validation data only
    (a DSS, document timestamps), as pyHanko's difference analysis judges it."""
    dss_present: bool
    """The file has a document security store (B-LT)."""
    doc_timestamp_valid: bool
    """The last document timestamp is intact, valid and its TSA trusted."""
    doc_timestamp_covers_whole_file: bool
    """Nothing was appended after the last document timestamp."""
    doc_timestamp_time: dt.datetime | None
    """The last document timestamp's genTime; None without one."""
    signer_cn: str
    """The signing certificate's common name."""
    signing_time: dt.datetime | None
    """The time the signer claimed (``/M``); None if absent."""
    signature_count: int
    """How many signatures the file has, document timestamps not counted (the
    report is about the last one)."""
    summary: str
    """pyHanko's one-line summary, for logs."""
    level: PadesLevel
    """The last signature's PAdES level, by structure (:mod:`.pades_level`)."""

    @property
    def archived(self) -> bool:
        """B-LTA: only validation data after the signature, then a valid
        document timestamp over the whole file."""
        return (
            self.lta_updates_only
            and self.dss_present
            and self.doc_timestamp_valid
            and self.doc_timestamp_covers_whole_file
        )

    @property
    def ok(self) -> bool:
        """Everything a signed medical record needs holds."""
        return (
            self.intact
            and self.valid
            and self.trusted
            and self.timestamp_valid
            and (self.covers_whole_file or self.archived)
        )


def _certificates(pems: Sequence[bytes]) -> list[x509.Certificate]:
    certs = []
    for data in pems:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        certs.append(x509.Certificate.load(der))
    return certs


def validate_with_pyhanko(
    pdf: bytes,
    *,
    trust_roots_pem: Sequence[bytes],
    crls_der: Sequence[bytes] = (),
    moment: dt.datetime | None = None,
) -> ValidationReport:
    """Validate the last signature with pyHanko, trusting only the given roots.

    Revocation is soft-fail: CRLs passed in are used (a revoked certificate is
    untrusted), missing ones are not fetched and not held against the signer.

    Args:
        pdf: The signed PDF.
        trust_roots_pem: The only trust anchors (the clinic CA), PEM or DER.
        crls_der: CRLs to check revocation with, DER.
        moment: Validate as of this time (aware); default now.

    Raises:
        ValidationError: Unreadable PDF, or no signature in it.
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_regular_signatures
        stamps = reader.embedded_timestamp_signatures
        dss_present = "/DSS" in reader.root
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError("无法读取该PDF文件") from exc
    if not signatures:
        raise ValidationError("该PDF文件没有电子签名")
    context = ValidationContext(
        trust_roots=_certificates(trust_roots_pem),
        allow_fetching=False,
        crls=list(crls_der),
        revocation_mode="soft-fail",
        moment=moment,
    )
    signature = signatures[-1]
    try:
        status = validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=context
        )
        archive = _doc_timestamp(stamps[-1], context) if stamps else None
        # A document timestamp raises the level only when its token verifies (the
        # newest was just checked; an earlier one is checked when it matters).
        level = signature_level(
            signature,
            stamp_ok=lambda stamp: (
                archive.valid if stamp is stamps[-1] else stamp_verifies(stamp, context)
            ),
        )
    except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError("签名数据已损坏，无法校验") from exc
    stamp = status.timestamp_validity
    names = status.signing_cert.subject.native
    return ValidationReport(
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        timestamp_present=stamp is not None,
        timestamp_valid=bool(stamp and stamp.intact and stamp.valid and stamp.trusted),
        timestamp_time=stamp.timestamp if stamp else None,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        lta_updates_only=status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level == ModificationLevel.LTA_UPDATES,
        dss_present=dss_present,
        doc_timestamp_valid=bool(archive and archive.valid),
        doc_timestamp_covers_whole_file=bool(archive and archive.covers_whole_file),
        doc_timestamp_time=archive.time if archive else None,
        signer_cn=str(names.get("common_name", "")),
        signing_time=status.signer_reported_dt,
        signature_count=len(signatures),
        summary=status.summary(),
        level=level,
    )


@dataclass(frozen=True)
class _DocTimestamp:
    valid: bool
    covers_whole_file: bool
    time: dt.datetime


def seals_whole_file(stamp: EmbeddedPdfSignature, context: ValidationContext) -> bool:
    """Whether ``stamp`` is a document timestamp, intact, valid and trusted under
    ``context``, over the whole file: only then are the updates before it the
    allowed long-term validation data (a /DocTimeStamp field is not enough)."""
    archive = _checked_doc_timestamp(stamp, context)
    return archive is not None and archive.valid and archive.covers_whole_file


def stamp_verifies(stamp: EmbeddedPdfSignature, context: ValidationContext) -> bool:
    """Whether ``stamp`` is a document timestamp whose token is intact, valid and
    trusted under ``context`` (wherever in the file it is)."""
    archive = _checked_doc_timestamp(stamp, context)
    return archive is not None and archive.valid


def _checked_doc_timestamp(
    stamp: EmbeddedPdfSignature, context: ValidationContext
) -> _DocTimestamp | None:
    if stamp.sig_object_type != "/DocTimeStamp":
        return None
    try:
        return _doc_timestamp(stamp, context)
    except Exception:  # a hostile token or /ByteRange: not a timestamp we accept
        return None


def _doc_timestamp(
    stamp: EmbeddedPdfSignature, context: ValidationContext
) -> _DocTimestamp:
    status = validate_pdf_timestamp(stamp, validation_context=context)
    return _DocTimestamp(
        valid=status.intact and status.valid and status.trusted,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        time=status.timestamp,
    )


@dataclass(frozen=True)
class PdfsigSignature:
    """One ``Signature #n`` block of ``pdfsig`` output, as printed."""

    field_name: str
    signer_cn: str
    signing_time: str
    hash_algorithm: str
    signature_type: str
    signed_ranges: str
    total_document_signed: bool
    """pdfsig printed "Total document signed"."""
    signature_status: str
    """E.g. "Signature is Valid." or "Digest Mismatch."."""
    certificate_status: str
    """E.g. "Certificate is Trusted." or "Certificate issuer isn't Trusted."."""

    @property
    def signature_valid(self) -> bool:
        return self.signature_status == "Signature is Valid."

    @property
    def certificate_trusted(self) -> bool:
        return self.certificate_status == "Certificate is Trusted."


@dataclass(frozen=True)
class PdfsigReport:
    """``pdfsig`` on one file."""

    signatures: tuple[PdfsigSignature, ...]
    stdout: str
    stderr: str
    """Warnings, e.g. "Dictionary key must be a name object"; empty when clean."""
    returncode: int


_FIELDS = {
    "Signature Field Name": "field_name",
    "Signer Certificate Common Name": "signer_cn",
    "Signing Time": "signing_time",
    "Signing Hash Algorithm": "hash_algorithm",
    "Signature Type": "signature_type",
    "Signed Ranges": "signed_ranges",
    "Signature Validation": "signature_status",
    "Certificate Validation": "certificate_status",
}


def _parse_pdfsig(stdout: str) -> tuple[PdfsigSignature, ...]:
    blocks = re.split(r"^Signature #\d+:\s*$", stdout, flags=re.MULTILINE)[1:]
    signatures = []
    for block in blocks:
        values = dict.fromkeys(_FIELDS.values(), "")
        total = False
        for line in block.splitlines():
            item = line.strip().removeprefix("- ")
            key, sep, value = item.partition(": ")
            if sep and key in _FIELDS:
                values[_FIELDS[key]] = value.strip()
            total = total or item == "Total document signed"
        signatures.append(PdfsigSignature(total_document_signed=total, **values))
    return tuple(signatures)


def validate_with_pdfsig(pdf: bytes, *, nss_dir: Path | None = None) -> PdfsigReport:
    """Run poppler's ``pdfsig`` on the PDF.

    Args:
        pdf: The signed PDF.
        nss_dir: An NSS database trusting our CA (:func:`make_nss_db`); without
            one pdfsig reports the issuer as not trusted.

    Raises:
        ValidationError: pdfsig is missing or did not finish.
    """
    with tempfile.TemporaryDirectory(prefix="his-pdfsig-") as tmp:
        path = Path(tmp) / "document.pdf"
        path.write_bytes(pdf)
        # Not "-no-ocsp": with it, pdfsig 22.12 reports "Unknown issue with
        # Certificate" even for a trusted chain. Our certificates name the clinic's
        # OCSP responder; pdfsig asks it when it can reach it.
        command = ["pdfsig"]
        if nss_dir is not None:
            command += ["-nssdir", f"sql:{nss_dir}"]
        try:
            done = subprocess.run(
                [*command, str(path)],
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValidationError("无法运行 pdfsig 校验工具") from exc
    stdout = done.stdout.decode("utf-8", "replace")
    return PdfsigReport(
        signatures=_parse_pdfsig(stdout),
        stdout=stdout,
        stderr=done.stderr.decode("utf-8", "replace"),
        returncode=done.returncode,
    )


def make_nss_db(directory: Path, ca_pem: bytes, *, nickname: str = "clinic-ca") -> Path:
    """Create an NSS database in ``directory`` that trusts ``ca_pem`` for signing.

    The trust flags are ``",C,"`` (a CA for e-mail/document signatures): pdfsig
    verifies signers for that usage, so ``"C,,"`` (TLS only) is not enough.

    Returns:
        The directory, for ``validate_with_pdfsig(nss_dir=...)``.

    Raises:
        ValidationError: certutil is missing or failed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / f"{nickname}.pem"
    ca_file.write_bytes(ca_pem)
    database, ca = f"sql:{directory}", str(ca_file)
    commands = [
        ["certutil", "-A", "-d", database, "-n", nickname, "-t", ",C,", "-i", ca],
    ]
    if not (directory / "cert9.db").exists():
        commands.insert(0, ["certutil", "-N", "-d", database, "--empty-password"])
    for command in commands:
        try:
            subprocess.run(command, capture_output=True, timeout=_TIMEOUT, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ValidationError("无法创建证书信任库（certutil）") from exc
    return directory
