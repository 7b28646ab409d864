"""The Chinese font of record PDFs, parsed once per process and embedded cheaply.

fpdf2 parses the font file for every document (``add_font``) and, on output, runs
fontTools' subsetter over the whole parsed font. With WenQuanYi Micro Hei (49 531
glyphs) that cost ≈ 340 ms per record; a process-wide copy cut to the "common"
characters (everything below CJK Ext-A, full-width forms and GB 2312's 6 763 hanzi:
7 541 glyphs) brought it to ≈ 60 ms, still mostly parsing (glyf, post, cmap, hmtx).

Now the common font is parsed once per process into a *prototype* (fpdf2's
``TTFFont`` with its widths and glyph map, and the fontTools font behind it). Each
document gets a clone of the prototype (its own width cache and subset map). At
output, :class:`SmallFontOutput` embeds each clone as a font file of only the glyphs
its document used (plus their components), built straight from the prototype's
compiled glyphs with each glyph at the id equal to its character code, so the PDF's
CIDToGIDMap is ``/Identity``. fpdf2's own path would run fontTools' subsetter over
that font again and write a 128 KB CIDToGIDMap (≈ 9 ms a record together). A record
with a character outside the common set (a rare name) still goes through fpdf2's
own path with the full font.

fpdf2 caches ``SubsetMap.pick`` and ``get_glyph`` in process-wide ``functools.cache``
tables keyed by the subset map, which keeps every document's fonts alive;
:func:`release` empties them after each output.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from fontTools import subset, ttLib
from fontTools.ttLib.tables._g_l_y_f import Glyph
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFContentStream,
    PDFFont,
    PDFFontStream,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.syntax import Name, PDFArray

from his_portal.services.signing.font_file import FontTables, write_font
from his_portal.settings import PROJECT_ROOT

__all__ = ["FONT_PATH", "SmallFontOutput", "add_cjk_font", "release", "warm_up"]

FONT_PATH = PROJECT_ROOT / "assets" / "fonts" / "wqy-microhei.ttf"

_lock = threading.Lock()
_prototype: _Prototype | None = None


@dataclass(frozen=True)
class _Prototype:
    covered: frozenset[int]
    font: TTFFont
    """fpdf2's font, parsed once; documents get clones."""
    rank: dict[str, int]
    """Glyph name → glyph id (the order a document's glyphs keep)."""
    tables: FontTables
    """The tables every document's font file repeats, compiled."""
    compiled: dict[str, bytes] = field(default_factory=dict)
    """Simple glyphs' bytes, by name, as documents first use them."""


