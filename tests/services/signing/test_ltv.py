"""Records signed through the service are PAdES B-LTA: validated offline by pyHanko
with only the CA as trust root, also after the doctor's certificate is revoked;
pdfsig and pyHanko's difference analysis accept the DSS and document timestamp."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.dss import DocumentSecurityStore
from sqlmodel import select

from his_portal.models import DoctorCertificate
from his_portal.services.pki import certificates
from his_portal.services.signing.archive_validation import validate_archived
from his_portal.services.signing.ltv import (
    ValidationMaterial,
    add_long_term_validation,
    signature_contents,
)
from his_portal.services.signing.pades import SigningError
from his_portal.services.signing.validation import (
    make_nss_db,
    validate_with_pdfsig,
    validate_with_pyhanko,
)
from tests.services.identity.identity_helpers import KEK
from tests.services.signing.test_record_signing import (  # noqa: F401
    T,
    ready,
    record_of,
    sign,
    stored_pdf,
)
from tests.services.signing.test_verification import overlay, pinned_kit

LIU_NO = "P120111201801313"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def archived(ready, tmp_path):  # noqa: F811
    """刘作榛's record signed by 郑程 at T (TSA clock pinned): (session, PDF)."""
    record = record_of(ready, LIU_NO)
    assert sign(ready, record.id, tmp_path, signer=pinned_kit(ready)).ok
    return ready, stored_pdf(ready, tmp_path, record.id)


def ca_pem(session) -> bytes:
    return certificates.ca_certificate_pem(session=session)


def revoke_doctor(session, at):
    row = session.exec(select(DoctorCertificate)).one()
    certificates.revoke_certificate(
        session=session, cert=row, reason="cessation_of_operation", now=at
    )
    session.commit()


def signed_revision(pdf: bytes) -> bytes:
    """The B-T file: what the signature covers, before the DSS and timestamp."""
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures[0]
    _, _, offset, length = signature.sig_object["/ByteRange"]
    return pdf[: offset + length]


def test_the_dss_holds_chains_crl_and_ocsp_under_the_signatures_vri(archived):
    _, pdf = archived
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    key = hashlib.sha1(signature_contents(signed_revision(pdf))).hexdigest().upper()
    vri = reader.root["/DSS"]["/VRI"]["/" + key]
    assert len(vri["/OCSP"]) == 2 and len(vri["/CRL"]) == 1  # doctor + TSA; the CRL
    names = {cert.subject.native["common_name"] for cert in dss.load_certs()}
    assert names >= {"郑程", "上海维乐海趣路门诊 时间戳服务"}
    assert any(name.startswith("上海维乐海趣路门诊") for name in names)
    stamps = reader.embedded_timestamp_signatures
    assert len(stamps) == 1
    assert stamps[0].sig_object["/Type"] == "/DocTimeStamp"
    assert stamps[0].sig_object["/SubFilter"] == "/ETSI.RFC3161"


def test_a_signed_record_is_b_lta_and_valid_with_nothing_fetched(archived):
    session, pdf = archived
    report = validate_archived(pdf, trust_roots_pem=[ca_pem(session)], at=T)
    assert report.passed, report.indication
    assert report.best_signature_time == T == report.oldest_archive_timestamp


def test_it_stays_valid_after_the_doctors_certificate_is_revoked(archived):
    session, pdf = archived
    revoke_doctor(session, at=T + timedelta(hours=1))
    later = T + timedelta(hours=3)
    crl = certificates.crl_der(session=session, kek=KEK, now=later - timedelta(hours=1))
    report = validate_archived(
        pdf, trust_roots_pem=[ca_pem(session)], known_crls_der=[crl], at=later
    )
    assert report.passed, report.indication
    assert report.best_signature_time == T


def test_a_revocation_dated_before_the_signature_makes_it_invalid(archived):
    """The control: the validator does use the CRL it is given."""
    session, pdf = archived
    revoke_doctor(session, at=T - timedelta(minutes=1))
    crl = certificates.crl_der(session=session, kek=KEK, now=T + timedelta(hours=1))
    report = validate_archived(
        pdf,
        trust_roots_pem=[ca_pem(session)],
        known_crls_der=[crl],
        at=T + timedelta(hours=2),
    )
    assert not report.passed


def test_without_the_dss_the_same_signature_is_not_valid_offline(archived):
    """The control: the B-T revision alone carries no revocation data."""
    session, pdf = archived
    report = validate_archived(
        signed_revision(pdf), trust_roots_pem=[ca_pem(session)], at=T
    )
    assert not report.passed and report.indication.startswith("INDETERMINATE")


def test_validation_runs_with_the_network_cut_off(archived, tmp_path):
    session, pdf = archived
    (tmp_path / "record.pdf").write_bytes(pdf)
    (tmp_path / "ca.pem").write_bytes(ca_pem(session))
    script = (
        "import sys, datetime as dt, pathlib\n"
        "from his_portal.services.signing.archive_validation import validate_archived\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "r = validate_archived((d / 'record.pdf').read_bytes(),"
        " trust_roots_pem=[(d / 'ca.pem').read_bytes()],"
        " at=dt.datetime.fromisoformat(sys.argv[2]))\n"
        "print(r.indication)\n"
    )
    done = subprocess.run(
        [
            "unshare",
            "--net",
            sys.executable,
            "-c",
            script,
            str(tmp_path),
            T.isoformat(),
        ],
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "PASSED.OK"


def test_difference_analysis_sees_only_lta_updates(archived):
    session, pdf = archived
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures[0]
    signature.compute_integrity_info()
    assert signature.diff_result.modification_level == ModificationLevel.LTA_UPDATES
    summary = signature.summarise_integrity_info()
    assert summary["docmdp_ok"] and summary["coverage"].name == "ENTIRE_REVISION"
    report = validate_with_pyhanko(pdf, trust_roots_pem=[ca_pem(session)], moment=T)
    assert report.ok and report.archived and report.dss_present
    assert report.doc_timestamp_valid and report.doc_timestamp_time == T


def test_pdfsig_sees_the_signature_valid_and_the_timestamp_over_the_whole_file(
    archived, tmp_path
):
    """pdfsig 22.12 checks the CAdES signature; of the ETSI.RFC3161 document
    timestamp it reports the signer and range only ("Unable to validate this type
    of signature"): pyHanko validates it above."""
    session, pdf = archived
    nss = make_nss_db(tmp_path / "nss", ca_pem(session))
    signature, stamp = validate_with_pdfsig(pdf, nss_dir=nss).signatures
    assert signature.signature_valid and signature.certificate_trusted
    assert not signature.total_document_signed
    assert stamp.signer_cn == "上海维乐海趣路门诊 时间戳服务"
    assert stamp.total_document_signed


def test_content_added_after_the_timestamp_is_not_ok(archived):
    session, pdf = archived
    report = validate_with_pyhanko(
        overlay(pdf), trust_roots_pem=[ca_pem(session)], moment=T
    )
    assert report.intact and not report.lta_updates_only and not report.ok
    report = validate_with_pyhanko(
        pdf + b"\n% appended\n", trust_roots_pem=[ca_pem(session)], moment=T
    )
    assert not report.doc_timestamp_covers_whole_file and not report.ok


def test_unreadable_validation_material_is_a_signing_error(archived):
    session, pdf = archived
    with pytest.raises(SigningError, match="长期验证数据格式无效"):
        add_long_term_validation(
            signed_revision(pdf),
            material=ValidationMaterial(certificates=[b"not a certificate"]),
            tsa=pinned_kit(session).tsa,
        )
