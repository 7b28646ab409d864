"""The B-LTA update of a record just signed, written directly: the DSS (B-LT) and a
document timestamp (B-LTA) in one incremental update, as pyHanko writes them
(:func:`.ltv.add_long_term_validation`), without reading the whole file again.

The file is one we have just written: fpdf2's record plus endesive's signature,
both with classic cross-reference tables. Only what the update changes is read:
the cross-reference sections (to find objects), the trailer, the catalog (it gets
``/DSS``, the ESIC extension and the new field in ``/AcroForm``) and the first page
(the new field's widget joins its ``/Annots``, where pyHanko puts it too). The
rest of the update is new objects:

* one stream per certificate (those given and the OCSP responders' the responses
  carry), OCSP response and CRL, listed in ``/DSS`` and in a ``/VRI`` entry keyed
  by the SHA-1 of the signature's ``/Contents``;
* a signature field with a zero-size widget whose value is a ``/DocTimeStamp``
  dictionary (``/SubFilter /ETSI.RFC3161``): the TSA's token over the byte range,
  that is the whole file but the token itself.

A file this writer does not expect (a cross-reference stream, a DSS already,
no AcroForm) raises :class:`SigningError`: archive renewal, which extends an
existing DSS, keeps pyHanko's writer.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable

from asn1crypto import ocsp
from pypdf import generic as po
from pypdf.errors import PyPdfError

from his_portal.adapters.tsa_client import TimestampSource, build_request
from his_portal.services.signing.pades import SigningError, timestamp_token

__all__ = ["append_dss_and_timestamp"]

#: Hex characters reserved for a document timestamp token: one with the TSA's
#: certificate and the CA is ≈ 3.5 KB, so 16 KB of hex leave room for an
#: external TSA's longer chain.
TOKEN_ROOM = 16384
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_BYTE_RANGE = b"/ByteRange [0000000000 0000000000 0000000000 0000000000]"
_OBJ_HEADER = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")
_UNREADABLE = (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError)


class _Reader:
    """Enough of a reader for pypdf's object parser: references stay references.
    Nothing is resolved through it: values are read with ``raw_get`` and an
    indirect one where a direct one is expected is refused."""

    strict = False


def _name(value: str) -> po.NameObject:
    return po.NameObject(value)


class _File:
    """The signed file's cross-reference data and the objects the update rewrites."""

    def __init__(self, pdf: bytes) -> None:
        self.pdf = pdf
        tail = _STARTXREF.search(pdf, max(0, len(pdf) - 64))
        if tail is None:
            raise SigningError("签名结构异常：找不到文件末尾的交叉引用")
        self.startxref = int(tail[1])
        self.offsets: dict[int, int | None] = {}
        self.trailer = self._read_sections(self.startxref)

    def _read_sections(self, offset: int) -> po.DictionaryObject:
        newest: po.DictionaryObject | None = None
        seen: set[int] = set()
        while offset not in seen:
            seen.add(offset)
            if self.pdf[offset : offset + 4] != b"xref":
                raise SigningError("签名结构异常：不支持的交叉引用格式")
            end = self.pdf.index(b"trailer", offset)
            tokens = self.pdf[offset + 4 : end].split()
            index = 0
            while index < len(tokens):
                start, count = int(tokens[index]), int(tokens[index + 1])
                index += 2
                for number in range(start, start + count):
                    position, kind = int(tokens[index]), tokens[index + 2]
                    index += 3  # the newest section wins; a free entry hides older
                    self.offsets.setdefault(number, position if kind == b"n" else None)
            trailer = self._parse(end + len(b"trailer"))
            newest = newest if newest is not None else trailer
            previous = trailer.get("/Prev")
            if previous is None:
                return newest
            offset = int(previous)
        raise SigningError("签名结构异常：交叉引用循环")

    def _parse(self, offset: int):
        while self.pdf[offset : offset + 1].isspace():
            offset += 1
        stream = io.BytesIO(self.pdf)
        stream.seek(offset)
        return po.read_object(stream, _Reader())

    def object(self, reference) -> po.DictionaryObject:
        if not isinstance(reference, po.IndirectObject):
            raise SigningError("签名结构异常：找不到对象")
        offset = self.offsets.get(reference.idnum)
        header = None if offset is None else _OBJ_HEADER.match(self.pdf, offset)
        if header is None or int(header[1]) != reference.idnum:
            raise SigningError("签名结构异常：找不到对象")
        value = self._parse(header.end())
        if not isinstance(value, po.DictionaryObject):
            raise SigningError("签名结构异常：对象不是字典")
        return value


def _array(dictionary: po.DictionaryObject, key: str) -> po.ArrayObject:
    """A direct array entry (absent: empty)."""
    value = dictionary.raw_get(key) if key in dictionary else po.ArrayObject()
    if not isinstance(value, po.ArrayObject):
        raise SigningError(f"签名结构异常：{key} 不是数组")
    return value


def _string_bytes(value: po.PdfObject) -> bytes:
    """A PDF string's bytes, as the file had them."""
    if isinstance(value, po.TextStringObject):
        return value.original_bytes
    return bytes(value)


