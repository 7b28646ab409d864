"""验证: checking uploaded PDFs (the footer's link and /verify/<id> are tested in
test_verify_links.py)."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pypdf import PdfReader, PdfWriter
from sqlmodel import select

from his_portal.models import DoctorCertificate, SignedDocument
from his_portal.services.pki import authority as pki
from his_portal.services.pki import certificates
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.signing import verification, verification_report
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import render_record_pdf
from tests.conftest import ZONE
from tests.services.identity.identity_helpers import CRL_URL, KEK
from tests.services.signing.test_documents import make_record, make_seal_png
from tests.services.signing.test_record_signing import (
    T,
    kit,
    ready,  # noqa: F401  (fixture)
    record_of,
    sign,
    stored_pdf,
)

LIU_NO = "P120111201801313"
LATER = T + timedelta(hours=2)


def pinned_kit(session, at=T):
    """郑程's signer with the clinic TSA's clock pinned: genTime is ``at``."""
    signer = kit(session)
    tsa = certificates.load_authority(session=session, kek=KEK, purpose="tsa")
    ca = certificates.ca_certificate_pem(session=session)
    clock = TimestampAuthority(
        cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca], clock=lambda: at
    )
    return dataclasses.replace(signer, tsa=clock)


@pytest.fixture
def signed(ready, tmp_path):  # noqa: F811
    """刘作榛's record signed by 郑程 at T: (session, record, stored PDF)."""
    record = record_of(ready, LIU_NO)
    assert sign(ready, record.id, tmp_path, signer=pinned_kit(ready)).ok
    return ready, record, stored_pdf(ready, tmp_path, record.id)


def unsigned_pdf() -> bytes:
    return render_record_pdf(
        make_record(), seal_png=None, signer_name="郑程", signed_at=""
    )


def check(session, data: bytes, now=LATER) -> verification.VerificationReport:
    return verification.verify_pdf(
        session=session, data=data, kek=KEK, zone=ZONE, now=now
    )


def only(report: verification.VerificationReport) -> verification.SignatureCheck:
    (signature,) = report.signatures
    return signature


# --- checking an uploaded PDF -------------------------------------------------------


def test_a_system_signed_pdf_is_valid(signed):
    session, _, pdf = signed
    report = check(session, pdf)
    signature = only(report)
    assert report.all_valid and signature.valid and signature.reasons == ()
    assert signature.signer == "郑程"
    assert signature.issuer.startswith("上海维乐海趣路门诊")
    assert signature.cert_status.startswith("有效")
    assert signature.timestamp == T.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")
    assert signature.tsa == "上海维乐海趣路门诊 时间戳服务"
    assert not signature.covers_whole_file  # the document timestamp does
    assert signature.coverage == verification_report.WHOLE_WITH_LTV
    assert signature.level == "PAdES B-LTA（长期验证，含文档时间戳）"
    assert signature.changes == "签名后仅追加了长期验证数据和文档时间戳（允许）"
    assert report.matched and report.match == "与本系统第1版签署文件一致"
    doc = session.exec(select(SignedDocument)).one()
    assert report.sha256 == doc.sha256 and report.size == len(pdf)


def flip_content_byte(pdf: bytes) -> bytes:
    """One bit changed inside the first page's (compressed) content stream."""
    reader = PdfReader(io.BytesIO(pdf))
    content = reader.pages[0]["/Contents"].indirect_reference.idnum
    at = pdf.index(b"stream", pdf.index(b"\n%d 0 obj" % content)) + 40
    tampered = bytearray(pdf)
    tampered[at] ^= 0x01
    return bytes(tampered)


def test_one_changed_byte_is_invalid_with_the_reason(signed):
    session, _, pdf = signed
    report = check(session, flip_content_byte(pdf))
    signature = only(report)
    assert not signature.valid
    assert "签名后文件内容被改动（文档摘要与签名不一致）" in signature.reasons
    assert signature.changes == "已签名的内容被改动"
    assert not report.matched and report.match == verification.NO_MATCH


