"""Render a medical record (病历) as the A4 PDF a doctor signs, and preview it.

The PDF carries everything 21 CFR 11.50 asks a signature to show in
human-readable form: the doctor's seal and printed name, the signing time, and
what the signature means; every page's footer carries the record's verification
link and its QR code (:mod:`.verify_footer`). The digital signature itself is added
afterwards by :mod:`his_portal.services.signing.pades`, and the page is where it
learns the seal's place: the seal is the only image drawn on the last page (the
signer line's), so the signature's widget covers it and shows that same image.

Fonts: :mod:`.fonts` (the Chinese font parsed once per process).
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.image_datastructures import RasterImageInfo
from fpdf.image_parsing import get_img_info
from PIL import Image, UnidentifiedImageError

from his_portal.services.signing import fonts
from his_portal.services.signing.pades import SigningError
from his_portal.services.signing.verify_footer import FOOTER_HEIGHT, draw_footer

__all__ = [
    "SECTION_HEADINGS",
    "DocumentError",
    "RecordDocument",
    "render_preview_png",
    "render_record_pdf",
]

#: The sections of a dental record, in the order the tutorial shows them.
SECTION_HEADINGS = (
    "主诉",
    "现病史",
    "既往史",
    "检查",
    "诊断",
    "治疗计划",
    "处置",
    "医嘱",
)
SIGNED_NOTICE = "本病历已由医生使用数字证书电子签名，签名后内容不可修改。"

_TOKEN = re.compile(r"[A-Za-z0-9]+|\s+|.")
_NO_LINE_START = frozenset("，。、；：？！）】》」』”’…%,.;:?!)]}")
_MARGIN = 18.0  # mm
_SIGNER_BLOCK = 34.0  # mm kept free at the bottom of the last page
_SEAL_HEIGHT = 14.0  # mm
_SEAL_MAX_WIDTH = 42.0  # mm
_MAX_SEAL_PIXELS = 4_000_000
_PREVIEW_TIMEOUT = 60  # seconds
_SEALS_KEPT = 16
_GREY = (110, 110, 110)


class DocumentError(SigningError):
    """The record could not be rendered or previewed."""


@dataclass(frozen=True)
class RecordDocument:
    """What a record's PDF shows; plain display strings, already formatted."""

    clinic_name: str
    """The clinic (branch) name, first line of the header."""
    title: str
    """The record title, e.g. "初诊病历"."""
    record_no: str
    """病历号."""
    patient_name: str
    sex: str
    """"男" or "女"."""
    age: int
    doctor_name: str
    """The treating doctor."""
    visit_item: str
    """挂号项目."""
    created_at: str
    """创建时间, formatted for display."""
    sections: Sequence[tuple[str, str]] = ()
    """(heading, text) pairs, e.g. ("主诉", "牙列不齐"); empty texts are skipped."""
    version: int = 1
    """The record version; an amendment is a new version, signed again."""


# A batch prints the same seal on every record: its PDF image (decoded, split into
# colour and alpha, compressed: ≈ 6 ms) is made once per process and seal.
_seals: OrderedDict[str, RasterImageInfo] = OrderedDict()
_seals_lock = threading.Lock()


def _seal_image(seal_png: bytes) -> tuple[str, RasterImageInfo]:
    """The seal's image for fpdf2's image cache, under a name from its digest."""
    name = "seal-" + hashlib.sha256(seal_png).hexdigest()
    with _seals_lock:
        info = _seals.get(name)
        if info is not None:
            _seals.move_to_end(name)
            return name, info
    try:
        image = Image.open(io.BytesIO(seal_png), formats=["PNG"])
        if image.width * image.height > _MAX_SEAL_PIXELS:
            raise DocumentError("签章图片尺寸过大")
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DocumentError("签章图片无效，请重新设置个性签章") from exc
    info = get_img_info(name, image)
    with _seals_lock:
        _seals[name] = info
        while len(_seals) > _SEALS_KEPT:
            _seals.popitem(last=False)
    return name, info


