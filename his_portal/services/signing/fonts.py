"""The Chinese font of record PDFs, parsed once per process and embedded cheaply.

fpdf2 parses the font file for every document (``add_font``) and, on output, runs
fontTools' subsetter over the whole parsed font. With WenQuanYi Micro Hei (49 531
glyphs) that cost ≈ 340 ms per record; a process-wide copy cut to the "common"
characters (everything below CJK Ext-A, full-width forms and GB 2312's 6 763 hanzi:
7 541 glyphs) brought it to ≈ 60 ms, still mostly parsing (glyf, post, cmap, hmtx).

Now the common font is parsed once per process into a *prototype* (fpdf2's
``TTFFont`` with its widths and glyph map, and the fontTools font behind it). Each
document gets a clone of the prototype (its own width cache and subset map), and
just before output the clone's font is swapped for a small font holding only the
glyphs the document used (plus their components): fontTools then subsets a few
hundred glyphs instead of thousands. A record with a character outside the common
set (a rare name) still goes through fpdf2's own path with the full font.

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
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset, ttLib
from fontTools.ttLib import newTable
from fontTools.ttLib.tables._g_l_y_f import Glyph
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import OutputProducer

from his_portal.settings import PROJECT_ROOT

__all__ = ["FONT_PATH", "SmallFontOutput", "add_cjk_font", "release", "warm_up"]

FONT_PATH = PROJECT_ROOT / "assets" / "fonts" / "wqy-microhei.ttf"
# Tables the small per-document font copies from the prototype (fontTools' subsetter
# and save may change them, so each document gets its own copy).
_COPIED_TABLES = ("head", "hhea", "maxp", "OS/2", "name")

_lock = threading.Lock()
_prototype: _Prototype | None = None


@dataclass(frozen=True)
class _Prototype:
    covered: frozenset[int]
    font: TTFFont
    """fpdf2's font, parsed once; documents get clones."""
    rank: dict[str, int]
    """Glyph name → glyph id (the order a document's glyphs keep)."""


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
    return _Prototype(covered, font, {name: gid for gid, name in enumerate(order)})


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


def _glyph_copy(glyph: Glyph) -> Glyph:
    """A glyph for a document's font. Compiled bytes are trimmed in place by the
    subsetter, so a simple glyph gets a new object sharing them; an expanded
    composite is only read (compiled by component name), so it is shared."""
    if glyph.isComposite():
        return glyph
    clone = Glyph.__new__(Glyph)
    clone.__dict__.update(glyph.__dict__)
    return clone


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


def _with_components(glyf, names: list[str]) -> set[str]:
    kept, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in kept:
            kept.add(name)
            todo.extend(glyf.glyphs[name].getComponentNames(glyf))
    return kept


def _small_font(font: TTFFont) -> ttLib.TTFont:
    """A font with only the glyphs ``font``'s document used, named as before."""
    source = _prototype.font.ttfont
    glyf, hmtx = source["glyf"], source["hmtx"]
    used = _with_components(glyf, [".notdef", *font.subset.get_all_glyph_names()])
    names = sorted(used, key=_prototype.rank.__getitem__)
    small = ttLib.TTFont(recalcBBoxes=False, recalcTimestamp=False)
    small.setGlyphOrder(names)
    for tag in _COPIED_TABLES:
        small[tag] = copy.deepcopy(source[tag])
    post = small["post"] = newTable("post")
    for field, value in vars(source["post"]).items():
        if not isinstance(value, list | dict):  # glyph names stay behind
            setattr(post, field, value)
    post.formatType = 3.0
    small_glyf = small["glyf"] = newTable("glyf")
    small_glyf.glyphOrder = names
    small_glyf.glyphs = {name: _glyph_copy(glyf.glyphs[name]) for name in names}
    small["loca"] = newTable("loca")
    small_hmtx = small["hmtx"] = newTable("hmtx")
    small_hmtx.metrics = {name: hmtx.metrics[name] for name in names}
    cmap = small["cmap"] = newTable("cmap")
    cmap.tableVersion = 0
    table = ttLib.getTableModule("cmap").cmap_classes[4](4)
    table.platformID, table.platEncID, table.language = 3, 1, 0
    table.cmap = {
        glyph.unicode[0]: glyph.glyph_name
        for glyph, _ in font.subset.items()
        if glyph is not None and glyph.unicode and glyph.unicode[0] < 0x10000
    }
    cmap.tables = [table]
    return small


class SmallFontOutput(OutputProducer):
    """fpdf2's PDF writer, giving every cloned font the small font of the glyphs its
    document used first (pass as ``output(output_producer_class=...)``: by then the
    footers and the page count are written, so every glyph is known)."""

    def bufferize(self) -> bytearray:
        for font in self.fpdf.fonts.values():
            if isinstance(font, TTFFont) and font.ttfont is _prototype.font.ttfont:
                with _lock:  # the prototype's tables are read by several threads
                    font.ttfont = _small_font(font)
        return super().bufferize()


def release() -> None:
    """After output: drop fpdf2's process-wide glyph caches (they hold documents)."""
    SubsetMap.pick.cache_clear()
    SubsetMap.get_glyph.cache_clear()