def _with_responders(certificates: list[bytes], ocsps: list[bytes]) -> list[bytes]:
    """The certificates plus those the OCSP responses carry (their responders), as
    pyHanko's DSS writer adds them: the responder's own chain is then in the DSS."""
    found = dict.fromkeys(certificates)
    for der in ocsps:
        basic = ocsp.OCSPResponse.load(der).basic_ocsp_response
        found.update(dict.fromkeys(cert.dump() for cert in basic["certs"] or ()))
    return list(found)


def _stream(data: bytes) -> po.StreamObject:
    stream = po.StreamObject()
    stream.set_data(data)
    return stream


def _serialise(number: int, value: po.PdfObject) -> bytes:
    out = io.BytesIO()
    out.write(b"%d 0 obj\n" % number)
    value.write_to_stream(out)
    out.write(b"\nendobj\n")
    return out.getvalue()


def _ref(number: int) -> po.IndirectObject:
    return po.IndirectObject(number, 0, None)


def _refs(numbers: Iterable[int]) -> po.ArrayObject:
    return po.ArrayObject(_ref(n) for n in numbers)


def _xref(entries: dict[int, int]) -> bytes:
    """A cross-reference table of ``entries`` (object number → offset)."""
    lines, numbers = [b"xref", b"0 1", b"0000000000 65535 f "], sorted(entries)
    run: list[int] = []
    for number in [*numbers, -1]:
        if run and number != run[-1] + 1:
            lines.append(b"%d %d" % (run[0], len(run)))
            lines += [b"%010d 00000 n " % entries[n] for n in run]
            run = []
        run.append(number)
    return b"\n".join(lines) + b"\n"


def append_dss_and_timestamp(
    pdf: bytes,
    *,
    signature_contents: bytes,
    certificates: list[bytes],
    ocsps: list[bytes],
    crls: list[bytes],
    tsa: TimestampSource,
) -> bytes:
    """Append the DSS and a document timestamp to a record just signed.

    Args:
        pdf: fpdf2's record plus endesive's signature (classic xref tables).
        signature_contents: The signature's raw ``/Contents`` (the VRI key's input).
        certificates: DER certificates for the DSS (signer, chain, TSA).
        ocsps: DER OCSP responses.
        crls: DER CRLs.
        tsa: Issues the document timestamp.

    Returns:
        The PDF plus one incremental update.

    Raises:
        SigningError: A file structure this writer does not handle.
        TimestampError: The TSA refused or answered something else.
    """
    try:
        return _append(pdf, signature_contents, certificates, ocsps, crls, tsa)
    except _UNREADABLE as exc:
        raise SigningError(f"添加长期验证数据失败：{exc}") from exc


class _Objects:
    """The update's objects by number; new ones numbered from the file's /Size."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.by_number: dict[int, po.PdfObject] = {}

    def add(self, value: po.PdfObject) -> int:
        self.by_number[self.size] = value
        self.size += 1
        return self.size - 1


def _dss(
    objects: _Objects,
    signature_contents: bytes,
    certificates: list[bytes],
    ocsps: list[bytes],
    crls: list[bytes],
) -> int:
    """The DSS, its VRI entry and their streams; returns the DSS's number."""
    lists = {
        "Cert": [
            objects.add(_stream(der)) for der in _with_responders(certificates, ocsps)
        ],
        "OCSP": [objects.add(_stream(der)) for der in ocsps],
        "CRL": [objects.add(_stream(der)) for der in crls],
    }
    vri = po.DictionaryObject({_name("/Type"): _name("/VRI")})
    dss = po.DictionaryObject()
    for key, ids in lists.items():
        if ids:
            vri[_name(f"/{key}")] = _refs(ids)
            dss[_name(f"/{key}s")] = _refs(ids)
    key = "/" + hashlib.sha1(signature_contents).hexdigest().upper()
    dss[_name("/VRI")] = po.DictionaryObject({_name(key): _ref(objects.add(vri))})
    return objects.add(dss)


def _stamp_field(objects: _Objects, page: po.IndirectObject) -> tuple[int, int]:
    """The document timestamp's field and widget (zero size, on ``page``) and the
    number its signature dictionary will have; returns (signature, field)."""
    signature = objects.add(po.NullObject())  # written by hand: see _write
    field = po.DictionaryObject(
        {
            _name("/FT"): _name("/Sig"),
            _name("/T"): po.TextStringObject(f"Timestamp{signature}"),
            _name("/Type"): _name("/Annot"),
            _name("/Subtype"): _name("/Widget"),
            _name("/F"): po.NumberObject(132),  # print, locked
            _name("/Rect"): po.ArrayObject([po.NumberObject(0)] * 4),
            _name("/P"): page,
            _name("/V"): _ref(signature),
        }
    )
    return signature, objects.add(field)


