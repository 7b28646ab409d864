"""PAdES signatures on medical-record PDFs (baseline B-T), with endesive.

This is the only module that builds endesive's option dict. What a signed record
carries:

* a signature field whose ``/Contents`` is a CAdES detached CMS
  (``/SubFilter /ETSI.CAdES.detached``): SHA-256, RSA PKCS#1 v1.5, signed
  attributes content-type, message-digest and ESS signing-certificate-v2, and the
  signer's certificate plus the clinic CA in ``certificates`` (PAdES B-B);
* an RFC 3161 signature timestamp over the signature value as the unsigned
  attribute signature-time-stamp-token (PAdES B-T);
* ``/M`` (signing time as claimed by the server), ``/Reason``, ``/Location``,
  ``/ContactInfo`` and ``/Name`` as PDF text strings (UTF-16 when not Latin), so
  Chinese values are fine;
* a visible widget: the seal :mod:`.record_pdf` draws on the signer line (the last
  page) is the field's ``/Rect`` and, by reference, its appearance, so a click on
  the seal opens the viewer's signature panel; the page content is not touched
  (see :mod:`._endesive`).

The timestamp is added *after* endesive has signed: endesive can only fetch one
from an HTTP URL with its own client, while we want the clinic TSA in-process.
The ``/Contents`` hex string lies outside the signed byte range, so filling the
reserved space with a bigger CMS leaves the document digest and the signature
untouched; only the CMS's unsigned attributes change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from types import FunctionType
from typing import Any

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pypdf.errors import PyPdfError

from his_portal.adapters.tsa_client import (
    HttpTimestampSource,
    TimestampSource,
    TsaProviderError,
    build_request,
    token_from_response,
)
from his_portal.errors import ConfigError, HisError
from his_portal.services.signing import _endesive

__all__ = [
    "SigningError",
    "SigningOptions",
    "TimestampError",
    "pdf_date",
    "sign_pdf",
    "timestamp_token",
]

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_APPLICATION = "HIS-Portal"  # /Prop_Build /App /Name: a PDF name, ASCII only


class SigningError(HisError):
    """Base error of the e-signature services; ``message`` is Chinese for users."""


class TimestampError(SigningError):
    """No valid RFC 3161 timestamp could be obtained for a signature."""


@dataclass(frozen=True)
class SigningOptions:
    """How a signature is labelled and timestamped."""

    reason: str = "Medical record signature"
    """``/Reason``: the meaning of the signature (21 CFR 11.50); any language."""
    location: str = ""
    """``/Location``: where it was signed, e.g. the clinic branch; empty: none."""
    contact: str = ""
    """``/ContactInfo``: how to reach the signer; empty: none."""
    signer_name: str = ""
    """``/Name``: the signer's printed name; empty: none (readers show the CN)."""
    tsa_url: str = ""
    """An external RFC 3161 TSA; when set it wins over the ``tsa`` argument."""
    tsa_timeout: float = 10.0
    """Seconds to wait for the external TSA."""
    field_name: str = "DoctorSignature"
    """Signature field name; a suffix is added if the PDF already has one."""
    aligned: int = 16384
    """Bytes reserved for the CMS (endesive's ``aligned``). A signature with two
    certificates plus a token with two more takes about 5 KB; the rest is room for
    longer chains from an external TSA."""
    seal_page: int | None = -1
    """The page (index; -1: the last, the record's signer line) whose one image,
    the seal, the signature's widget covers and shows as its appearance. None, or
    a page without exactly one image: an invisible signature field."""


def pdf_date(moment: dt.datetime) -> str:
    """Format an aware datetime as a PDF date string, ``D:YYYYMMDDHHmmSS+08'00'``."""
    if moment.tzinfo is None:
        raise SigningError("签署时间缺少时区")
    offset = moment.strftime("%z")
    return f"D:{moment:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'"


