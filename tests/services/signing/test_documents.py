"""Tests for his_portal.services.signing.record_pdf: the PDF as poppler sees it."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageCms, ImageDraw

from his_portal.services.signing.record_pdf import (
    DocumentError,
    RecordDocument,
    render_preview_png,
    render_record_pdf,
)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
SIGNED_AT = "2026-11-25 16:30:00"
MM = 72 / 25.4  # points per millimetre
# Where _write_signer puts the seal on A4: 28 mm break margin (the verification
# footer) + 34 mm block, seal 14 mm high from 5 mm below the rule, after the
# "签名医生：" label.
SEAL_BOX_MM = (30, 238, 62, 256)  # left, top, right, bottom
VERIFY_URL = "https://his.example.cn/verify/abcdefghjk23"


def make_seal_png() -> bytes:
    """A red round 公章-like stamp on transparency."""
    image = Image.new("RGBA", (240, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 232, 232), outline=(200, 20, 20, 255), width=16)
    draw.regular_polygon((120, 120, 40), 5, fill=(200, 20, 20, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_record(**changes) -> RecordDocument:
    record = RecordDocument(
        clinic_name="上海维乐海趣路门诊",
        title="啦啦啦啦 医疗许可",
        record_no="P111220000601",
        patient_name="张三",
        sex="男",
        age=23,
        doctor_name="王莉",
        visit_item="正畸复诊",
        created_at="2026-11-25 14:20",
        sections=[
            ("主诉", "牙列不齐, 咬合不适"),
            ("现病史", "患者自述三年前开始出现牙齿排列不齐，近半年咬合不适。" * 3),
            ("既往史", ""),
            ("检查", "上下前牙拥挤Ⅱ度，36远中邻面龋，探(-)，叩(-)。"),
            ("诊断", "1. 牙列拥挤\n2. 36龋病"),
            ("治疗计划", "正畸治疗；36树脂充填。"),
            ("处置", "36去腐，玻璃离子垫底，树脂充填。"),
            ("医嘱", "注意口腔卫生，三个月后复诊。"),
        ],
        version=1,
    )
    return replace(record, **changes)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "record.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()


@pytest.fixture(scope="module")
def seal_png() -> bytes:
    return make_seal_png()


@pytest.fixture(scope="module")
def record_pdf(seal_png: bytes) -> bytes:
    return render_record_pdf(
        make_record(), seal_png=seal_png, signer_name="王莉", signed_at=SIGNED_AT
    )


def test_text_is_extractable_chinese(record_pdf: bytes, tmp_path: Path) -> None:
    text = pdf_text(record_pdf, tmp_path)
    assert "上海维乐海趣路门诊" in text
    assert "电子病历" in text
    assert "啦啦啦啦 医疗许可" in text
    assert "病历号:P111220000601 姓名:张三 性别:男 年龄:23 医生:王莉" in text
    assert "主诉:" in text and "牙列不齐, 咬合不适" in text
    assert "既往史" not in text  # empty sections are skipped
    assert "签名医生：" in text and f"签署时间：{SIGNED_AT}" in text
    assert "本病历已由医生使用数字证书电子签名，签名后内容不可修改。" in text
    assert "第1页/共1页" in text.replace(" ", "")


def test_font_is_embedded_as_subset(record_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "record.pdf"
    path.write_bytes(record_pdf)
    rows = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    assert len(rows) == 1
    name, *_, emb, sub, uni, _obj, _gen = rows[0].split()
    assert name.startswith("MPDFAA+WenQuanYi")
    assert (emb, sub, uni) == ("yes", "yes", "yes")
    assert len(record_pdf) < 60_000  # a subset, not the 4.6 MB font


def red_pixels_in_seal_box(png: bytes, dpi: int) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    left, top, right, bottom = (round(v * MM * dpi / 72) for v in SEAL_BOX_MM)
    box = image.crop((left, top, right, bottom))
    r, g, b = np.asarray(box, dtype=np.int16).transpose(2, 0, 1)
    return int(((r > 150) & (g < 90) & (b < 90)).sum())


def test_seal_is_drawn_on_the_signer_line(record_pdf: bytes) -> None:
    dpi = 110
    pages = render_preview_png(record_pdf, dpi=dpi)
    assert len(pages) == 1
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "record-preview.png").write_bytes(pages[0])
    assert red_pixels_in_seal_box(pages[0], dpi) > 200
    unsealed = render_record_pdf(
        make_record(), seal_png=None, signer_name="王莉", signed_at=SIGNED_AT
    )
    assert red_pixels_in_seal_box(render_preview_png(unsealed, dpi=dpi)[0], dpi) == 0


def test_every_page_has_the_verification_link_and_qr(
    seal_png: bytes, tmp_path: Path
) -> None:
    long_text = "患者诉右下后牙冷热刺激痛两周，夜间偶有自发痛，无放射痛。" * 100
    pdf = render_record_pdf(
        make_record(sections=[("现病史", long_text)]),
        seal_png=seal_png,
        signer_name="王莉",
        signed_at=SIGNED_AT,
        verify_url=VERIFY_URL,
    )
    text = pdf_text(pdf, tmp_path)
    assert text.count(f"扫码或访问 {VERIFY_URL} 验证本病历签名") == 2
    pages = render_preview_png(pdf, dpi=80)
    for png in pages:
        codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        assert [code.text for code in codes] == [VERIFY_URL]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "record-footer.png").write_bytes(pages[-1])
    # Before signing (the preview) the footer says where the code will be.
    preview = render_record_pdf(
        make_record(), seal_png=seal_png, signer_name="王莉", signed_at=SIGNED_AT
    )
    assert "签署后在此生成验证二维码与链接" in pdf_text(preview, tmp_path)
    assert red_pixels_in_seal_box(render_preview_png(preview, dpi=110)[0], 110) > 200


def test_rare_character_uses_the_full_font(seal_png: bytes, tmp_path: Path) -> None:
    # 堃 is outside GB 2312 (the fast "common" font) but in WenQuanYi.
    pdf = render_record_pdf(
        make_record(patient_name="王堃"),
        seal_png=seal_png,
        signer_name="王莉",
        signed_at=SIGNED_AT,
    )
    assert "姓名:王堃" in pdf_text(pdf, tmp_path)


def test_long_record_flows_onto_pages_and_wraps_chinese(
    seal_png: bytes, tmp_path: Path
) -> None:
    long_text = "患者诉右下后牙冷热刺激痛两周，夜间偶有自发痛，无放射痛。" * 100
    pdf = render_record_pdf(
        make_record(sections=[("现病史", long_text), ("医嘱", "Class II, 复诊。")]),
        seal_png=seal_png,
        signer_name="王莉",
        signed_at=SIGNED_AT,
    )
    text = pdf_text(pdf, tmp_path)
    assert "第2页/共2页" in text.replace(" ", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert not [line for line in lines if line[0] in "，。；：、"]  # 悬挂标点
    assert "Class II, 复诊。" in text
    assert len(render_preview_png(pdf, dpi=40)) == 2


def test_a_seal_with_an_icc_profile_keeps_it_in_every_document() -> None:
    """The seal's image is made once per process: the second record, drawn from
    that cache, still carries the seal and its colour profile."""
    photo = Image.open(io.BytesIO(make_seal_png()))
    out = io.BytesIO()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo.save(out, format="PNG", icc_profile=srgb)
    for _ in range(2):
        pdf = render_record_pdf(
            make_record(), seal_png=out.getvalue(), signer_name="王莉", signed_at="x"
        )
        assert pdf.count(b"/ICCBased") == 1
        page = render_preview_png(pdf, dpi=110)[0]
        assert red_pixels_in_seal_box(page, 110) > 200


def test_bad_seal_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        render_record_pdf(
            make_record(), seal_png=b"not a png", signer_name="王莉", signed_at="x"
        )
    assert "签章图片无效" in caught.value.message


def test_preview_of_garbage_fails_cleanly() -> None:
    with pytest.raises(DocumentError):
        render_preview_png(b"%PDF-1.4 garbage")
