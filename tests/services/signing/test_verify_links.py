"""验证: the footer's link and QR code of a signed PDF, and /verify/<id>."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlmodel import select

from his_portal.models import SignedDocument
from his_portal.services.signing import verify_links
from his_portal.services.signing import versions as record_versions
from his_portal.services.signing.validation import validate_with_pdfsig
from tests.conftest import ZONE, user_by_login
from tests.services.identity.identity_helpers import DOCTOR
from tests.services.signing.test_record_signing import (
    ACTOR,
    T,
    ready,  # noqa: F401  (fixture)
    sign,
    stored_pdf,
)
from tests.services.signing.test_verification import (
    LATER,
    LIU_NO,
    revoke,
    signed,  # noqa: F401  (fixture)
)


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def qr_in(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-singlefile", path, tmp_path / "page"],
        check=True,
    )
    image = Image.open(tmp_path / "page.png")
    return [code.text for code in zxingcpp.read_barcodes(image)]


# --- the footer ---------------------------------------------------------------------


def test_the_signed_pdf_carries_its_verification_link_and_qr(signed, tmp_path):  # noqa: F811
    session, _, pdf = signed
    doc = session.exec(select(SignedDocument)).one()
    assert len(doc.verify_id) == verify_links.ID_LENGTH
    url = f"http://localhost:3000/verify/{doc.verify_id}"
    assert f"扫码或访问 {url} 验证本病历签名" in pdf_text(pdf)
    assert qr_in(pdf, tmp_path) == [url]
    sig, stamp = validate_with_pdfsig(pdf).signatures
    assert sig.signature_valid and stamp.total_document_signed


def revoke_signature(session, record, at=T + timedelta(hours=1)):
    """The doctor withdraws the record's signature (补充医嘱)."""
    record_versions.revoke_signature(
        session=session,
        user=user_by_login(session, DOCTOR),
        record_id=record.id,
        reason="补充医嘱",
        actor=ACTOR,
        now=at,
    )


def test_a_new_version_gets_a_new_verification_id(signed, tmp_path):  # noqa: F811
    session, record, _ = signed
    revoke_signature(session, record)
    assert sign(session, record.id, tmp_path, now=T + timedelta(hours=1)).ok
    first, second = session.exec(
        select(SignedDocument).order_by(SignedDocument.version)
    ).all()
    assert first.verify_id != second.verify_id
    assert second.verify_id in pdf_text(stored_pdf(session, tmp_path, record.id))
    old = status_of(session, first.verify_id)
    assert old.label == "已撤销" and "最新签署版本为第2版" in old.note
    assert status_of(session, second.verify_id).label == "签名有效"


# --- /verify/<id> -------------------------------------------------------------------


def status_of(session, verify_id: str) -> verify_links.RecordSignatureStatus:
    return verify_links.record_signature_status(
        session=session, verify_id=verify_id, zone=ZONE, now=LATER
    )


def test_the_status_page_shows_the_signature_and_no_patient_data(signed):  # noqa: F811
    session, record, _ = signed
    doc = session.exec(select(SignedDocument)).one()
    status = status_of(session, doc.verify_id.upper())
    assert (status.status, status.label) == ("valid", "签名有效")
    assert (status.signer_name, status.clinic_name) == ("郑程", "上海维乐海趣路门诊")
    assert status.signed_at == T.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")
    assert (status.version, status.sha256) == (1, doc.sha256)
    assert status.cert_status.startswith("有效")
    shown = " ".join(str(value) for value in dataclasses.astuple(status))
    patient_values = ("刘作榛", LIU_NO, record.chief_complaint, record.title)
    assert not [value for value in patient_values if value and value in shown]


def test_the_status_after_revoking_the_signature_and_the_certificate(signed, tmp_path):  # noqa: F811
    session, record, _ = signed
    doc = session.exec(select(SignedDocument)).one()
    revoke(session)
    status = status_of(session, doc.verify_id)
    assert status.label == "证书已吊销" and "签名时证书有效" in status.note
    revoke_signature(session, record)
    status = status_of(session, doc.verify_id)
    assert status.label == "已撤销" and "尚未重新签署" in status.note


def test_unknown_and_malformed_ids_get_the_same_answer(signed):  # noqa: F811
    session, _, _ = signed
    messages = set()
    for wrong in ("abcdefghijkl", "x" * 500, "", "' OR 1=1 --", "../../etc"):
        with pytest.raises(verify_links.VerifyNotFound) as caught:
            status_of(session, wrong)
        messages.add(caught.value.message)
    assert messages == {verify_links.NOT_FOUND}


def test_verify_ids_are_random_base32():
    ids = {verify_links.new_verify_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 12 and set(i) <= set(verify_links.ID_ALPHABET) for i in ids)
