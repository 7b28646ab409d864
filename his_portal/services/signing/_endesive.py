"""The one place that loads endesive's PDF signer, and its two PAdES fixes.

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

The price: cms.py's *visible* appearance code imports ``endesive.pdf.PyPDF2_annotate``
lazily and would hit the same error. We only make invisible signature fields (the
seal is drawn into the page by :mod:`his_portal.services.signing.record_pdf`), so
:func:`sign_incremental` refuses the appearance keys.

The two fixes, both in :class:`_PadesSignedData`:

* endesive 3.0.1 writes ``/SubFilter /adbe.pkcs7.detached`` for signatures (it uses
  ``ETSI.CAdES.detached`` only in its document-timestamp mode); PAdES baseline
  signatures need ``/ETSI.CAdES.detached``. Its CMS is already CAdES-shaped
  (signing-certificate-v2, no signing-time attribute), only the name is wrong.
* its invisible widget's appearance is a plain dictionary with ``/Bbox`` (sic)
  instead of a Form XObject stream with ``/BBox``; we write a proper empty stream.
"""

from __future__ import annotations

import importlib.util
import threading
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
        def _make_signature(self, Contents=None, Type=None, SubFilter=None):
            subfilter = po.NameObject("/ETSI.CAdES.detached")
            return super()._make_signature(
                Contents=Contents, Type=Type, SubFilter=subfilter
            )

        def _makepdf(self, *args: Any, **kwargs: Any) -> None:
            super()._makepdf(*args, **kwargs)
            for index, obj in enumerate(self._objects):
                if isinstance(obj, po.DictionaryObject) and "/Bbox" in obj:
                    self._objects[index] = _empty_form()

    return _PadesSignedData


def _empty_form() -> po.StreamObject:
    form = po.StreamObject()
    form.set_data(b"")
    form.update(
        {
            po.NameObject("/Type"): po.NameObject("/XObject"),
            po.NameObject("/Subtype"): po.NameObject("/Form"),
            po.NameObject("/BBox"): po.ArrayObject([po.FloatObject(0)] * 4),
        }
    )
    return form


def sign_incremental(
    *, pdf: bytes, udct: dict[str, Any], key: Any, cert: Any, othercerts: list[Any]
) -> bytes:
    """Run endesive's PDF signer (SHA-256) and return the incremental update.

    Args:
        pdf: The document to sign.
        udct: endesive's option dict, built by :mod:`his_portal.services.signing.pades`.
        key: The signer's private key (a ``cryptography`` key object).
        cert: The signer's ``cryptography`` certificate.
        othercerts: Chain certificates to embed in the CMS.

    Returns:
        The bytes to append to ``pdf``.
    """
    if _APPEARANCE_KEYS & udct.keys():
        raise ValueError("visible signature appearances are not supported")
    with _lock:  # the first call loads the module; keep it single
        signer_class = _pades_class()
    return signer_class().sign(pdf, udct, key, cert, othercerts, "sha256", None)
