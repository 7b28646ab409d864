"""Tests for his_portal.services.pki.authority (and the key vault it re-exports)."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from his_portal.services.pki import authority as pki
from his_portal.services.pki import keyvault

NOW = dt.datetime(2026, 6, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
CLINIC = "测试口腔诊所"
CRL_URL = "https://his.example.cn/pki/crl.der"
ID_NUMBER = "11010519491231002X"


@pytest.fixture(scope="module")
def ca() -> pki.IssuedCert:
    return pki.create_ca(clinic_name=CLINIC, now=NOW)


@pytest.fixture(scope="module")
def doctor(ca: pki.IssuedCert) -> pki.IssuedCert:
    return pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name=" 张医生 ",
        clinic_name=CLINIC,
        user_id=42,
        now=NOW,
        crl_url=CRL_URL,
    )


@pytest.fixture(scope="module")
def tsa(ca: pki.IssuedCert) -> pki.IssuedCert:
    return pki.issue_tsa_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        clinic_name=CLINIC,
        now=NOW,
        crl_url=CRL_URL,
    )


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, check=False
    )


def at_time(when: dt.datetime) -> str:
    return str(int(when.timestamp()))


# --- key-encryption key -------------------------------------------------------


def test_kek_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "kek.bin"
    kek = pki.load_or_create_kek(path, create=True)
    assert len(kek) == pki.KEK_SIZE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert pki.load_or_create_kek(path, create=True) == kek
    assert pki.load_or_create_kek(path, create=False) == kek


def test_missing_kek_without_create_fails(tmp_path: Path) -> None:
    path = tmp_path / "kek.bin"
    with pytest.raises(pki.KekError, match="不存在"):
        pki.load_or_create_kek(path, create=False)
    assert not path.exists()


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_length_kek_fails(tmp_path: Path, size: int) -> None:
    path = tmp_path / "kek.bin"
    path.write_bytes(b"k" * size)
    with pytest.raises(pki.KekError) as err:
        pki.load_or_create_kek(path, create=True)
    assert f"实际为{size}字节" in err.value.message
    assert path.read_bytes() == b"k" * size  # never silently replaced


# --- private keys at rest ----------------------------------------------------------


def test_encrypt_decrypt_round_trip(ca: pki.IssuedCert, tmp_path: Path) -> None:
    kek = pki.load_or_create_kek(tmp_path / "kek.bin", create=True)
    pem = pki.encrypt_private_key(ca.key, kek=kek, key_id=ca.key_id)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = pki.decrypt_private_key(pem, kek=kek, key_id=ca.key_id)
    assert key.private_numbers() == ca.key.private_numbers()
    # Standard PBES2 with AES-256, readable by other tools given the password.
    parsed = openssl("asn1parse", "-in", write(tmp_path / "k.pem", pem)).stdout
    assert "PBES2" in parsed and "aes-256-cbc" in parsed


@pytest.mark.parametrize("which", ["kek", "key_id"])
def test_wrong_kek_or_key_id_fails_loudly(ca: pki.IssuedCert, which: str) -> None:
    kek = b"\x01" * 32
    pem = pki.encrypt_private_key(ca.key, kek=kek, key_id=ca.key_id)
    other_kek = b"\x02" * 32 if which == "kek" else kek
    other_id = "other" if which == "key_id" else ca.key_id
    with pytest.raises(pki.KekError, match="密钥加密密钥不正确"):
        pki.decrypt_private_key(pem, kek=other_kek, key_id=other_id)


@pytest.mark.parametrize("which", ["kek", "key_id"])
def test_an_issuer_key_opened_once_is_still_refused_to_a_wrong_kek_or_id(
    ca: pki.IssuedCert, which: str
) -> None:
    kek = b"\x03" * 32
    pem = pki.encrypt_private_key(ca.key, kek=kek, key_id=ca.key_id)
    opened = keyvault.open_issuer_key(pem, kek=kek, key_id=ca.key_id)
    assert opened.private_numbers() == ca.key.private_numbers()
    assert keyvault.open_issuer_key(pem, kek=kek, key_id=ca.key_id) is opened
    other_kek = b"\x04" * 32 if which == "kek" else kek
    other_id = "other" if which == "key_id" else ca.key_id
    with pytest.raises(pki.KekError, match="密钥加密密钥不正确"):
        keyvault.open_issuer_key(pem, kek=other_kek, key_id=other_id)


@pytest.mark.parametrize("field", ["d", "dmp1", "dmq1", "iqmp"])
def test_a_stored_key_with_broken_rsa_relations_is_refused(
    ca: pki.IssuedCert, field: str
) -> None:
    numbers = ca.key.private_numbers()
    values = {
        name: getattr(numbers, name) for name in ("p", "q", "d", "dmp1", "dmq1", "iqmp")
    }
    values[field] += 2  # what a bit flip in the stored key does
    broken = rsa.RSAPrivateNumbers(
        **values, public_numbers=numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    kek = b"\x05" * 32
    pem = pki.encrypt_private_key(broken, kek=kek, key_id=ca.key_id)
    with pytest.raises(pki.KekError, match="私钥已损坏"):
        pki.decrypt_private_key(pem, kek=kek, key_id=ca.key_id)


def test_unencrypted_or_bad_length_key_input_rejected(ca: pki.IssuedCert) -> None:
    plain = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(pki.KekError, match="未加密"):
        pki.decrypt_private_key(plain, kek=b"\x01" * 32, key_id="x")
    with pytest.raises(pki.KekError):
        pki.encrypt_private_key(ca.key, kek=b"short", key_id="x")


def test_issued_cert_repr_hides_key(doctor: pki.IssuedCert) -> None:
    assert "key=" not in repr(doctor).replace("key_id=", "")


# --- certificates ------------------------------------------------------------------


def test_ca_certificate(ca: pki.IssuedCert) -> None:
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == f"{CLINIC} 电子病历签名CA"
    assert cert.subject == cert.issuer
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert cert.not_valid_after_utc.year == NOW.year + 20
    assert cert.public_key().key_size == 2048


def test_doctor_certificate_verifies_and_is_fit_for_signing(
    ca: pki.IssuedCert, doctor: pki.IssuedCert, tmp_path: Path
) -> None:
    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    cert_file = write(tmp_path / "doctor.pem", doctor.cert_pem)
    result = openssl(
        "verify", "-x509_strict", "-attime", at_time(NOW), "-CAfile", ca_file, cert_file
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")

    cert = x509.load_pem_x509_certificate(doctor.cert_pem)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert cdp.value[0].full_name[0].value == CRL_URL
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier.hex() == ca.key_id
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value.digest.hex() == doctor.key_id != ca.key_id
    assert (
        cert.public_key().public_numbers() == doctor.key.public_key().public_numbers()
    )
    assert 0 < cert.serial_number < 2**159


def test_doctor_subject_has_user_id_never_id_number(doctor: pki.IssuedCert) -> None:
    cert = x509.load_pem_x509_certificate(doctor.cert_pem)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {
        NameOID.COUNTRY_NAME: "CN",
        NameOID.ORGANIZATION_NAME: CLINIC,
        NameOID.COMMON_NAME: "张医生",
        NameOID.SURNAME: "张",
        NameOID.GIVEN_NAME: "医生",
        NameOID.USER_ID: "user-42",
    }
    assert ID_NUMBER.encode() not in cert.public_bytes(serialization.Encoding.DER)


def test_doctor_validity_capped_by_ca(ca: pki.IssuedCert) -> None:
    issued = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name="李医生",
        clinic_name=CLINIC,
        user_id=7,
        serial=12345,
        now=NOW,
        valid_days=365 * 30,
        crl_url=CRL_URL,
    )
    info = pki.certificate_info(issued.cert_pem)
    assert info.serial_hex == "3039"
    assert info.not_after == pki.certificate_info(ca.cert_pem).not_after


def test_issue_rejects_foreign_ca_key_and_bad_input(
    ca: pki.IssuedCert, doctor: pki.IssuedCert
) -> None:
    common = {"clinic_name": CLINIC, "user_id": 1, "now": NOW, "crl_url": CRL_URL}
    with pytest.raises(pki.PkiError, match="不匹配"):
        pki.issue_doctor_certificate(
            ca_cert_pem=ca.cert_pem, ca_key=doctor.key, doctor_name="王医生", **common
        )
    with pytest.raises(pki.PkiError, match="不能为空"):
        pki.issue_doctor_certificate(
            ca_cert_pem=ca.cert_pem, ca_key=ca.key, doctor_name="  ", **common
        )
    with pytest.raises(pki.PkiError, match="序列号"):
        pki.issue_doctor_certificate(
            ca_cert_pem=ca.cert_pem,
            ca_key=ca.key,
            doctor_name="王医生",
            serial=2**159,
            **common,
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.create_ca(clinic_name=CLINIC, now=NOW.replace(tzinfo=None))


def test_tsa_certificate(
    ca: pki.IssuedCert, tsa: pki.IssuedCert, tmp_path: Path
) -> None:
    cert = x509.load_pem_x509_certificate(tsa.cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment
    result = openssl(
        "verify",
        "-purpose",
        "timestampsign",
        "-attime",
        at_time(NOW),
        "-CAfile",
        write(tmp_path / "ca.pem", ca.cert_pem),
        write(tmp_path / "tsa.pem", tsa.cert_pem),
    )
    assert result.returncode == 0, result.stderr


# --- CRL ----------------------------------------------------------------------------


def test_crl_lists_revoked_and_verifies(
    ca: pki.IssuedCert, doctor: pki.IssuedCert, tsa: pki.IssuedCert, tmp_path: Path
) -> None:
    revoked_at = NOW + dt.timedelta(hours=1)
    der = pki.build_crl(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        revoked=[
            pki.RevokedEntry(doctor.serial, revoked_at, "key_compromise"),
            pki.RevokedEntry(999, revoked_at, x509.ReasonFlags.superseded),
            pki.RevokedEntry(1000, revoked_at),
        ],
        now=NOW + dt.timedelta(hours=2),
    )
    crl = x509.load_der_x509_crl(der)
    entry = crl.get_revoked_certificate_by_serial_number(doctor.serial)
    assert entry is not None
    assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    plain = crl.get_revoked_certificate_by_serial_number(1000)
    assert plain is not None and len(plain.extensions) == 0  # no "unspecified"
    assert crl.get_revoked_certificate_by_serial_number(tsa.serial) is None
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(hours=24)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > 0

    ca_file = write(tmp_path / "ca.pem", ca.cert_pem)
    crl_file = write(tmp_path / "crl.der", der)
    result = openssl(
        "crl", "-inform", "DER", "-in", crl_file, "-CAfile", ca_file, "-noout"
    )
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr

    # The chain check with the CRL now rejects the doctor but not the TSA.
    crl_pem = write(tmp_path / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))
    later = at_time(NOW + dt.timedelta(hours=3))
    checks = {}
    for name, issued in (("doctor", doctor), ("tsa", tsa)):
        checks[name] = openssl(
            "verify",
            "-crl_check",
            "-attime",
            later,
            "-CAfile",
            ca_file,
            "-CRLfile",
            crl_pem,
            write(tmp_path / f"{name}.pem", issued.cert_pem),
        )
    assert checks["doctor"].returncode != 0
    assert "certificate revoked" in checks["doctor"].stdout + checks["doctor"].stderr
    assert checks["tsa"].returncode == 0, checks["tsa"].stderr


def test_crl_rejects_unknown_reason(ca: pki.IssuedCert) -> None:
    with pytest.raises(pki.PkiError, match="吊销原因"):
        pki.build_crl(
            ca_cert_pem=ca.cert_pem,
            ca_key=ca.key,
            revoked=[pki.RevokedEntry(5, NOW, "lost it")],
            now=NOW,
        )


# --- certificate_info --------------------------------------------------------------


def test_certificate_info(doctor: pki.IssuedCert) -> None:
    info = pki.certificate_info(doctor.cert_pem)
    cert = x509.load_pem_x509_certificate(doctor.cert_pem)
    assert info.common_name == "张医生"
    assert info.subject == f"UID=user-42,GN=医生,SN=张,CN=张医生,O={CLINIC},C=CN"
    assert info.issuer == f"CN={CLINIC} 电子病历签名CA,O={CLINIC},C=CN"
    assert int(info.serial_hex, 16) == doctor.serial
    assert info.not_before == dt.datetime(2026, 6, 1, 8, 25, 15, tzinfo=dt.UTC)
    assert info.not_after == dt.datetime(2027, 6, 1, 8, 30, 15, tzinfo=dt.UTC)
    assert info.not_before.tzinfo is not None
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert info.sha256_fingerprint.replace(":", "") == fingerprint
    assert len(info.sha256_fingerprint) == 32 * 3 - 1
