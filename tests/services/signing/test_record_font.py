"""The Chinese font parsed once per process (his_portal.services.signing.fonts):
each document embeds just its glyphs, documents do not share state, and nothing
builds up in the process across documents."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ots
from fontTools import ttLib
from fpdf.fonts import SubsetMap
from pypdf import PdfReader

from his_portal.services.signing import fonts
from his_portal.services.signing.record_pdf import render_record_pdf
from tests.services.signing.test_documents import SIGNED_AT, make_record, pdf_text


def embedded_font_file(pdf: bytes) -> bytes:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    (font,) = page["/Resources"]["/Font"].values()
    descriptor = font.get_object()["/DescendantFonts"][0].get_object()
    return descriptor["/FontDescriptor"]["/FontFile2"].get_object().get_data()


def embedded_font(pdf: bytes) -> ttLib.TTFont:
    return ttLib.TTFont(io.BytesIO(embedded_font_file(pdf)))


def render(**changes) -> bytes:
    return render_record_pdf(
        make_record(**changes), seal_png=None, signer_name="王莉", signed_at=SIGNED_AT
    )


def test_the_embedded_font_holds_only_the_documents_glyphs() -> None:
    font = embedded_font(render(sections=[("主诉", "牙痛")]))
    # The labels, header and footer use a few hundred characters, not 7 541.
    assert 100 < font["maxp"].numGlyphs < 400
    assert font.getGlyphOrder()[0] == ".notdef"
    glyf = font["glyf"]
    for name in font.getGlyphOrder():  # every component present, outlines intact
        glyph = glyf[name]
        for component in getattr(glyph, "components", []):
            assert component.glyphName in glyf
    assert "uni75DB" in font.getGlyphOrder()  # 痛


def test_documents_rendered_at_once_keep_their_own_text(tmp_path: Path) -> None:
    names = ["张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十"]

    def one(name: str) -> str:
        pdf = render(patient_name=name, sections=[("主诉", f"{name}的主诉")])
        (tmp_path / name).mkdir()
        return pdf_text(pdf, tmp_path / name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(one, names))
    for name, text in zip(names, texts, strict=True):
        assert f"姓名:{name}" in text and f"{name}的主诉" in text
        assert not any(other in text for other in names if other != name)


def test_rendering_leaves_the_prototype_and_fpdf_caches_as_they_were() -> None:
    render()
    prototype = fonts._prototype
    glyphs = len(prototype.font.ttfont["glyf"].glyphs)
    widths = dict(prototype.font.cw)
    for index in range(5):
        render(patient_name=f"患者{index}", sections=[("主诉", "龋齿疼痛，冷热敏感")])
    assert len(prototype.font.ttfont["glyf"].glyphs) == glyphs
    assert dict(prototype.font.cw) == widths
    assert SubsetMap.pick.cache_info().currsize == 0  # documents not kept alive


def test_each_character_code_is_its_glyph_id_with_the_characters_outline() -> None:
    text = "½É牙痛"  # Latin and hanzi drawn from components in this font
    pdf = render(sections=[("主诉", text)])
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    (font_ref,) = page["/Resources"]["/Font"].values()
    font_dict = font_ref.get_object()
    cid_font = font_dict["/DescendantFonts"][0].get_object()
    assert cid_font["/CIDToGIDMap"] == "/Identity"
    embedded = embedded_font(pdf)
    to_unicode = font_dict["/ToUnicode"].get_object().get_data().decode()
    codes = {
        chr(int(char, 16)): int(code, 16)
        for code, char in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", to_unicode)
    }
    prototype = fonts._prototype.font.ttfont
    source_glyf, glyf = prototype["glyf"], embedded["glyf"]
    order = embedded.getGlyphOrder()
    for char in text:
        mine = glyf[order[codes[char]]]
        theirs = source_glyf[prototype.getBestCmap()[ord(char)]]
        assert mine.getCoordinates(glyf)[0] == theirs.getCoordinates(source_glyf)[0]
        assert (
            embedded["hmtx"][order[codes[char]]]
            == prototype["hmtx"][prototype.getBestCmap()[ord(char)]]
        )


def test_the_embedded_font_passes_the_opentype_sanitizer(tmp_path: Path) -> None:
    """OTS is the font checker browsers run before they draw a font; ours is
    written by our own code (his_portal.services.signing.font_file)."""
    pdf = render(sections=[("主诉", "½É牙痛，夜间加重")])
    (tmp_path / "record.ttf").write_bytes(embedded_font_file(pdf))
    checked = ots.sanitize(
        str(tmp_path / "record.ttf"), str(tmp_path / "clean.ttf"), capture_output=True
    )
    assert checked.returncode == 0, checked.stderr.decode()
