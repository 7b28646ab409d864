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


def _qr_operators(modules: tuple[tuple[bool, ...], ...], overlap: float) -> str:
    """The code as PDF path operators in its own unit square (one rectangle per run
    of dark modules, rows from the top)."""
    size, height = len(modules), f"{1 + overlap:.3f}"
    runs = []
    for row_index, row in enumerate(modules):
        column = 0
        while column < size:
            if not row[column]:
                column += 1
                continue
            start = column
            while column < size and row[column]:
                column += 1
            top = size - row_index - 1
            runs.append(f"{start} {top} {column - start} {height} re")
    return "\n".join(runs)


def _draw_qr(pdf: FPDF, text: str, x: float, y: float) -> None:
    """One path for the whole code, scaled into place: fpdf2's ``rect`` per run of
    modules cost more than the rest of the footer (≈ 200 calls a page)."""
    modules = qr_modules(text)
    scale = QR_SIZE / len(modules) * pdf.k  # points per module
    overlap = _OVERLAP * pdf.k / scale  # in modules
    bottom = (pdf.h - y - QR_SIZE) * pdf.k
    pdf.set_fill_color(0, 0, 0)
    pdf._out(  # fpdf2's way to write raw page content
        f"q {scale:.4f} 0 0 {scale:.4f} {x * pdf.k:.2f} {bottom:.2f} cm\n"
        f"{_qr_operators(modules, overlap)}\nf Q"
    )


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
        # A line that fits is a plain cell (fpdf2's line breaker costs more).
        fits = pdf.get_string_width(text) + 2 * pdf.c_margin <= width
        write = pdf.cell if fits else pdf.multi_cell
        write(width, _LINE, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(margin)
    pdf.set_text_color(0, 0, 0)
