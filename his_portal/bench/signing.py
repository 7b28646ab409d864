"""The batch's cost per record, in-process: render, PAdES-sign with the built-in TSA,
both, and the B-LTA update, as CPU milliseconds (what 2 cores can do) and wall
milliseconds; pyHanko signing the same PDF with the same key (sign only, no
timestamp): the issue's yardstick on this machine, as the machine's own speed varies
from day to day; then the background removal of a 12-megapixel seal photo."""

from __future__ import annotations

import gc
import io
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import keys, pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from his_portal.bench.report import Report, timed_ms
from his_portal.services.pki import authority as pki
from his_portal.services.pki.crl import build_crl
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.seals.image import SealOptions, extract_signature
from his_portal.services.seals.store import system_seal_png
from his_portal.services.signing import fonts
from his_portal.services.signing.lta_update import append_dss_and_timestamp
from his_portal.services.signing.ltv import signature_contents
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import RecordDocument, render_record_pdf
from his_portal.services.signing.verify_links import new_verify_id, verify_url

__all__ = ["BenchSigners", "bench_signers", "render", "run"]

CLINIC = "基准测试门诊"
DOCUMENT = RecordDocument(
    clinic_name=CLINIC,
    title="口腔检查",
    record_no="P120111201801313",
    patient_name="刘作榛",
    sex="男",
    age=41,
    doctor_name="郑程",
    visit_item="检查",
    created_at="2026-11-25 14:43",
    sections=[("主诉", "左下后牙咀嚼时疼痛一周"), ("诊断", "36深龋")] * 4,
)


@dataclass(frozen=True)
class BenchSigners:
    """What the bench signs with, under a throwaway CA."""

    sign: Callable[[bytes], bytes]
    """Our PAdES signature with the built-in TSA (B-T)."""
    long_term: Callable[[bytes], bytes]
    """The B-LTA update of a signed record (:mod:`.lta_update`): a DSS with the
    certificates and the CA's CRL (no OCSP: that needs the app's responder), and
    the document timestamp."""
    pyhanko_sign: Callable[[bytes], bytes]
    """pyHanko's signer with the same key (sign only)."""
    ca_pem: bytes


def bench_signers() -> BenchSigners:
    """The bench's signers (see :class:`BenchSigners`)."""
    now = datetime.now(UTC)
    ca = pki.create_ca(clinic_name=CLINIC, now=now)
    crl = "http://localhost/pki/crl"
    doctor = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name="郑程",
        clinic_name=CLINIC,
        user_id=1,
        now=now,
        crl_url=crl,
    )
    tsa_cert = pki.issue_tsa_certificate(
        ca_cert_pem=ca.cert_pem, ca_key=ca.key, clinic_name=CLINIC, now=now, crl_url=crl
    )
    tsa = TimestampAuthority(
        cert_pem=tsa_cert.cert_pem, key=tsa_cert.key, ca_chain_pems=[ca.cert_pem]
    )

    def sign(pdf: bytes) -> bytes:
        return sign_pdf(
            pdf,
            cert_pem=doctor.cert_pem,
            key=doctor.key,
            chain_pems=[ca.cert_pem],
            tsa=tsa,
            options=SigningOptions(signer_name="郑程"),
            signing_time=now,
        )

    crl = build_crl(ca_cert_pem=ca.cert_pem, ca_key=ca.key, revoked=[], now=now)
    chain = [
        pem.unarmor(item)[2]
        for item in (doctor.cert_pem, ca.cert_pem, tsa_cert.cert_pem)
    ]

    def long_term(signed: bytes) -> bytes:
        return append_dss_and_timestamp(
            signed,
            signature_contents=signature_contents(signed),
            certificates=chain,
            ocsps=[],
            crls=[crl],
            tsa=tsa,
        )

    return BenchSigners(
        sign, long_term, _pyhanko_signer(doctor, ca.cert_pem), ca.cert_pem
    )


def _pyhanko_signer(doctor: pki.IssuedCert, ca_pem: bytes):
    """pyHanko's own signer with the doctor's key: what most projects would use."""

    def cert(pem_bytes: bytes) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(pem.unarmor(pem_bytes)[2])

    key = keys.PrivateKeyInfo.load(
        doctor.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=cert(doctor.cert_pem),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([cert(ca_pem)]),
    )
    meta = signers.PdfSignatureMetadata(field_name="Signature1")

    def sign(pdf: bytes) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.sign_pdf(writer, meta, signer=signer).getvalue()

    return sign


def render() -> bytes:
    """A record as the batch renders it: with the seal (the visible signature's
    appearance) and the footer's verification link and QR code."""
    return render_record_pdf(
        DOCUMENT,
        seal_png=system_seal_png("郑程"),
        signer_name="郑程",
        signed_at="2026-11-25 15:00:00",
        verify_url=verify_url("http://localhost:3000", new_verify_id()),
    )


def run(report: Report, repeat: int = 30) -> None:
    fonts.warm_up()
    gc.freeze()  # as the signing consumer does
    signers = bench_signers()
    sign, pyhanko_sign = signers.sign, signers.pyhanko_sign
    pdf = render()
    signed = sign(pdf)  # warm caches (signed attributes, certificates)
    signers.long_term(signed)
    pyhanko_sign(pdf)
    report.timings(
        "render one record, CPU", timed_ms(render, repeat, time.process_time)
    )
    report.timings(
        "PAdES-sign + timestamp one record, CPU",
        timed_ms(lambda: sign(pdf), repeat, time.process_time),
    )
    both = timed_ms(lambda: sign(render()), repeat, time.process_time)
    report.timings("render + sign + timestamp one record, CPU", both)
    report.figure(
        "render + sign + timestamp one record, CPU · mean",
        sum(both) / len(both),
        "ms",
        "<= 25",
    )
    report.timings(
        "B-LTA update (DSS: certificates, CRL; document timestamp) one record, CPU",
        timed_ms(lambda: signers.long_term(signed), repeat, time.process_time),
    )
    report.timings(
        "render + sign + timestamp one record, wall",
        timed_ms(lambda: sign(render()), repeat),
    )
    reference = timed_ms(lambda: pyhanko_sign(pdf), repeat)
    report.timings(
        "pyHanko sign only (no timestamp), same PDF and key, wall", reference
    )
    report.figure(
        "pyHanko sign only · rate (the issue's yardstick: 40 records/s ≈ 6×)",
        1000 / statistics.median(reference),
        "PDFs/s",
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.figure("peak memory of the in-process signing bench", peak, "MB")
    photo = Image.new("RGB", (4000, 3000), (236, 234, 226))
    draw = ImageDraw.Draw(photo)
    for offset in range(0, 3000, 90):
        draw.line([(0, offset), (4000, offset)], fill=(190, 205, 230), width=3)
    stroke = [(900, 1700), (1500, 1100), (2100, 1800), (2900, 1200)]
    draw.line(stroke, fill=(30, 30, 80), width=22)
    report.timings(
        "seal background removal, 12 MP photo",
        timed_ms(lambda: extract_signature(photo, SealOptions()), 3),
    )
