"""The document timestamp of a B-LTA record, checked by OpenSSL (``openssl ts
-verify``): a validator nobody here wrote, for the one signature pdfsig cannot
check (poppler validates only adbe.pkcs7.* and ETSI.CAdES.detached signatures;
an ETSI.RFC3161 document timestamp gets "Unable to validate this type of
signature")."""

from __future__ import annotations

import hashlib
import io
import subprocess

from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

from his_portal.services.pki import certificates
from tests.services.signing.test_ltv import archived  # noqa: F401
from tests.services.signing.test_record_signing import ready  # noqa: F401


def _document_timestamp(pdf: bytes) -> tuple[bytes, bytes]:
    """(the token, SHA-256 of the bytes it covers, hex)."""
    (stamp,) = PdfFileReader(io.BytesIO(pdf)).embedded_timestamp_signatures
    a, b, c, d = stamp.sig_object["/ByteRange"]
    covered = pdf[a : a + b] + pdf[c : c + d]
    token = cms.ContentInfo.load(bytes(stamp.pkcs7_content)).dump()  # no padding
    return token, hashlib.sha256(covered).hexdigest().encode()


def _openssl_verify(tmp_path, token: bytes, digest: bytes, ca_pem: bytes):
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    return subprocess.run(
        [
            "openssl", "ts", "-verify", "-token_in",
            "-in", str(tmp_path / "token.der"),
            "-digest", digest.decode(),
            "-CAfile", str(tmp_path / "ca.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_openssl_verifies_the_document_timestamp_over_the_file(archived, tmp_path):  # noqa: F811
    session, pdf = archived
    token, digest = _document_timestamp(pdf)
    checked = _openssl_verify(
        tmp_path, token, digest, certificates.ca_certificate_pem(session=session)
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, (
        checked.stdout + checked.stderr
    )


def test_openssl_refuses_it_when_a_covered_byte_changed(archived, tmp_path):  # noqa: F811
    session, pdf = archived
    changed = bytearray(pdf)
    changed[200] ^= 0x01  # inside the record's first object: covered
    token, digest = _document_timestamp(bytes(changed))
    checked = _openssl_verify(
        tmp_path, token, digest, certificates.ca_certificate_pem(session=session)
    )
    assert checked.returncode != 0 and "Verification: FAILED" in checked.stdout
