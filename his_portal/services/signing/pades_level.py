"""The PAdES baseline level of a PDF's signatures (ETSI EN 319 142-1), read off
the file's structure with pyHanko's reader:

- B-B: a CMS signature (``ETSI.CAdES.detached``), no signature timestamp;
- B-T: plus an RFC 3161 signature timestamp on the signature;
- B-LT: plus a ``/DSS`` (document security store) added after the signature,
  holding the signer's certificate and revocation data (CRL or OCSP);
- B-LTA: plus a document timestamp over a revision whose DSS holds that data.

The level says what the file carries; whether each part verifies is the
validators' business (:mod:`.verification`, :mod:`.archive_validation`). A
caller may pass ``stamp_ok`` so a document timestamp counts only when its token
verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign.general import find_cms_attribute_iter
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

__all__ = ["LABELS", "PadesLevel", "signature_level"]


class PadesLevel(StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


#: What the level means, for a doctor or a patient reading the report.
LABELS = {
    PadesLevel.B_B: "PAdES B-B（基础签名，无签名时间戳）",
    PadesLevel.B_T: "PAdES B-T（含签名时间戳）",
    PadesLevel.B_LT: "PAdES B-LT（长期验证，含证书验证数据）",
    PadesLevel.B_LTA: "PAdES B-LTA（长期验证，含文档时间戳）",
}


def _has_signature_timestamp(signature: EmbeddedPdfSignature) -> bool:
    attrs = signature.signer_info["unsigned_attrs"]
    return any(find_cms_attribute_iter(attrs, "signature_time_stamp_token"))


def _holds_validation_data(handler: PdfHandler, signature: EmbeddedPdfSignature):
    """The DSS seen by ``handler`` has the signer's certificate and revocation data."""
    try:
        dss = DocumentSecurityStore.read_dss(handler)
    except NoDSSFoundError:
        return False
    return signature.signer_cert.issuer_serial in dss.certs and bool(
        dss.crls or dss.ocsps
    )


def signature_level(
    signature: EmbeddedPdfSignature,
    *,
    stamp_ok: Callable[[EmbeddedPdfSignature], bool] | None = None,
) -> PadesLevel:
    """The PAdES level of one signature (not a document timestamp).

    Args:
        signature: From ``reader.embedded_regular_signatures``.
        stamp_ok: When given, a document timestamp counts only if this returns
            True for it (e.g. its token is intact, valid and trusted).

    Raises:
        Whatever pyHanko raises on a hostile file (callers treat it as broken).
    """
    if not _has_signature_timestamp(signature):
        return PadesLevel.B_B
    reader = signature.reader
    signed = signature.signed_revision
    last = reader.xrefs.total_revisions - 1
    if signed == last or not _holds_validation_data(reader, signature):
        return PadesLevel.B_T
    for stamp in reader.embedded_timestamp_signatures:
        stamped = stamp.signed_revision
        if (
            stamped > signed
            and _holds_validation_data(
                reader.get_historical_resolver(stamped), signature
            )
            and (stamp_ok is None or stamp_ok(stamp))
        ):
            return PadesLevel.B_LTA
    return PadesLevel.B_LT