def _extend_catalog(
    catalog: po.DictionaryObject,
    form: po.DictionaryObject,
    dss: po.IndirectObject,
    field: po.IndirectObject,
    header_version: bytes,
) -> None:
    """/DSS, the ESIC extension (PDF 1.7 extension level 1, as pyHanko declares for
    a document timestamp) and the new field in /AcroForm."""
    form[_name("/Fields")] = po.ArrayObject([*_array(form, "/Fields"), field])
    catalog[_name("/DSS")] = dss
    extensions = (
        catalog.raw_get("/Extensions")
        if "/Extensions" in catalog
        else po.DictionaryObject()
    )
    if not isinstance(extensions, po.DictionaryObject):
        raise SigningError("签名结构异常：不支持的扩展声明")
    extensions[_name("/ESIC")] = po.DictionaryObject(
        {
            _name("/Type"): _name("/DeveloperExtensions"),
            _name("/BaseVersion"): _name("/1.7"),
            _name("/ExtensionLevel"): po.NumberObject(1),
        }
    )
    catalog[_name("/Extensions")] = extensions
    if header_version < b"1.7":
        catalog[_name("/Version")] = _name("/1.7")


def _append(pdf, signature_contents, certificates, ocsps, crls, tsa) -> bytes:
    source = _File(pdf)
    root_ref = source.trailer.raw_get("/Root")
    catalog = source.object(root_ref)
    form = catalog.raw_get("/AcroForm") if "/AcroForm" in catalog else None
    if "/DSS" in catalog or not isinstance(form, po.DictionaryObject):
        raise SigningError("签名结构异常：文件已有长期验证数据或没有签名域")
    kids = source.object(catalog.raw_get("/Pages")).raw_get("/Kids")
    first_ref = kids[0] if isinstance(kids, po.ArrayObject) else None
    first = source.object(first_ref)
    annots = first.raw_get("/Annots") if "/Annots" in first else po.ArrayObject()
    if first.raw_get("/Type") != "/Page" or not isinstance(annots, po.ArrayObject):
        raise SigningError("签名结构异常：不支持的页面结构")
    objects = _Objects(int(source.trailer.raw_get("/Size")))
    dss = _dss(objects, signature_contents, certificates, ocsps, crls)
    signature, field = _stamp_field(objects, first_ref)
    _extend_catalog(catalog, form, _ref(dss), _ref(field), header_version=pdf[5:8])
    first[_name("/Annots")] = po.ArrayObject([*annots, _ref(field)])
    objects.by_number[root_ref.idnum] = catalog
    objects.by_number[first_ref.idnum] = first
    return _write(source, objects, signature, tsa)


def _write(source: _File, objects: _Objects, signature: int, tsa) -> bytes:
    """The update: the objects, the document timestamp's signature dictionary (its
    /ByteRange and /Contents placeholders filled once the offsets are known), the
    cross-reference table and the trailer; then the TSA's token over the range."""
    body = bytearray(source.pdf)
    if not body.endswith(b"\n"):
        body += b"\n"
    offsets: dict[int, int] = {}
    for number, value in sorted(objects.by_number.items()):
        offsets[number] = len(body)
        if number != signature:
            body += _serialise(number, value)
            continue
        body += b"%d 0 obj\n<<\n/Type /DocTimeStamp\n/Filter /Adobe.PPKLite\n" % number
        body += b"/SubFilter /ETSI.RFC3161\n"
        range_at = len(body)
        body += _BYTE_RANGE + b"\n/Contents "
        contents_at = len(body)
        body += b"<" + b"0" * TOKEN_ROOM + b">\n>>\nendobj\n"
    xref_at = len(body)
    body += _xref(offsets) + b"trailer\n" + _trailer(source, objects.size)
    body += b"\nstartxref\n%d\n%%%%EOF\n" % xref_at
    after = contents_at + TOKEN_ROOM + 2
    byte_range = b"/ByteRange [0 %d %d %d]" % (contents_at, after, len(body) - after)
    body[range_at : range_at + len(_BYTE_RANGE)] = byte_range.ljust(len(_BYTE_RANGE))
    request, _ = build_request(bytes(body[:contents_at]) + bytes(body[after:]))
    hex_token = timestamp_token(tsa, request).dump().hex().encode()
    if len(hex_token) > TOKEN_ROOM:
        raise SigningError("时间戳预留空间不足")
    body[contents_at + 1 : after - 1] = hex_token.ljust(TOKEN_ROOM, b"0")
    return bytes(body)


def _trailer(source: _File, size: int) -> bytes:
    """The new trailer: /Size, /Root, /Prev, and the file's /Info and /ID."""
    trailer = po.DictionaryObject(
        {
            _name("/Size"): po.NumberObject(size),
            _name("/Root"): source.trailer.raw_get("/Root"),
            _name("/Prev"): po.NumberObject(source.startxref),
        }
    )
    if "/Info" in source.trailer:
        trailer[_name("/Info")] = source.trailer.raw_get("/Info")
    if "/ID" in source.trailer:  # the same bytes, written as hex strings
        trailer[_name("/ID")] = po.ArrayObject(
            po.ByteStringObject(_string_bytes(part))
            for part in _array(source.trailer, "/ID")
        )
    out = io.BytesIO()
    trailer.write_to_stream(out)
    return out.getvalue()