def sign_pdf(
    pdf: bytes,
    *,
    cert_pem: bytes,
    key: Any,
    chain_pems: list[bytes],
    tsa: TimestampSource | None,
    options: SigningOptions,
    signing_time: dt.datetime,
) -> bytes:
    """Sign a PDF as PAdES B-T (B-B when there is no TSA at all).

    Args:
        pdf: The rendered record.
        cert_pem: The doctor's certificate.
        key: The doctor's private key (``cryptography`` RSA key, in memory).
        chain_pems: Issuer certificates to embed (the clinic CA).
        tsa: The in-process TSA (the clinic's ``TimestampAuthority``); ignored
            when ``options.tsa_url`` is set. None and no URL: no timestamp (B-B).
        options: Labels, field name, reserved space, external TSA.
        signing_time: The claimed signing time written as ``/M`` (aware).

    Returns:
        The signed PDF (the input plus one incremental update).

    Raises:
        SigningError: Unreadable PDF, key not matching the certificate, or the
            signature does not fit the reserved space.
        TimestampError: The TSA failed or answered something else.
    """
    if not pdf.startswith(b"%PDF-"):
        raise SigningError("待签署的文件不是PDF")
    cert, chain = _load_certs(cert_pem, chain_pems)
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise SigningError("签名私钥与医生证书不匹配")
    udct: dict[str, Any] = {
        "aligned": options.aligned,
        "sigflags": 3,  # AcroForm /SigFlags: SignaturesExist | AppendOnly
        "sigfield": options.field_name,
        "auto_sigfield": True,
        "signingdate": pdf_date(signing_time),
        "application": _APPLICATION,
    }
    labels = {
        "reason": options.reason,
        "location": options.location,
        "contact": options.contact,
        "name": options.signer_name,
    }
    udct.update({name: text for name, text in labels.items() if text})
    udct["attrs"] = _cades_attributes(cert.public_bytes(serialization.Encoding.DER))
    try:
        update = _endesive.sign_incremental(
            pdf=pdf,
            udct=udct,
            key=key,
            cert=cert,
            othercerts=chain,
            seal_page=options.seal_page,
        )
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SigningError(f"PDF签署失败：{exc}") from exc
    signed = pdf + update
    source: TimestampSource | None = tsa
    if options.tsa_url:
        try:
            source = HttpTimestampSource(
                url=options.tsa_url, timeout=options.tsa_timeout
            )
        except ConfigError as exc:
            raise TimestampError(exc.message) from exc
    if source is None:
        return signed
    return _add_signature_timestamp(signed, source, search_from=len(pdf))


@lru_cache(maxsize=256)
def _signing_certificate_v2(cert_der: bytes) -> bytes:
    """The ESS signing-certificate-v2 attribute for a certificate (DER)."""
    cert = asn1_x509.Certificate.load(cert_der)
    cert_id = tsp.ESSCertIDv2(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "cert_hash": hashlib.sha256(cert_der).digest(),
            "issuer_serial": tsp.IssuerSerial(
                {
                    "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                    "serial_number": cert.serial_number,
                }
            ),
        }
    )
    attribute = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [cert_id]})],
        }
    )
    return attribute.dump()


def _cades_attributes(cert_der: bytes) -> FunctionType:
    """endesive's hook for the signed attributes: the same three it writes itself
    (content-type, message-digest, signing-certificate-v2), with the certificate's
    part built once per certificate. endesive's own builder re-encodes the
    certificate structures on every signature (≈ 85 ms of CPU each); this is 1 ms.
    """
    signing_certificate = _signing_certificate_v2(cert_der)

    def attributes(message_digest: bytes) -> list[cms.CMSAttribute]:
        return [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
            cms.CMSAttribute.load(signing_certificate),
        ]

    return attributes


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_certs(
    cert_pem: bytes, chain_pems: list[bytes]
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        chain = [x509.load_pem_x509_certificate(pem) for pem in chain_pems]
    except ValueError as exc:
        raise SigningError("证书格式无效") from exc
    return cert, chain


def timestamp_token(source: TimestampSource, request_der: bytes) -> cms.ContentInfo:
    """The token ``source`` answers to a TimeStampReq, checked against it.

    Raises:
        TimestampError: The TSA refused, failed or answered another request.
    """
    try:
        response = source.timestamp(request_der)
        return token_from_response(response, request_der=request_der)
    except TsaProviderError as exc:
        raise TimestampError(exc.message) from exc


def _add_signature_timestamp(
    signed: bytes, source: TimestampSource, *, search_from: int
) -> bytes:
    """Put a signature timestamp into the CMS of the last signature."""
    matches = list(_BYTE_RANGE.finditer(signed, search_from))
    if not matches:
        raise SigningError("签名结构异常：找不到签名范围")
    match = matches[-1]  # endesive's own, in the update it just appended
    start, end = int(match[2]) + 1, int(match[3]) - 1  # inside "<" ... ">"
    if signed[start - 1 : start] != b"<" or signed[end : end + 1] != b">":
        raise SigningError("签名结构异常：签名范围与签名内容不符")
    content_info = cms.ContentInfo.load(bytes.fromhex(signed[start:end].decode()))
    signer_info = content_info["content"]["signer_infos"][0]
    request, _ = build_request(signer_info["signature"].native)
    token = timestamp_token(source, request)
    signer_info["unsigned_attrs"] = cms.CMSAttributes(
        [{"type": "signature_time_stamp_token", "values": [token]}]
    )
    contents = content_info.dump().hex().encode()
    room = end - start
    if len(contents) > room:
        raise SigningError(
            f"签名预留空间不足：需要 {len(contents) // 2} 字节，仅预留 {room // 2} 字节"
        )
    return signed[:start] + contents.ljust(room, b"0") + signed[end:]
