"""Sign-then-validate tests: signing, the built-in TSA, pyHanko and pdfsig."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pypdf import PdfReader

from his_portal.services.pki import authority as pki
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.signing.pades import (
    SigningError,
    SigningOptions,
    sign_pdf,
)
from his_portal.services.signing.record_pdf import render_record_pdf
from his_portal.services.signing.validation import (
    make_nss_db,
    validate_with_pdfsig,
    validate_with_pyhanko,
)
from tests.services.signing.test_documents import ARTIFACTS, make_record, make_seal_png

ROOT = Path(__file__).resolve().parents[3]
CLINIC = "上海维乐海趣路门诊"
CRL_URL = "http://127.0.0.1:9/pki/crl.der"  # never fetched
SIGNED_AT = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
OPTIONS = SigningOptions(
    reason="电子病历签名：确认病历内容",
    location=CLINIC,
    contact="021-12345678",
    signer_name="王莉",
)


@dataclass(frozen=True)
class Keys:
    ca: pki.IssuedCert
    doctor: pki.IssuedCert
    tsa: pki.IssuedCert
    other_ca: pki.IssuedCert
    other_doctor: pki.IssuedCert


@pytest.fixture(scope="module")
def keys() -> Keys:
    now = dt.datetime.now(dt.UTC)
    ca = pki.create_ca(clinic_name=CLINIC, now=now)
    other = pki.create_ca(clinic_name="别家诊所", now=now)
    common = {"clinic_name": CLINIC, "now": now, "crl_url": CRL_URL}
    return Keys(
        ca=ca,
        doctor=pki.issue_doctor_certificate(
            ca_cert_pem=ca.cert_pem,
            ca_key=ca.key,
            doctor_name="王莉",
            user_id=7,
            **common,
        ),
        tsa=pki.issue_tsa_certificate(ca_cert_pem=ca.cert_pem, ca_key=ca.key, **common),
        other_ca=other,
        other_doctor=pki.issue_doctor_certificate(
            ca_cert_pem=other.cert_pem,
            ca_key=other.key,
            doctor_name="王莉",
            user_id=7,
            **common,
        ),
    )


@pytest.fixture(scope="module")
def tsa(keys: Keys) -> TimestampAuthority:
    return TimestampAuthority(
        cert_pem=keys.tsa.cert_pem, key=keys.tsa.key, ca_chain_pems=[keys.ca.cert_pem]
    )


@pytest.fixture(scope="module")
def record_pdf() -> bytes:
    return render_record_pdf(
        make_record(),
        seal_png=make_seal_png(),
        signer_name="王莉",
        signed_at=f"{SIGNED_AT:%Y-%m-%d %H:%M:%S}",
    )


def sign(pdf: bytes, issued: pki.IssuedCert, ca: pki.IssuedCert, **kwargs) -> bytes:
    arguments = {"tsa": None, "options": OPTIONS, "signing_time": SIGNED_AT}
    arguments.update(kwargs)
    return sign_pdf(
        pdf,
        cert_pem=issued.cert_pem,
        key=issued.key,
        chain_pems=[ca.cert_pem],
        **arguments,
    )


@pytest.fixture(scope="module")
def signed(record_pdf: bytes, keys: Keys, tsa: TimestampAuthority) -> bytes:
    pdf = sign(record_pdf, keys.doctor, keys.ca, tsa=tsa)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "signed-record.pdf").write_bytes(pdf)
    pdf_and_png = [
        str(ARTIFACTS / "signed-record.pdf"),
        str(ARTIFACTS / "signed-record"),
    ]
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", *pdf_and_png],
        check=True,
    )
    return pdf


@pytest.fixture(scope="module")
def nss_dir(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    return make_nss_db(tmp_path_factory.mktemp("nss"), keys.ca.cert_pem)


def test_pdfsig_accepts_the_signature(signed: bytes, nss_dir: Path) -> None:
    report = validate_with_pdfsig(signed)
    assert report.stderr == ""  # no "Dictionary key must be a name object" etc.
    (sig,) = report.signatures
    assert sig.signature_valid and sig.total_document_signed
    assert sig.signature_type == "ETSI.CAdES.detached"
    assert sig.hash_algorithm == "SHA-256"
    assert sig.signer_cn == "王莉"
    assert not sig.certificate_trusted  # no trust store given
    trusted = validate_with_pdfsig(signed, nss_dir=nss_dir)
    assert trusted.stderr == ""
    assert trusted.signatures[0].certificate_status == "Certificate is Trusted."


def test_pyhanko_accepts_the_signature_as_pades_b_t(signed: bytes, keys: Keys) -> None:
    report = validate_with_pyhanko(signed, trust_roots_pem=[keys.ca.cert_pem])
    assert report.intact and report.valid and report.trusted
    assert report.timestamp_present and report.timestamp_valid
    assert report.covers_whole_file and report.ok
    assert report.signer_cn == "王莉"
    assert report.signing_time == SIGNED_AT
    assert report.timestamp_time is not None
    # The TSA stamps with its own clock: after the claimed signing time, not later
    # than now (SIGNED_AT is taken at import, so the gap is how long collection took).
    now = dt.datetime.now(dt.UTC)
    assert SIGNED_AT <= report.timestamp_time <= now


def test_signature_dictionary(signed: bytes, keys: Keys) -> None:
    reader = PdfReader(io.BytesIO(signed))
    field = reader.get_fields()["DoctorSignature"]
    value = field["/V"]
    assert value["/SubFilter"] == "/ETSI.CAdES.detached"
    assert value["/Reason"] == OPTIONS.reason  # Chinese, as a PDF text string
    assert value["/Location"] == CLINIC and value["/Name"] == "王莉"
    assert reader.trailer["/Root"]["/AcroForm"]["/SigFlags"] == 3


def test_changed_byte_breaks_both_validators(signed: bytes, keys: Keys) -> None:
    reader = PdfReader(io.BytesIO(signed))
    content_id = reader.pages[0]["/Contents"].indirect_reference.idnum
    start = signed.index(b"stream", signed.index(b"\n%d 0 obj" % content_id))
    position = start + 40  # inside the page's compressed content stream
    tampered = bytearray(signed)
    tampered[position] ^= 0x01
    pdfsig = validate_with_pdfsig(bytes(tampered))
    assert not pdfsig.signatures[0].signature_valid
    report = validate_with_pyhanko(bytes(tampered), trust_roots_pem=[keys.ca.cert_pem])
    assert not report.intact and not report.ok


def test_signer_from_another_ca_is_not_trusted(
    record_pdf: bytes, keys: Keys, tsa: TimestampAuthority, nss_dir: Path
) -> None:
    pdf = sign(record_pdf, keys.other_doctor, keys.other_ca, tsa=tsa)
    report = validate_with_pyhanko(pdf, trust_roots_pem=[keys.ca.cert_pem])
    assert report.intact and report.valid and not report.trusted
    sig = validate_with_pdfsig(pdf, nss_dir=nss_dir).signatures[0]
    assert sig.signature_valid and not sig.certificate_trusted


def test_revoked_signer_is_not_trusted_given_the_crl(signed: bytes, keys: Keys) -> None:
    now = dt.datetime.now(dt.UTC)
    revoked = pki.RevokedEntry(serial=keys.doctor.serial, revoked_at=now)
    crl = pki.build_crl(
        ca_cert_pem=keys.ca.cert_pem, ca_key=keys.ca.key, revoked=[revoked], now=now
    )
    roots = [keys.ca.cert_pem]
    report = validate_with_pyhanko(signed, trust_roots_pem=roots, crls_der=[crl])
    assert report.intact and report.valid and not report.trusted
    empty = pki.build_crl(
        ca_cert_pem=keys.ca.cert_pem, ca_key=keys.ca.key, revoked=[], now=now
    )
    assert validate_with_pyhanko(signed, trust_roots_pem=roots, crls_der=[empty]).ok


def test_second_signature_is_appended(signed: bytes, keys: Keys, tsa) -> None:
    twice = sign(signed, keys.doctor, keys.ca, tsa=tsa)
    first, second = validate_with_pdfsig(twice).signatures
    assert first.signature_valid and not first.total_document_signed
    assert second.signature_valid and second.total_document_signed
    assert second.field_name != first.field_name
    report = validate_with_pyhanko(twice, trust_roots_pem=[keys.ca.cert_pem])
    assert report.signature_count == 2 and report.ok


def test_ascii_defaults_and_no_timestamp(record_pdf: bytes, keys: Keys) -> None:
    pdf = sign(record_pdf, keys.doctor, keys.ca, options=SigningOptions())
    report = validate_with_pyhanko(pdf, trust_roots_pem=[keys.ca.cert_pem])
    assert report.intact and report.trusted and not report.timestamp_present
    assert validate_with_pdfsig(pdf).stderr == ""


def test_refuses_bad_input(record_pdf: bytes, keys: Keys) -> None:
    with pytest.raises(SigningError, match="不是PDF"):
        sign(b"hello", keys.doctor, keys.ca)
    with pytest.raises(SigningError, match="不匹配"):
        sign_pdf(
            record_pdf,
            cert_pem=keys.doctor.cert_pem,
            key=keys.other_doctor.key,
            chain_pems=[],
            tsa=None,
            options=OPTIONS,
            signing_time=SIGNED_AT,
        )
    with pytest.raises(SigningError, match="时区"):
        sign(record_pdf, keys.doctor, keys.ca, signing_time=dt.datetime(2026, 1, 1))


def test_reserved_space_too_small(record_pdf: bytes, keys: Keys, tsa) -> None:
    small = SigningOptions(aligned=3000)  # fits the CMS, not CMS + timestamp
    with pytest.raises(SigningError) as caught:
        sign(record_pdf, keys.doctor, keys.ca, tsa=tsa, options=small)
    assert "签名预留空间不足" in caught.value.message


def test_signed_attributes_are_the_cades_three(signed: bytes, keys: Keys) -> None:
    """content-type, message-digest of the byte range, signing-certificate-v2 naming
    the doctor's certificate (built once per certificate, see pades)."""
    reader = PdfReader(io.BytesIO(signed))
    value = reader.get_fields()["DoctorSignature"]["/V"]
    start, length, second, rest = value["/ByteRange"]
    digest = hashlib.sha256(
        signed[start : start + length] + signed[second : second + rest]
    ).digest()
    signer = cms.ContentInfo.load(bytes(value["/Contents"]))["content"]
    signed_attrs = signer["signer_infos"][0]["signed_attrs"]
    attrs = {a["type"].native: a["values"][0] for a in signed_attrs}
    assert list(attrs) == ["content_type", "message_digest", "signing_certificate_v2"]
    assert attrs["content_type"].native == "data"
    assert attrs["message_digest"].native == digest
    cert = x509.load_pem_x509_certificate(keys.doctor.cert_pem)
    (cert_id,) = attrs["signing_certificate_v2"]["certs"]
    der = cert.public_bytes(serialization.Encoding.DER)
    assert cert_id["cert_hash"].native == hashlib.sha256(der).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == cert.serial_number