class _RecordPdf(FPDF):
    def __init__(self, doc: RecordDocument, verify_url: str | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.record = doc
        self.verify_url = verify_url

    def footer(self) -> None:
        page = f"第 {self.page_no()} 页 / 共 {{nb}} 页"
        draw_footer(
            self,
            verify_url=self.verify_url,
            lines=[f"病历号 {self.record.record_no}    {page}"],
            margin=_MARGIN,
        )

    def text_line(self, text: str, size: float, height: float, **kwargs) -> None:
        """One line (wrapped at spaces if too long), then back to the margin.
        A line that fits is a plain cell: fpdf2's line breaker costs more than the
        rest of the line."""
        self.set_font("cjk", size=size)
        self.set_text_color(*(_GREY if kwargs.pop("grey", False) else (0, 0, 0)))
        fits = self.get_string_width(text) + 2 * self.c_margin <= self.epw
        write = self.cell if fits else self.multi_cell
        write(0, height, text, new_x="LMARGIN", new_y="NEXT", **kwargs)
        self.set_text_color(0, 0, 0)

    def rule(self, gap: float) -> None:
        self.line(_MARGIN, self.get_y() + 2, self.w - _MARGIN, self.get_y() + 2)
        self.ln(gap)


def _write_header(pdf: _RecordPdf, doc: RecordDocument) -> None:
    pdf.text_line(doc.clinic_name, 16, 9, align="C")
    pdf.text_line("电子病历", 11, 6, align="C", grey=True)
    pdf.rule(6)
    pdf.text_line(doc.title, 15, 8, align="C")
    pdf.ln(2)
    info = (
        f"病历号:{doc.record_no} 姓名:{doc.patient_name} 性别:{doc.sex} "
        f"年龄:{doc.age} 医生:{doc.doctor_name}"
    )
    pdf.text_line(info, 10.5, 6)
    more = f"挂号项目:{doc.visit_item} 创建时间:{doc.created_at} 版本:{doc.version}"
    pdf.text_line(more, 10.5, 6)
    pdf.rule(5)


def _wrap(pdf: _RecordPdf, text: str, width: float) -> list[str]:
    """Break Chinese text anywhere, Latin words and numbers only between words.

    Closing punctuation never starts a line: it hangs past the right edge instead
    (悬挂标点), as in Chinese typesetting; fpdf2's CHAR mode would put "。" first.
    Widths come straight from the font's advance widths (what fpdf2 computes too:
    no shaping, spacing or stretching here), not through ``get_string_width``,
    which costs ≈ 20 µs a call, once per character of Chinese text.
    """
    advance, scale = pdf.current_font.cw, pdf.font_size_pt * 0.001 / pdf.k

    def measure(token: str) -> float:
        return sum(advance[ord(char)] for char in token) * scale

    lines = []
    for paragraph in text.splitlines() or [""]:
        tokens: list[str] = []
        for token in _TOKEN.findall(paragraph):
            # A "word" longer than the line is broken anywhere, like Chinese.
            too_long = measure(token) > width
            tokens.extend(token if too_long else [token])
        line, used = "", 0.0
        for token in tokens:
            token_width = measure(token)
            if line and used + token_width > width and token not in _NO_LINE_START:
                lines.append(line.rstrip())
                line, used = "", 0.0
                if token.isspace():
                    continue
            line, used = line + token, used + token_width
        lines.append(line.rstrip())
    return lines


def _write_sections(pdf: _RecordPdf, sections: Sequence[tuple[str, str]]) -> None:
    indent = _MARGIN + 4
    for heading, text in sections:
        if not text.strip():
            continue
        pdf.text_line(f"{heading}:", 11, 7)
        pdf.set_font("cjk", size=10.5)
        for line in _wrap(pdf, text.strip(), pdf.w - _MARGIN - indent):
            pdf.set_x(indent)
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)


