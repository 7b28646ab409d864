"""The visible signature: the widget covers the seal on the signer line and shows
that same image, the page itself untouched (issue 13, part 5)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream

from his_portal.services.pki import authority as pki
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.seals.store import system_seal_png
from his_portal.services.signing.archive_validation import validate_archived
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import render_record_pdf
from his_portal.services.signing.validation import (
    validate_with_pdfsig,
    validate_with_pyhanko,
)
from tests.services.signing.test_documents import (
    ARTIFACTS,
    MM,
    SEAL_BOX_MM,
    make_record,
    make_seal_png,
    pdf_text,
)
from tests.services.signing.test_ltv import archived, ca_pem  # noqa: F401
from tests.services.signing.test_record_signing import T, ready  # noqa: F401

CLINIC = "上海维乐海趣路门诊"
SIGNED_AT = dt.datetime(2026, 11, 25, 16, 30, tzinfo=dt.UTC)
LONG_TEXT = "患者诉右下后牙冷热刺激痛两周，夜间偶有自发痛，无放射痛。" * 100
# Where the seal goes on a one-page A4 record: test_documents' box, widened to the
# widest seal record_pdf draws (42 mm; the system seal is wider than the round one).
SEAL_AREA_MM = (SEAL_BOX_MM[0], SEAL_BOX_MM[1], SEAL_BOX_MM[0] + 42, SEAL_BOX_MM[3])
PRINT, HIDDEN_OR_INVISIBLE = 4, 1 | 2  # annotation /F bits


@pytest.fixture(scope="module")
def signer() -> dict:
    now = dt.datetime.now(dt.UTC)
    ca = pki.create_ca(clinic_name=CLINIC, now=now)
    common = {"clinic_name": CLINIC, "now": now, "crl_url": "http://127.0.0.1:9/crl"}
    doctor = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem, ca_key=ca.key, doctor_name="王莉", user_id=7, **common
    )
    tsa = pki.issue_tsa_certificate(ca_cert_pem=ca.cert_pem, ca_key=ca.key, **common)
    authority = TimestampAuthority(
        cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca.cert_pem]
    )
    return {"ca": ca, "doctor": doctor, "tsa": authority}


def sign(pdf: bytes, signer: dict, **options) -> bytes:
    return sign_pdf(
        pdf,
        cert_pem=signer["doctor"].cert_pem,
        key=signer["doctor"].key,
        chain_pems=[signer["ca"].cert_pem],
        tsa=signer["tsa"],
        options=SigningOptions(signer_name="王莉", **options),
        signing_time=SIGNED_AT,
    )


def render(seal_png: bytes | None, sections=None) -> bytes:
    changes = {} if sections is None else {"sections": sections}
    return render_record_pdf(
        make_record(**changes),
        seal_png=seal_png,
        signer_name="王莉",
        signed_at="2026-11-25 16:30:00",
    )


def image_box(page) -> tuple[str, list[float]]:
    """The one image the page draws, read with pypdf's content parser (not the
    signer's own matcher): its resource name and box [x1, y1, x2, y2] in points."""
    matrix, draws = None, []
    for operands, operator in ContentStream(page["/Contents"], page.pdf).operations:
        if operator == b"cm":
            matrix = [float(value) for value in operands]
        elif operator == b"Do":
            width, _, _, height, x, y = matrix
            draws.append((str(operands[0]), [x, y, x + width, y + height]))
    (draw,) = draws
    return draw


def widget(reader: PdfReader):
    """The doctor's signature field (one object: field and widget)."""
    (field,) = (
        ref.get_object()
        for ref in reader.trailer["/Root"]["/AcroForm"]["/Fields"]
        if ref.get_object()["/T"] == "DoctorSignature"
    )
    return field


def render_png(pdf: bytes, path: Path) -> np.ndarray:
    path.with_suffix(".pdf").write_bytes(pdf)
    command = ["pdftoppm", "-png", "-r", "80", "-singlefile"]
    subprocess.run([*command, str(path.with_suffix(".pdf")), str(path)], check=True)
    png = path.with_suffix(".png")
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("seal", ["personal", "system"])
def test_the_widget_covers_the_seal_and_shows_the_same_image(
    signer: dict, seal: str
) -> None:
    seal_png = make_seal_png() if seal == "personal" else system_seal_png("王莉")
    unsigned = render(seal_png)
    signed = sign(unsigned, signer)
    before, after = PdfReader(io.BytesIO(unsigned)), PdfReader(io.BytesIO(signed))
    page = after.pages[0]
    name, box = image_box(before.pages[0])
    field = widget(after)
    assert [float(value) for value in field["/Rect"]] == pytest.approx(box, abs=1e-6)
    left, top, right, bottom = (value * MM for value in SEAL_AREA_MM)
    height = float(page.mediabox.height)
    assert left <= box[0] < box[2] <= right  # on the signer line, as drawn
    assert height - bottom <= box[1] < box[3] <= height - top
    assert field.raw_get("/P").idnum == page.indirect_reference.idnum
    assert field.indirect_reference in page["/Annots"]
    assert field["/F"] & PRINT and not field["/F"] & HIDDEN_OR_INVISIBLE
    form = field["/AP"]["/N"]
    assert (form["/Type"], form["/Subtype"]) == ("/XObject", "/Form")
    width, height = box[2] - box[0], box[3] - box[1]
    bbox = [float(value) for value in form["/BBox"]]
    assert bbox == pytest.approx([0, 0, width, height], abs=1e-6)
    page_image = before.pages[0]["/Resources"]["/XObject"].raw_get(name)
    # The same image object, by reference: no second copy of its bytes.
    assert form["/Resources"]["/XObject"].raw_get(name).idnum == page_image.idnum
    assert b"/Image" not in signed[len(unsigned) :]
    assert form.get_data().endswith(b" cm %s Do Q" % name.encode())


