"""The footer of every record page: the verification link and its QR code.

Both are part of the page content, so the signature covers them: whoever holds the
PDF or a print of it can scan the code or type the link to open ``/verify/<id>``.
The code is drawn as vector rectangles (crisp at any zoom and in print, a few
kilobytes), one per run of dark modules in a row.
"""

from __future__ import annotations

from functools import lru_cache

import qrcode
from fpdf import FPDF
from qrcode.constants import ERROR_CORRECT_M

__all__ = [
    "FOOTER_HEIGHT",
    "PLACEHOLDER",
    "QR_SIZE",
    "draw_footer",
    "qr_modules",
    "verify_prompt",
]

QR_SIZE = 18.0  # mm, the code's side
QR_BOTTOM = 7.0  # mm from the page's bottom edge: clear of printers' dead zone
#: The page area the footer keeps for itself (the body's page-break margin).
FOOTER_HEIGHT = QR_SIZE + QR_BOTTOM + 3.0
#: The preview's footer, before signing gives the record its link.
PLACEHOLDER = "签署后在此生成验证二维码与链接，扫码即可验证本病历签名"
_LINE = 4.5  # mm per footer text line
_GREY = (110, 110, 110)
_RULE_GREY = (200, 200, 200)
# Seams between adjacent rectangles show in some viewers: rows overlap slightly.
_OVERLAP = 0.02  # mm


def verify_prompt(url: str) -> str:
    """The footer's invitation to verify, with the record's link."""
    return f"扫码或访问 {url} 验证本病历签名"


@lru_cache(maxsize=64)
def qr_modules(text: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code of ``text`` (error correction M, no quiet zone), row by row.

    Cached: every page of a record repeats its code. The mask is fixed: choosing
    the best of eight (the scanner reads which from the code) tripled the cost,
    for a code printed as vectors where any mask scans.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    code.add_data(text)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def _draw_qr(pdf: FPDF, text: str, x: float, y: float) -> None:
    modules = qr_modules(text)
    step = QR_SIZE / len(modules)
    pdf.set_fill_color(0, 0, 0)
    for row_index, row in enumerate(modules):
        top = y + row_index * step
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            start = column
            while column < len(row) and row[column]:
                column += 1
            width = (column - start) * step
            pdf.rect(x + start * step, top, width, step + _OVERLAP, style="F")


def draw_footer(
    pdf: FPDF, *, verify_url: str | None, lines: list[str], margin: float
) -> None:
    """Draw the footer of the current page: ``lines`` of text (page numbers and the
    like) under the verification prompt, and the QR code at the right.

    Args:
        pdf: The document, with the "cjk" font registered.
        verify_url: The record's verification link; None draws a placeholder
            frame where the code will be (the preview before signing).
        lines: Further footer lines, e.g. the record number and page numbers.
        margin: The page's left and right margin (mm).
    """
    qr_x = pdf.w - margin - QR_SIZE
    qr_y = pdf.h - QR_BOTTOM - QR_SIZE
    pdf.set_draw_color(*_RULE_GREY)
    pdf.line(margin, qr_y - 2, qr_x - 4, qr_y - 2)  # clear of the quiet zone
    if verify_url:
        _draw_qr(pdf, verify_url, qr_x, qr_y)
    else:
        pdf.set_dash_pattern(dash=1, gap=1)
        pdf.rect(qr_x, qr_y, QR_SIZE, QR_SIZE)
        pdf.set_dash_pattern()
    pdf.set_draw_color(0, 0, 0)
    texts = [verify_prompt(verify_url) if verify_url else PLACEHOLDER, *lines]
    width = qr_x - 4 - margin
    pdf.set_font("cjk", size=8)
    pdf.set_text_color(*_GREY)
    pdf.set_xy(margin, qr_y + (QR_SIZE - _LINE * len(texts)) / 2)
    for text in texts:
        pdf.multi_cell(width, _LINE, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(margin)
    pdf.set_text_color(0, 0, 0)
