"""The PAdES level of a signature: B-B, B-T, B-LT and B-LTA files made with the
signing code itself (a record signed through the service is B-LTA; its signed
revision is B-T; the same with only the DSS is B-LT; without a TSA, B-B)."""

from __future__ import annotations

import io

import pytest
from asn1crypto import crl, pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from his_portal.services.pki import certificates
from his_portal.services.signing.ltv import signature_contents
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.pades_level import LABELS, PadesLevel, signature_level
from tests.services.identity.identity_helpers import KEK
from tests.services.signing.test_ltv import archived, signed_revision  # noqa: F401
from tests.services.signing.test_record_signing import T, kit, ready  # noqa: F401
from tests.services.signing.test_verification import check, only, overlay, unsigned_pdf


def level(pdf: bytes, **options) -> PadesLevel:
    (signature,) = PdfFileReader(
        io.BytesIO(pdf), strict=False
    ).embedded_regular_signatures
    return signature_level(signature, **options)


def _cert(data: bytes) -> x509.Certificate:
    return x509.Certificate.load(pem.unarmor(data)[2])


def with_dss(session, pdf: bytes, *, signer: bool = True) -> bytes:
    """``pdf`` plus one incremental update holding a DSS (no document timestamp):
    the signer's chain and the CA's CRL, or (``signer=False``) only the CA."""
    ca = certificates.ca_certificate_pem(session=session)
    signer_kit = kit(session)
    certs = [_cert(ca)] + ([_cert(signer_kit.cert_pem)] if signer else [])
    crls = [crl.CertificateList.load(certificates.crl_der(session=session, kek=KEK))]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, signature_contents(pdf), certs=certs, crls=crls
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def basic(ready):  # noqa: F811
    """郑程's record signed with no TSA at all: a CMS signature only."""
    signer = kit(ready)
    return sign_pdf(
        unsigned_pdf(),
        cert_pem=signer.cert_pem,
        key=signer.key,
        chain_pems=signer.chain_pems,
        tsa=None,
        options=SigningOptions(),
        signing_time=T,
    )


def test_a_record_signed_through_the_service_is_b_lta(archived):  # noqa: F811
    _, pdf = archived
    assert level(pdf) == PadesLevel.B_LTA


def test_what_the_signature_covers_is_b_t(archived):  # noqa: F811
    _, pdf = archived
    assert level(signed_revision(pdf)) == PadesLevel.B_T


def test_the_dss_alone_is_b_lt(archived):  # noqa: F811
    session, pdf = archived
    assert level(with_dss(session, signed_revision(pdf))) == PadesLevel.B_LT


def test_a_dss_without_the_signers_data_stays_b_t(archived):  # noqa: F811
    session, pdf = archived
    assert level(with_dss(session, signed_revision(pdf), signer=False)) == (
        PadesLevel.B_T
    )


def test_other_updates_after_the_signature_do_not_raise_the_level(archived):  # noqa: F811
    _, pdf = archived
    assert level(overlay(signed_revision(pdf))) == PadesLevel.B_T
    assert level(overlay(pdf)) == PadesLevel.B_LTA  # still carries its DSS and stamp


def test_without_a_tsa_it_is_b_b(basic):
    assert level(basic) == PadesLevel.B_B


def test_a_document_timestamp_that_does_not_verify_does_not_make_b_lta(archived):  # noqa: F811
    _, pdf = archived
    assert level(pdf, stamp_ok=lambda stamp: False) == PadesLevel.B_LT
    assert level(pdf, stamp_ok=lambda stamp: True) == PadesLevel.B_LTA


def test_the_verification_report_names_each_level(archived, basic):  # noqa: F811
    session, pdf = archived
    assert only(check(session, pdf)).level == LABELS[PadesLevel.B_LTA]
    assert only(check(session, signed_revision(pdf))).level == LABELS[PadesLevel.B_T]
    b_b = only(check(session, basic))
    assert b_b.level == "PAdES B-B（基础签名，无签名时间戳）"
    assert "没有可信时间戳" in b_b.reasons