def _write_signer(
    pdf: _RecordPdf,
    seal: tuple[str, RasterImageInfo] | None,
    signer_name: str,
    signed_at: str,
) -> None:
    top = pdf.h - pdf.b_margin - _SIGNER_BLOCK
    if pdf.get_y() > top:
        pdf.add_page()
    pdf.set_y(top)
    pdf.line(_MARGIN, top, pdf.w - _MARGIN, top)
    y = top + 5
    baseline = y + _SEAL_HEIGHT / 2 - 3  # text centred on the seal
    pdf.set_font("cjk", size=11)
    pdf.set_xy(_MARGIN, baseline)
    label = "签名医生："
    pdf.cell(pdf.get_string_width(label), 6, label)
    x = pdf.get_x() + 1
    if seal is not None:
        name, info = seal
        # This document's own copy, registered as fpdf2's preload_image does: it
        # numbers images and ICC profiles per document.
        cache = pdf.image_cache
        copy = RasterImageInfo(info, i=len(cache.images) + 1, usages=0, iccp=None)
        icc = info.get("iccp")
        copy["iccp_i"] = (
            cache.icc_profiles.setdefault(icc, len(cache.icc_profiles)) if icc else None
        )
        cache.images[name] = copy
        width = min(_SEAL_HEIGHT * info["w"] / info["h"], _SEAL_MAX_WIDTH)
        pdf.image(name, x=x, y=y, w=width, h=_SEAL_HEIGHT, keep_aspect_ratio=True)
        x += width + 2
    pdf.set_xy(x, baseline)
    pdf.cell(pdf.get_string_width(signer_name) + 8, 6, signer_name)
    pdf.cell(0, 6, f"签署时间：{signed_at}")
    pdf.set_xy(_MARGIN, y + _SEAL_HEIGHT + 3)
    pdf.text_line(SIGNED_NOTICE, 9, 5, grey=True)


def render_record_pdf(
    doc: RecordDocument,
    *,
    seal_png: bytes | None,
    signer_name: str,
    signed_at: str,
    verify_url: str | None = None,
) -> bytes:
    """Render a record as an A4 PDF with the signer line, ready to be signed.

    Args:
        doc: The record's content.
        seal_png: The doctor's seal (个性签章 or 系统签名), a PNG with transparency;
            None prints the name only.
        signer_name: The signing doctor's printed name.
        signed_at: The signing time as shown, e.g. "2026-11-25 16:30:00".
        verify_url: The record's public verification link, printed with its QR
            code in every page's footer; None (a preview before signing) prints
            where they will be.

    Returns:
        The PDF (fonts embedded as subsets).

    Raises:
        DocumentError: The seal is not a usable PNG.
    """
    seal = _seal_image(seal_png) if seal_png is not None else None
    pdf = _RecordPdf(doc, verify_url)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=FOOTER_HEIGHT)
    # repr(doc) holds every character of every field (sections included); the
    # fixed labels are GB 2312, always in the common font.
    text = f"{doc!r}{signer_name}{signed_at}{verify_url or ''}"
    fonts.add_cjk_font(pdf, "cjk", text)
    pdf.set_title(doc.title)
    pdf.set_author(signer_name)
    pdf.set_subject(f"病历号 {doc.record_no}")
    pdf.set_creator("HIS Portal 电子病历")
    pdf.set_lang("zh-CN")
    pdf.add_page()
    _write_header(pdf, doc)
    _write_sections(pdf, doc.sections)
    _write_signer(pdf, seal, signer_name, signed_at)
    try:
        return bytes(pdf.output(output_producer_class=fonts.SmallFontOutput))
    finally:
        fonts.release()


def render_preview_png(pdf: bytes, *, dpi: int = 110) -> list[bytes]:
    """Rasterise every page with poppler's ``pdftoppm`` (the 签署 preview).

    Returns:
        One PNG per page, in page order.

    Raises:
        DocumentError: pdftoppm is missing, failed, or the PDF is unreadable.
    """
    with tempfile.TemporaryDirectory(prefix="his-preview-") as tmp:
        source = Path(tmp) / "record.pdf"
        source.write_bytes(pdf)
        command = ["pdftoppm", "-png", "-r", str(int(dpi)), str(source)]
        try:
            subprocess.run(
                [*command, str(Path(tmp) / "page")],
                capture_output=True,
                timeout=_PREVIEW_TIMEOUT,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise DocumentError("无法生成病历预览") from exc
        # pdftoppm zero-pads page numbers to the page count's width: names sort.
        return [page.read_bytes() for page in sorted(Path(tmp).glob("page-*.png"))]
