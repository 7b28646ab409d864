"""The one place that loads endesive's PDF signer, and what we change in its output.

Why not ``import endesive.pdf.cms``: that runs ``endesive/pdf/__init__.py``, which
imports endesive's *verifier* → ``certvalidator`` → ``oscrypto`` 1.3.0, and oscrypto
fails on import with OpenSSL ≥ 3.0.10 ("Error detecting the version of libcrypto":
its regex reads "3.0.1" out of "3.0.19" and gives up; wbond/oscrypto#78, fixed
upstream, never released; the "fixed" forks on PyPI are incomplete wheels). We
never use endesive's verifier (pyHanko and pdfsig validate), and the signer file
``endesive/pdf/cms.py`` needs only pypdf, asn1crypto, cryptography and
``endesive.signer``. So :func:`_load_cms` executes that one file as a *private*
module (``his_portal.services._endesive_cms``) without running the package
``__init__``. Nothing global changes: oscrypto is never imported or patched, and
``sys.modules`` gains no ``endesive.pdf`` entry, so anyone importing it later gets
exactly the error they would have had anyway.

The price: cms.py's own *visible* appearance code imports
``endesive.pdf.PyPDF2_annotate`` lazily and would hit the same error, so
:func:`sign_incremental` refuses its appearance keys. endesive always writes an
invisible widget then, and :class:`_PadesSignedData` post-processes its objects:

* endesive 3.0.1 writes ``/SubFilter /adbe.pkcs7.detached`` for signatures (it uses
  ``ETSI.CAdES.detached`` only in its document-timestamp mode); PAdES baseline
  signatures need ``/ETSI.CAdES.detached``. Its CMS is already CAdES-shaped
  (signing-certificate-v2, no signing-time attribute), only the name is wrong.
* its invisible widget's appearance is a plain dictionary with ``/Bbox`` (sic)
  instead of a Form XObject stream with ``/BBox``; we write a proper empty stream.
* the visible seal (``seal_page``): the seal is already drawn in the page content
  (:mod:`his_portal.services.signing.record_pdf`), upright in the page's user
  space as fpdf2 writes images: ``q w 0 0 h x y cm /Name Do Q``. The widget gets
  that box as its ``/Rect``, joins that page's ``/Annots`` (endesive's invisible
  widget is on no page) and gets as its appearance a Form XObject that draws the
  *same* image XObject, by reference, at the same place (on white, see
  :meth:`_ImageDraw.appearance`): no second copy of the image, the page content
  untouched, and a click on the seal opens the viewer's signature panel. A page
  without exactly one image (no seal) keeps the invisible widget.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pypdf import generic as po

__all__ = ["sign_incremental"]

_MODULE_NAME = "his_portal.services._endesive_cms"
_APPEARANCE_KEYS = frozenset(
    {"signaturebox", "signature", "signature_img", "signature_appearance"}
)
_UNSIGNED = rb"(?:\d+\.?\d*|\.\d+)"
_SIGNED = rb"[-+]?" + _UNSIGNED
_IMAGE_DRAW = re.compile(
    rb"(?<!\S)q\s+(?P<w>%s)\s+0\s+0\s+(?P<h>%s)\s+(?P<x>%s)\s+(?P<y>%s)\s+cm\s*"
    rb"/(?P<name>[^\s/()<>\[\]{}%%]+)\s*Do\s+Q(?!\S)"
    % (_UNSIGNED, _UNSIGNED, _SIGNED, _SIGNED)
)
_lock = threading.Lock()


@cache
def _load_cms() -> ModuleType:
    spec = importlib.util.find_spec("endesive")
    if spec is None or spec.origin is None:
        raise ImportError("endesive is not installed")
    path = Path(spec.origin).parent / "pdf" / "cms.py"
    cms_spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if cms_spec is None or cms_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(cms_spec)
    cms_spec.loader.exec_module(module)
    return module


@cache
def _pades_class() -> type:
    base = _load_cms().SignedData

    class _PadesSignedData(base):
        def __init__(self, seal_page: int | None) -> None:
            super().__init__()
            self._seal_page = seal_page
            self._widget: tuple[po.DictionaryObject, po.IndirectObject] | None = None

        def _make_signature(self, Contents=None, Type=None, SubFilter=None):
            subfilter = po.NameObject("/ETSI.CAdES.detached")
            return super()._make_signature(
                Contents=Contents, Type=Type, SubFilter=subfilter
            )

        def _make_sig_annotation(self, *args: Any, **kwargs: Any):
            self._widget = super()._make_sig_annotation(*args, **kwargs)
            return self._widget

        def _makepdf(self, prev: Any, *args: Any, **kwargs: Any) -> None:
            super()._makepdf(prev, *args, **kwargs)
            widget, widget_ref = self._widget
            form_ref = widget["/AP"].get_object().raw_get("/N")
            page = None if self._seal_page is None else prev.pages[self._seal_page]
            seal = None if page is None else _seal_draw(page)
            if seal is None:  # invisible: an empty appearance, on no page
                self._objects[form_ref.idnum - 1] = _form(b"", (0.0, 0.0))
                return
            self._objects[form_ref.idnum - 1] = seal.appearance()
            widget[po.NameObject("/Rect")] = seal.rect()
            widget[po.NameObject("/P")] = page.indirect_reference
            annots = po.ArrayObject(page.get("/Annots", po.ArrayObject()).get_object())
            annots.append(widget_ref)
            page[po.NameObject("/Annots")] = annots
            self._objects[page.indirect_reference.idnum - 1] = page

    return _PadesSignedData


@dataclass(frozen=True)
class _ImageDraw:
    """An image drawn upright as ``q w 0 0 h x y cm /Name Do Q``."""

    name: str
    """Its name in the page's ``/XObject`` resources, e.g. "/I1"."""
    image: po.IndirectObject
    matrix: tuple[bytes, bytes, bytes, bytes]
    """w, h, x, y exactly as the page writes them."""

    def rect(self) -> po.ArrayObject:
        """The box the image covers, in the page's user space."""
        width, height, x, y = map(float, self.matrix)
        return po.ArrayObject(
            po.FloatObject(value) for value in (x, y, x + width, y + height)
        )

    def appearance(self) -> po.StreamObject:
        """A form the size of the box drawing the same image XObject over all of
        it: shown at :meth:`rect`, it lands where the page draws the image. It
        paints the box white (paper: the record has nothing else there) before
        the image, so the seal's soft edges are composited once and look exactly
        as the page draws them, not twice (bolder)."""
        width, height = self.matrix[:2]
        draw = b"1 g 0 0 %s %s re f q %s 0 0 %s 0 0 cm %s Do Q" % (
            width,
            height,
            width,
            height,
            self.name.encode(),
        )
        form = _form(draw, (float(width), float(height)))
        images = po.DictionaryObject({po.NameObject(self.name): self.image})
        form[po.NameObject("/Resources")] = po.DictionaryObject(
            {po.NameObject("/XObject"): images}
        )
        return form