def overlay(pdf: bytes) -> bytes:
    """An incremental update that draws over the signed page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    added = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 100 Td (X) Tj ET")
    )
    page["/Contents"] = generic.ArrayObject([page["/Contents"], added])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def forge_document_timestamp(pdf: bytes) -> bytes:
    """One hex digit changed inside the document timestamp's token (the last
    /Contents): the field is still a /DocTimeStamp, its token no longer verifies."""
    start = pdf.rindex(b"/Contents <") + len(b"/Contents <") + 400
    tampered = bytearray(pdf)
    tampered[start] = ord("0") if tampered[start] != ord("0") else ord("1")
    return bytes(tampered)


def test_a_forged_document_timestamp_is_not_an_allowed_update(signed):
    session, _, pdf = signed
    signature = only(check(session, forge_document_timestamp(pdf)))
    assert "允许" not in signature.changes
    assert signature.coverage == verification_report.SIGNED_PART
    assert signature.level == "PAdES B-LT（长期验证，含证书验证数据）"
    assert signature.changes != "签名后仅追加了长期验证数据和文档时间戳（允许）"


def test_an_incremental_update_after_signing_is_reported(signed):
    session, _, pdf = signed
    report = check(session, overlay(pdf))
    signature = only(report)
    assert not signature.valid and "签名后文件被追加修改" in signature.reasons
    assert not signature.covers_whole_file
    assert signature.coverage == verification_report.SIGNED_PART
    assert signature.changes == "签名后有增量更新：修改了页面内容或文件结构"
    assert not report.matched
    assert report.match == verification.APPENDED.format(version=1)


def test_trailing_bytes_change_no_signed_content(signed):
    session, _, pdf = signed
    signature = only(check(session, pdf + b"\n% appended\n"))
    assert signature.valid and not signature.covers_whole_file
    assert signature.changes == (
        "签名后追加了长期验证数据，其后文件末尾还有追加数据，已签名内容未改动"
    )


@pytest.fixture(scope="module")
def foreign_pdf() -> bytes:
    """A record signed (and timestamped) under another clinic's CA."""
    other = pki.create_ca(clinic_name="别家诊所", now=T)
    common = {"clinic_name": "别家诊所", "now": T, "crl_url": CRL_URL}
    doctor = pki.issue_doctor_certificate(
        ca_cert_pem=other.cert_pem,
        ca_key=other.key,
        doctor_name="郑程",
        user_id=1,
        **common,
    )
    stamp = pki.issue_tsa_certificate(
        ca_cert_pem=other.cert_pem, ca_key=other.key, **common
    )
    return sign_pdf(
        unsigned_pdf(),
        cert_pem=doctor.cert_pem,
        key=doctor.key,
        chain_pems=[other.cert_pem],
        tsa=TimestampAuthority(cert_pem=stamp.cert_pem, key=stamp.key, clock=lambda: T),
        options=SigningOptions(),
        signing_time=T,
    )


def test_a_pdf_from_a_foreign_ca_is_not_trusted(signed, foreign_pdf):
    session, _, _ = signed
    report = check(session, foreign_pdf)
    signature = only(report)
    assert not signature.valid and signature.signer == "郑程"
    assert "签名证书不是由本院CA签发或证书链无法验证（不受信任）" in signature.reasons
    assert "签名时间戳无效或不受信任" in signature.reasons
    assert signature.cert_status == "非本系统签发的证书"
    assert not report.matched


def revoke(session, reason="cessation_of_operation", at=T + timedelta(hours=1)):
    row = session.exec(select(DoctorCertificate)).one()
    certificates.revoke_certificate(session=session, cert=row, reason=reason, now=at)
    session.commit()


def test_a_certificate_revoked_after_signing_shows_revoked(signed):
    session, _, pdf = signed
    revoke(session)
    signature = only(check(session, pdf))
    assert signature.cert_status == "已吊销（2026-11-25 17:35:00）"
    assert signature.valid  # the timestamp proves it was signed before


def test_a_certificate_revoked_before_signing_is_invalid(ready, tmp_path):  # noqa: F811
    signer = pinned_kit(ready, at=T + timedelta(hours=2))
    revoke(ready, at=T + timedelta(hours=1))
    pdf = sign_pdf(
        render_record_pdf(
            make_record(), seal_png=None, signer_name="郑程", signed_at=""
        ),
        cert_pem=signer.cert_pem,
        key=signer.key,
        chain_pems=signer.chain_pems,
        tsa=signer.tsa,
        options=SigningOptions(),
        signing_time=T + timedelta(hours=2),
    )
    signature = only(check(ready, pdf, now=T + timedelta(hours=3)))
    assert not signature.valid and "签名时证书已被吊销" in signature.reasons
    assert signature.cert_status.startswith("已吊销")


def test_a_key_compromise_revokes_every_signature(signed):
    session, _, pdf = signed
    revoke(session, reason="key_compromise")
    signature = only(check(session, pdf))
    assert not signature.valid and "签名证书因私钥泄露被吊销" in signature.reasons


def test_an_expired_certificate_still_proves_a_signature_made_in_time(signed):
    session, _, pdf = signed
    signature = only(check(session, pdf, now=T + timedelta(days=400)))
    assert signature.valid and signature.cert_status.startswith("已过期")


def encrypted(pdf: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt("secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda pdf: b"", verification.EMPTY),
        (lambda pdf: "一个文本文件".encode(), verification.NOT_PDF),
        (lambda pdf: make_seal_png(), verification.NOT_PDF),
        (lambda pdf: b"%PDF-1.7\n" + b"x" * 5000, verification.BROKEN),
        (lambda pdf: pdf[: len(pdf) // 2], verification.BROKEN),
        (encrypted, verification.ENCRYPTED),
        (
            lambda pdf: b"%PDF-1.7\n" + b"0" * verification.MAX_PDF_BYTES,
            verification.TOO_LARGE,
        ),
    ],
    ids=["empty", "text", "png", "garbage", "truncated", "encrypted", "huge"],
)
def test_bad_files_get_one_clear_message(foreign_pdf, make, message):
    # Refused before the database is read: no session needed.
    with pytest.raises(verification.VerificationError) as caught:
        check(None, make(foreign_pdf))
    assert caught.value.message == message


def test_an_unsigned_pdf_is_refused():
    with pytest.raises(verification.VerificationError) as caught:
        check(None, unsigned_pdf())
    assert caught.value.message == verification.UNSIGNED


def test_checking_stores_nothing(signed):
    session, _, pdf = signed
    before = session.exec(select(SignedDocument)).all()
    check(session, overlay(pdf))
    assert session.exec(select(SignedDocument)).all() == before
    assert not session.new and not session.dirty