def test_the_page_content_and_text_are_unchanged(signer: dict, tmp_path) -> None:
    unsigned = render(make_seal_png())
    signed = sign(unsigned, signer)
    before, after = PdfReader(io.BytesIO(unsigned)), PdfReader(io.BytesIO(signed))
    contents = before.pages[0].raw_get("/Contents")
    assert after.pages[0].raw_get("/Contents").idnum == contents.idnum
    assert after.pages[0]["/Contents"].get_data() == contents.get_object().get_data()
    assert b"\n%d 0 obj" % contents.idnum not in signed[len(unsigned) :]
    assert pdf_text(signed, tmp_path) == pdf_text(unsigned, tmp_path)


def test_the_seal_appears_once_in_the_same_place(signer: dict, tmp_path) -> None:
    """Rendered, the signed page equals the unsigned one (the appearance draws
    the seal exactly over itself, not doubled, shifted or bolder)."""
    unsigned = render(system_seal_png("王莉"))
    ARTIFACTS.mkdir(exist_ok=True)
    signed_png = render_png(sign(unsigned, signer), ARTIFACTS / "visible-signature")
    unsigned_png = render_png(unsigned, tmp_path / "unsigned")
    assert np.abs(signed_png - unsigned_png).max() <= 2  # rounding, nothing more
    blue = (signed_png[..., 2] > 100) & (signed_png[..., 0] < 90)
    # The system seal's ink, on the signer line only.
    left, top, right, bottom = (round(value * MM * 80 / 72) for value in SEAL_AREA_MM)
    assert blue[top:bottom, left:right].sum() == blue.sum() > 200


def test_pdfsig_and_pyhanko_accept_it(signer: dict) -> None:
    signed = sign(render(make_seal_png()), signer)
    report = validate_with_pdfsig(signed)
    assert report.stderr == ""
    (signature,) = report.signatures
    assert signature.signature_status == "Signature is Valid."
    assert signature.total_document_signed
    roots = [signer["ca"].cert_pem]
    assert validate_with_pyhanko(signed, trust_roots_pem=roots).ok


def test_a_long_record_has_it_on_the_last_page(signer: dict) -> None:
    signed = sign(render(make_seal_png(), [("现病史", LONG_TEXT)]), signer)
    reader = PdfReader(io.BytesIO(signed))
    first, last = reader.pages
    field = widget(reader)
    assert "/Annots" not in first
    assert field.raw_get("/P").idnum == last.indirect_reference.idnum
    assert list(last["/Annots"]) == [field.indirect_reference]
    _, box = image_box(last)
    assert [float(value) for value in field["/Rect"]] == pytest.approx(box, abs=1e-6)
    assert validate_with_pyhanko(signed, trust_roots_pem=[signer["ca"].cert_pem]).ok


def test_a_second_signature_gets_a_widget_of_its_own(signer: dict) -> None:
    twice = sign(sign(render(make_seal_png()), signer), signer)
    reader = PdfReader(io.BytesIO(twice))
    fields = [f for f in reader.get_fields().values() if f.get("/FT") == "/Sig"]
    annots = reader.pages[0]["/Annots"]
    assert len(fields) == len(annots) == 2
    rects = [list(annot.get_object()["/Rect"]) for annot in annots]
    assert rects[0] == rects[1]
    report = validate_with_pyhanko(twice, trust_roots_pem=[signer["ca"].cert_pem])
    assert report.signature_count == 2 and report.ok


@pytest.mark.parametrize(("seal", "seal_page"), [(True, None), (False, -1)])
def test_invisible_without_a_seal_or_when_asked(
    signer: dict, seal: bool, seal_page: int | None
) -> None:
    unsigned = render(make_seal_png() if seal else None)
    signed = sign(unsigned, signer, seal_page=seal_page)
    reader = PdfReader(io.BytesIO(signed))
    field = widget(reader)
    assert [float(value) for value in field["/Rect"]] == [0, 0, 0, 0]
    assert "/Annots" not in reader.pages[0]
    form = field["/AP"]["/N"]
    assert form["/Subtype"] == "/Form" and form.get_data() == b""
    assert validate_with_pdfsig(signed).signatures[0].signature_valid


def test_the_archived_record_is_b_lta_with_its_seal_visible(archived) -> None:  # noqa: F811
    session, pdf = archived
    report = validate_archived(pdf, trust_roots_pem=[ca_pem(session)], at=T)
    assert report.passed, report.indication
    reader = PdfReader(io.BytesIO(pdf))
    field = widget(reader)
    assert field.indirect_reference in reader.pages[-1]["/Annots"]
    _, box = image_box(reader.pages[-1])
    assert [float(value) for value in field["/Rect"]] == pytest.approx(box, abs=1e-6)
    # pdfsig checks the signature (of the document timestamp: its range only).
    signature, _ = validate_with_pdfsig(pdf).signatures
    assert signature.signature_status == "Signature is Valid."
