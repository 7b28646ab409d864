"""What `make bench`'s signing part times is a valid signed record: the bench's
render + sign output validates in pdfsig and pyHanko (trusting the bench's own
throwaway CA), with its signature timestamp; its B-LTA update passes pyHanko's
difference analysis with a valid document timestamp; its Chinese is text."""

from __future__ import annotations

from his_portal.bench.signing import DOCUMENT, bench_signers, render
from his_portal.services.signing.validation import (
    make_nss_db,
    validate_with_pdfsig,
    validate_with_pyhanko,
)
from tests.services.signing.test_verify_links import pdf_text


def test_the_bench_record_it_signs_validates_in_pdfsig_and_pyhanko(tmp_path):
    signers = bench_signers()
    ca_pem = signers.ca_pem
    pdf = signers.sign(render())
    report = validate_with_pyhanko(pdf, trust_roots_pem=[ca_pem])
    assert report.valid and report.trusted and report.intact
    assert report.timestamp_present and report.timestamp_valid
    assert report.signer_cn == "郑程"
    archived = validate_with_pyhanko(signers.long_term(pdf), trust_roots_pem=[ca_pem])
    assert archived.valid and archived.lta_updates_only and archived.dss_present
    assert archived.doc_timestamp_valid and archived.doc_timestamp_covers_whole_file
    (signature,) = validate_with_pdfsig(
        pdf, nss_dir=make_nss_db(tmp_path / "nss", ca_pem)
    ).signatures
    assert signature.signature_status == "Signature is Valid."
    assert signature.certificate_status == "Certificate is Trusted."
    text = pdf_text(pdf)
    assert DOCUMENT.patient_name in text and DOCUMENT.clinic_name in text