# --- the endesive / oscrypto workaround ----------------------------------------------

_SUBPROCESS_SIGN = """
import datetime as dt, sys
from his_portal.services.pki import authority as pki
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from tests.fake_server import FakeHandler, serve
now = dt.datetime.now(dt.UTC)
ca = pki.create_ca(clinic_name="c", now=now)
doc = pki.issue_doctor_certificate(ca_cert_pem=ca.cert_pem, ca_key=ca.key,
    doctor_name="d", clinic_name="c", user_id=1, now=now, crl_url="http://x/crl")
pdf = open(sys.argv[1], "rb").read()
out = sign_pdf(pdf, cert_pem=doc.cert_pem, key=doc.key, chain_pems=[ca.cert_pem],
    tsa=None, options=SigningOptions(), signing_time=now)
assert out.startswith(pdf) and b"/ETSI.CAdES.detached" in out
assert "oscrypto" not in sys.modules and "endesive.pdf" not in sys.modules
print("signed")
"""


def test_endesive_signs_in_a_fresh_interpreter(
    record_pdf: bytes, tmp_path: Path
) -> None:
    """endesive.pdf (and so oscrypto) is never imported, yet signing works.

    Plain ``import endesive.pdf`` fails on this machine's OpenSSL 3.0.x (see
    his_portal/services/_endesive.py); the first run shows that it still does.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plain = subprocess.run(
        [sys.executable, "-c", "import endesive.pdf"], capture_output=True, env=env
    )
    print(f"\nplain `import endesive.pdf` exit code: {plain.returncode}")
    path = tmp_path / "record.pdf"
    path.write_bytes(record_pdf)
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_SIGN, str(path)],
        capture_output=True,
        env=env,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "signed"
