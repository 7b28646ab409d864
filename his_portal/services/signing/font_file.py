"""A document's TrueType font file, written straight from compiled glyphs.

:mod:`his_portal.services.signing.fonts` keeps one parsed prototype font per
process; each document embeds a small font of the glyphs it used. Writing that file
with fontTools (deep copies of the tables, a compile of every table and glyph) cost
≈ 5 ms a record. Here the tables that do not depend on the document are compiled
once (:class:`FontTables`), and a document's font is those bytes, a few patched
counts, and its glyphs' bytes laid end to end.

The file has the tables a PDF viewer reads from an embedded CIDFontType2 font
(ISO 32000-1 §9.9: glyf, head, hhea, hmtx, loca, maxp) plus name, OS/2, post
(format 3: no glyph names) and a cmap (format 12) for tools that look for one.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO

from fontTools.ttLib import TTFont
from fontTools.ttLib.sfnt import SFNTWriter
from fontTools.ttLib.tables._g_l_y_f import Glyph

__all__ = ["FontTables", "write_font"]

# Offsets into the compiled tables (OpenType spec, "head", "hhea", "maxp").
_HEAD_CHECKSUM_ADJUSTMENT = 8
_HEAD_LOCA_FORMAT = 50  # indexToLocFormat: 1 = 32-bit offsets
_HHEA_METRICS_COUNT = 34  # numberOfHMetrics
_MAXP_GLYPH_COUNT = 4  # numGlyphs


@dataclass(frozen=True)
class FontTables:
    """The prototype's document-independent tables, compiled once."""

    head: bytes
    hhea: bytes
    maxp: bytes
    os2: bytes
    name: bytes
    post: bytes

    @classmethod
    def of(cls, font: TTFont) -> FontTables:
        post = font["post"]
        header = struct.pack(
            ">llhhLLLLL",
            0x00030000,  # format 3.0
            round(post.italicAngle * 65536),
            post.underlinePosition,
            post.underlineThickness,
            post.isFixedPitch,
            0,
            0,
            0,
            0,
        )
        return cls(
            head=font.getTableData("head"),
            hhea=font.getTableData("hhea"),
            maxp=font.getTableData("maxp"),
            os2=font.getTableData("OS/2"),
            name=font.getTableData("name"),
            post=header,
        )


class _GlyphIds:
    """What fontTools asks a glyf table when it compiles a composite glyph."""

    extended = False

    def __init__(self, ids: Mapping[str, int]) -> None:
        self._ids = ids

    def getGlyphID(self, name: str) -> int:
        return self._ids[name]


def _patched(data: bytes, offset: int, value: int, fmt: str = ">H") -> bytes:
    return (
        data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]
    )


def _cmap(unicodes: Mapping[int, int]) -> bytes:
    """A cmap with one Windows (3, 10) format 12 subtable: runs of consecutive
    characters on consecutive glyphs."""
    groups: list[list[int]] = []
    for char, glyph in sorted(unicodes.items()):
        last = groups[-1] if groups else None
        if last and char == last[1] + 1 and glyph == last[2] + char - last[0]:
            last[1] = char
        else:
            groups.append([char, char, glyph])
    body = b"".join(struct.pack(">LLL", *group) for group in groups)
    subtable = struct.pack(">HHLLL", 12, 0, 16 + len(body), 0, len(groups)) + body
    return struct.pack(">HHHHL", 0, 1, 3, 10, 12) + subtable


def write_font(
    tables: FontTables,
    *,
    names: Sequence[str],
    glyphs: Mapping[str, bytes | Glyph],
    metrics: Mapping[str, tuple[int, int]],
    unicodes: Mapping[int, int],
) -> bytes:
    """The font file of ``names`` in that order (glyph id = position).

    Args:
        tables: The prototype's compiled tables.
        names: Glyph names in glyph-id order, unique.
        glyphs: Each name's glyph: compiled bytes (simple glyphs) or expanded
            with components named (composites, compiled here against ``names``).
        metrics: Each name's (advance width, left side bearing).
        unicodes: Character → glyph id, for the cmap.
    """
    ids = _GlyphIds({name: gid for gid, name in enumerate(names)})
    offsets, chunks, size = [], [], 0
    for name in names:
        data = glyphs[name]
        if isinstance(data, Glyph):
            data = data.compile(ids, recalcBBoxes=False)
        data += b"\0" * (-len(data) % 4)
        offsets.append(size)
        chunks.append(data)
        size += len(data)
    offsets.append(size)
    count = len(names)
    hmtx = struct.pack(
        f">{'Hh' * count}", *(value for name in names for value in metrics[name])
    )
    out = BytesIO()
    writer = SFNTWriter(out, numTables=10)
    writer["OS/2"] = tables.os2
    writer["cmap"] = _cmap(unicodes)
    writer["glyf"] = b"".join(chunks)
    head = _patched(tables.head, _HEAD_CHECKSUM_ADJUSTMENT, 0, ">L")  # set on close
    writer["head"] = _patched(head, _HEAD_LOCA_FORMAT, 1, ">h")
    writer["hhea"] = _patched(tables.hhea, _HHEA_METRICS_COUNT, count)
    writer["hmtx"] = hmtx
    writer["loca"] = struct.pack(f">{count + 1}L", *offsets)
    writer["maxp"] = _patched(tables.maxp, _MAXP_GLYPH_COUNT, count)
    writer["name"] = tables.name
    writer["post"] = tables.post
    writer.close()
    return out.getvalue()