def _seal_draw(page: Any) -> _ImageDraw | None:
    """The page's one image draw; None when it draws no image or several."""
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources else None
    contents = page.get("/Contents")
    if xobjects is None or contents is None:
        return None
    xobjects, contents = xobjects.get_object(), contents.get_object()
    streams = contents if isinstance(contents, po.ArrayObject) else [contents]
    data = b"\n".join(stream.get_object().get_data() for stream in streams)
    draws = []
    for match in _IMAGE_DRAW.finditer(data):
        name = "/" + match["name"].decode("latin-1")
        if name not in xobjects:
            continue
        reference = xobjects.raw_get(name)
        if reference.get_object().get("/Subtype") == "/Image":
            matrix = match.group("w", "h", "x", "y")
            draws.append(_ImageDraw(name=name, image=reference, matrix=matrix))
    return draws[0] if len(draws) == 1 else None


def _form(data: bytes, size: tuple[float, float]) -> po.StreamObject:
    form = po.StreamObject()
    form.set_data(data)
    form.update(
        {
            po.NameObject("/Type"): po.NameObject("/XObject"),
            po.NameObject("/Subtype"): po.NameObject("/Form"),
            po.NameObject("/BBox"): po.ArrayObject(
                po.FloatObject(value) for value in (0.0, 0.0, *size)
            ),
        }
    )
    return form


def sign_incremental(
    *,
    pdf: bytes,
    udct: dict[str, Any],
    key: Any,
    cert: Any,
    othercerts: list[Any],
    seal_page: int | None = None,
) -> bytes:
    """Run endesive's PDF signer (SHA-256) and return the incremental update.

    Args:
        pdf: The document to sign.
        udct: endesive's option dict, built by :mod:`his_portal.services.signing.pades`.
        key: The signer's private key (a ``cryptography`` key object).
        cert: The signer's ``cryptography`` certificate.
        othercerts: Chain certificates to embed in the CMS.
        seal_page: The page (index; -1: the last) whose one image, the seal, the
            signature's widget covers and shows; None: an invisible field.

    Returns:
        The bytes to append to ``pdf``.
    """
    if _APPEARANCE_KEYS & udct.keys():
        raise ValueError("endesive's signature appearances are not supported")
    with _lock:  # the first call loads the module; keep it single
        signer_class = _pades_class()
    return signer_class(seal_page).sign(
        pdf, udct, key, cert, othercerts, "sha256", None
    )
