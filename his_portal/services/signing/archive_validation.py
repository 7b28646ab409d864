"""PAdES long-term (B-LTA) validation as an archive would run it: offline.

pyHanko's AdES validation (ETSI EN 319 102-1 §5.6.3, long-term availability and
integrity of validation material) with the clinic CA as the only trust anchor,
nothing fetched (no CRL, no OCSP, no certificates from AIA URLs), and revocation
information *required* for every certificate: all of it must come from the PDF's
DSS and signature, plus whatever revocation data the caller knows. The document
timestamp is the proof of existence that lets the DSS's pre-revocation data speak
for the signing time, so a certificate revoked later does not undo the signature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import crl, pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer

from his_portal.services.signing.validation import ValidationError

__all__ = ["ArchiveReport", "validate_archived"]


@dataclass(frozen=True)
class ArchiveReport:
    """pyHanko's AdES verdict on the last signature of a PDF."""

    passed: bool
    """Indication PASSED: the signature is valid for the long term."""
    indication: str
    """The AdES (sub)indication, e.g. ``PASSED.OK`` or ``INDETERMINATE.NO_POE``."""
    best_signature_time: dt.datetime | None
    """The earliest time the signature is proven to have existed."""
    oldest_archive_timestamp: dt.datetime | None
    """The oldest document timestamp that was validated (None: B-T or less)."""


def _root(data: bytes) -> x509.Certificate:
    return x509.Certificate.load(pem.unarmor(data)[2] if pem.detect(data) else data)


def _stamped_at(stamps) -> dt.datetime | None:
    """The genTime of the newest document timestamp (None: none, or unreadable)."""
    try:
        content = stamps[-1].signed_data["encap_content_info"]["content"]
        return content.parsed["gen_time"].native
    except (IndexError, KeyError, ValueError, TypeError, AttributeError):
        return None


def validate_archived(
    pdf: bytes,
    *,
    trust_roots_pem: Sequence[bytes],
    known_crls_der: Sequence[bytes] = (),
    at: dt.datetime | None = None,
) -> ArchiveReport:
    """Validate the last signature (not a document timestamp) as PAdES B-LTA.

    Args:
        pdf: The signed PDF.
        trust_roots_pem: The only trust anchors (the clinic CA).
        known_crls_der: Revocation data the validator holds besides the file's,
            e.g. today's CRL listing a later revocation.
        at: The validation time (aware); default the newest timestamp's time:
            the file must carry, as of its last timestamp, everything needed to
            validate it (the revocation data embedded then are valid for days;
            the time stamp authority's state after that is the archive
            renewal's business, :mod:`.archive_renewal`).

    Raises:
        ValidationError: Unreadable PDF, or no signature in it.
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_regular_signatures
        stamps = reader.embedded_timestamp_signatures
    except Exception as exc:  # any parser failure: unreadable
        raise ValidationError("无法读取该PDF文件") from exc
    if not signatures:
        raise ValidationError("该PDF文件没有电子签名")
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(
            trust_roots=[_root(item) for item in trust_roots_pem]
        ),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
            local_knowledge=LocalKnowledge(
                known_crls=[
                    CRLContainer(crl.CertificateList.load(item))
                    for item in known_crls_der
                ]
            ),
        )
    )
    moment = at or _stamped_at(stamps) or dt.datetime.now(dt.UTC)
    timing = ValidationTimingInfo(
        validation_time=moment,
        best_signature_time=moment,
        point_in_time_validation=False,
    )
    result = asyncio.run(ades_lta_validation(signatures[-1], spec, timing))
    indication = result.ades_subindic
    return ArchiveReport(
        passed=indication == AdESPassed.OK,
        indication=f"{indication.status.name}.{indication.standard_name}",
        best_signature_time=result.best_signature_time,
        oldest_archive_timestamp=result.oldest_evidence_record_timestamp,
    )