def _is_common(codepoint: int) -> bool:
    if codepoint < 0x3400 or 0xFF00 <= codepoint <= 0xFFEF:
        return True  # everything before CJK Ext-A (Latin, symbols, kana, ...)
    try:
        chr(codepoint).encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _build_common_font() -> tuple[Path, frozenset[int]]:
    font = ttLib.TTFont(FONT_PATH, recalcTimestamp=False)
    keep = [cp for cp in font.getBestCmap() if _is_common(cp)]
    options = subset.Options()
    options.hinting = False  # PDF viewers hint themselves; halves glyf size
    options.glyph_names = True  # the per-document fonts are built by glyph name
    options.layout_features = []  # fpdf2 does no shaping here
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "vhea", "vmtx", "gasp"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=keep)
    subsetter.subset(font)
    # fpdf2 only loads fonts from a path; a private directory (0700) keeps other
    # local users from swapping the file under us.
    directory = Path(tempfile.mkdtemp(prefix="his-fonts-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "wqy-microhei-common.ttf"
    font.save(path)
    return path, frozenset(keep)


def _load_prototype() -> _Prototype:
    path, covered = _build_common_font()
    font = TTFFont(FPDF(), path, "cjk", "")
    glyf = font.ttfont["glyf"]
    # glyf.glyphs, not glyf[...]: indexing the table expands (decompiles) a glyph.
    for glyph in glyf.glyphs.values():
        if glyph.isComposite():
            # Composites refer to their parts by glyph id; expanded, by name, so
            # they can go into a font with another glyph order.
            glyph.expand(glyf)
    order = font.ttfont.getGlyphOrder()
    ranks = {name: gid for gid, name in enumerate(order)}
    return _Prototype(covered, font, ranks, FontTables.of(font.ttfont))


def warm_up() -> None:
    """Parse the common-character font now (≈ 3 s) instead of on first render."""
    global _prototype
    with _lock:
        if _prototype is None:
            _prototype = _load_prototype()


def _clone(prototype: TTFFont, pdf: FPDF, family: str) -> TTFFont:
    """The prototype for one document: its own width cache (reading a missing width
    inserts it) and subset; the read-only maps and the fontTools font shared."""
    font = copy.copy(prototype)
    font.i = len(pdf.fonts) + 1
    font.fontkey = family
    font.cw = defaultdict(prototype.cw.default_factory, prototype.cw)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    return font


def add_cjk_font(pdf: FPDF, family: str, text: str) -> None:
    """Register the Chinese font as ``family`` on ``pdf``, for a document showing
    ``text`` (every character it will print)."""
    warm_up()
    assert _prototype is not None
    needed = {ord(char) for char in text if ord(char) >= 0x20}
    if needed <= _prototype.covered:
        pdf.fonts[family] = _clone(_prototype.font, pdf, family)
    else:
        pdf.add_font(family, fname=FONT_PATH)
        # Subsetting keeps outlines as they are, so the stored bounding boxes stay
        # right; recomputing them on save expanded every glyph.
        pdf.fonts[family].ttfont.recalcBBoxes = False


def _parts(glyf, names: list[str]) -> set[str]:
    """The glyphs that the named glyphs draw as components, recursively."""
    kept: set[str] = set()
    todo = [
        part for name in names for part in glyf.glyphs[name].getComponentNames(glyf)
    ]
    while todo:
        name = todo.pop()
        if name not in kept:
            kept.add(name)
            todo.extend(glyf.glyphs[name].getComponentNames(glyf))
    return kept


def _compiled(glyf, name: str) -> bytes | Glyph:
    """A simple glyph's bytes (compiled once per process: the prototype holds many
    glyphs decompiled), or a composite as it is (its parts' ids differ by font)."""
    glyph = glyf.glyphs[name]
    if glyph.isComposite():
        return glyph
    data = _prototype.compiled.get(name)
    if data is None:
        data = _prototype.compiled[name] = glyph.compile(glyf, recalcBBoxes=False)
    return data


def _small_font(font: TTFFont) -> bytes:
    """The font file of the glyphs ``font``'s document used, each at the glyph id
    equal to its character code (so the PDF's CIDToGIDMap is /Identity)."""
    glyf, hmtx = _prototype.font.ttfont["glyf"], _prototype.font.ttfont["hmtx"]
    by_code = {code: glyph for glyph, code in font.subset.items() if glyph is not None}
    by_code.setdefault(0, None)  # .notdef
    # Unused codes (gaps) show .notdef's outline; they are never drawn.
    sources = [
        by_code[code].glyph_name if by_code.get(code) else ".notdef"
        for code in range(max(by_code) + 1)
    ]
    names = [".notdef", *(f"c{code}" for code in range(1, len(sources)))]
    # Composites draw their parts by name: the parts follow under their own.
    parts = sorted(_parts(glyf, sources), key=_prototype.rank.__getitem__)
    names += parts
    sources += parts
    pairs = list(zip(names, sources, strict=True))
    return write_font(
        _prototype.tables,
        names=names,
        glyphs={name: _compiled(glyf, source) for name, source in pairs},
        metrics={name: hmtx.metrics[source] for name, source in pairs},
        unicodes={
            glyph.unicode[0]: code
            for code, glyph in by_code.items()
            if glyph is not None and glyph.unicode
        },
    )


class SmallFontOutput(OutputProducer):
    """fpdf2's PDF writer, embedding every cloned font as the small font of the
    glyphs its document used (pass as ``output(output_producer_class=...)``: by then
    the footers and the page count are written, so every glyph is known). fpdf2's
    own path would subset that font again and write a 128 KB CIDToGIDMap."""

    def _add_fonts(self, *resources) -> dict[int, PDFFont]:
        registry = self.fpdf.fonts  # fpdf2 embeds what is in here: hide ours
        every = dict(registry)
        ours = [font for font in every.values() if _is_clone(font)]
        for key in [key for key, font in every.items() if font in ours]:
            del registry[key]
        try:
            objects = super()._add_fonts(*resources)
        finally:
            registry.clear()
            registry.update(every)
        for font in ours:
            objects[font.i] = self._add_small_font(font)
        return objects

    def _add_small_font(self, font: TTFFont) -> PDFFont:
        data = _small_font(font)
        name = f"MPDFAA+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        widths = _tt_font_widths(font)
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=name,
            d_w=font.desc.missing_width,
            w=widths,
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        to_unicode = PDFContentStream(
            _to_unicode(font).encode("latin-1"), compress=True
        )
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode
        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info
        descriptor = copy.copy(font.desc)  # the prototype's, shared by documents
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_font.c_i_d_to_g_i_d_map = Name("Identity")
        font_file = PDFFontStream(contents=data)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file
        return composite


def _is_clone(font) -> bool:
    return isinstance(font, TTFFont) and font.ttfont is _prototype.font.ttfont


def _utf16_hex(codepoints: tuple[int, ...]) -> str:
    return "".join(map(chr, codepoints)).encode("utf-16-be").hex().upper()


def _to_unicode(font: TTFFont) -> str:
    """The ToUnicode CMap: which text each character code stands for."""
    entries = [
        f"<{code:04X}> <{_utf16_hex(glyph.unicode)}>\n"
        for glyph, code in font.subset.items()
        if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode
    ]
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{_build_cmap_blocks(entries, 'bfchar')}"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )


def release() -> None:
    """After output: drop fpdf2's process-wide glyph caches (they hold documents)."""
    SubsetMap.pick.cache_clear()
    SubsetMap.get_glyph.cache_clear()
