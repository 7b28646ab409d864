"""Long-term validation: a PAdES B-T record becomes B-LTA.

After endesive's signature (with its signature timestamp) one incremental update
is appended, holding, as pyHanko writes its own B-LTA files:

1. a ``/DSS`` (document security store) with the signer's chain, the TSA's chain,
   the current CRL and OCSP responses for the signer's and the TSA's certificates,
   all also listed in a ``/VRI`` entry keyed by the SHA-1 of the signature's
   ``/Contents`` (PAdES B-LT). A validator decades from now needs no network: the
   embedded data, issued at signing time, prove the certificates were good then;
2. a document timestamp (``/Type /DocTimeStamp``, ``/SubFilter /ETSI.RFC3161``)
   over the whole file, DSS included, from the same TSA (PAdES B-LTA). It fixes
   the validation data in time, so a later revocation of the doctor's certificate
   does not reach back, and is what archive renewal will later re-timestamp.

A record just signed (:func:`long_term`) gets that update from
:mod:`.lta_update`, which writes it without reading the file again (≈ 2 ms of
CPU less per record than pyHanko's writer, which parses the whole file first).
Archive renewal extends a DSS that is already there: it uses pyHanko's writer
(:func:`add_long_term_validation`).

The TSA is called in-process (a :class:`TimestampSource`), never over HTTP to
ourselves.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from asn1crypto import cms, crl, ocsp, pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from his_portal.adapters.tsa_client import TimestampSource
from his_portal.services.pki.keyvault import PkiError
from his_portal.services.signing.lta_update import (
    TOKEN_ROOM,
    append_dss_and_timestamp,
)
from his_portal.services.signing.pades import SigningError, timestamp_token

if TYPE_CHECKING:
    from sqlmodel import Session

    from his_portal.services.signing.records import SignerKit

__all__ = [
    "ValidationMaterial",
    "add_long_term_validation",
    "long_term",
    "signature_contents",
]


@dataclass(frozen=True)
class ValidationMaterial:
    """What the DSS holds, DER (PEM is accepted for certificates)."""

    certificates: Sequence[bytes]
    """The signer's certificate and chain, the TSA's certificate and chain."""
    crls: Sequence[bytes] = ()
    """The CA's current CRL."""
    ocsp_responses: Sequence[bytes] = ()
    """OCSP responses for the signer's and the TSA's certificates."""


class _InProcessTimeStamper(TimeStamper):
    """pyHanko's timestamp client, answered by a :class:`TimestampSource`."""

    def __init__(self, source: TimestampSource) -> None:
        super().__init__(include_nonce=True)
        self._source = source

    async def async_timestamp(self, message_digest, md_algorithm) -> cms.ContentInfo:
        _, request = self.request_cms(message_digest, md_algorithm)
        return timestamp_token(self._source, request.dump())


def _der(data: bytes) -> bytes:
    return pem.unarmor(data)[2] if pem.detect(data) else data


def signature_contents(pdf: bytes) -> bytes:
    """The raw ``/Contents`` (CMS plus padding) of the last signature, as bytes:
    what the VRI key is the SHA-1 of."""
    marker = pdf.rfind(b"/ByteRange")
    if marker < 0:
        raise SigningError("签名结构异常：找不到签名范围")
    numbers = pdf[pdf.index(b"[", marker) + 1 : pdf.index(b"]", marker)].split()
    start, end = int(numbers[1]) + 1, int(numbers[2]) - 1
    if pdf[start - 1 : start] != b"<" or pdf[end : end + 1] != b">":
        raise SigningError("签名结构异常：签名范围与签名内容不符")
    return bytes.fromhex(pdf[start:end].decode("ascii"))


def _run(coroutine):
    """Run pyHanko's coroutine to completion, also when this thread already runs
    an event loop (then in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller below
            result["error"] = exc

    worker = threading.Thread(target=target, name="ltv-timestamp")
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def add_long_term_validation(
    pdf: bytes, *, material: ValidationMaterial, tsa: TimestampSource
) -> bytes:
    """Append the DSS (B-LT) and a document timestamp (B-LTA) to a signed PDF.

    Args:
        pdf: A PDF whose last incremental update is a signature (PAdES B-T).
        material: Certificates and revocation data for the DSS and its VRI entry.
        tsa: Issues the document timestamp.

    Returns:
        The PDF plus one incremental update (the DSS and the document timestamp).

    Raises:
        SigningError: The PDF or the material cannot be read.
        TimestampError: The TSA refused or answered something else.
    """
    try:
        certs = [x509.Certificate.load(_der(item)) for item in material.certificates]
        crls = [crl.CertificateList.load(item) for item in material.crls]
        ocsps = [ocsp.OCSPResponse.load(item) for item in material.ocsp_responses]
    except ValueError as exc:
        raise SigningError("长期验证数据格式无效") from exc
    contents = signature_contents(pdf)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        DocumentSecurityStore.supply_dss_in_writer(
            writer, contents, certs=certs, ocsps=ocsps, crls=crls
        )
        stamper = PdfTimeStamper(_InProcessTimeStamper(tsa))
        output = _run(
            stamper.async_timestamp_pdf(
                writer,
                "sha256",
                bytes_reserved=TOKEN_ROOM,
                output=io.BytesIO(),
            )
        )
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SigningError(f"添加长期验证数据失败：{exc}") from exc
    return output.getvalue()


def long_term(session: Session, kit: SignerKit, signed: bytes, now: datetime) -> bytes:
    """A record signed with ``kit`` as PAdES B-LTA: the kit's chains, CRL and TSA
    OCSP response plus a fresh OCSP response for the doctor's certificate, then a
    document timestamp from the clinic TSA. An external TSA (``kit.tsa_url``: its
    revocation data are not ours to make) or a kit without validation data leaves
    the record B-T.

    Raises:
        SigningError: The OCSP response or the updates could not be made.
    """
    if kit.tsa_url or kit.signer_ocsp is None:
        return signed
    try:
        signer_ocsp = kit.signer_ocsp(session, now)
    except PkiError as exc:
        raise SigningError(exc.message) from exc
    certificates = dict.fromkeys([kit.cert_pem, *kit.chain_pems, *kit.tsa_chain_pems])
    return append_dss_and_timestamp(
        signed,
        signature_contents=signature_contents(signed),
        certificates=[_der(item) for item in certificates],
        ocsps=[signer_ocsp, *kit.ocsp_ders],
        crls=[kit.crl_der] if kit.crl_der else [],
        tsa=kit.tsa,
    )
