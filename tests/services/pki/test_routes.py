"""The /pki routes through the app's HTTP layer (``his_portal.api``), with OpenSSL
as the OCSP client: it builds the request, and verifies the answer's signature
against the clinic CA and its nonce against the request."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as cocsp
from sqlmodel import Session
from starlette.testclient import TestClient

from his_portal import api, routes
from his_portal.services.pki import certificates
from his_portal.services.signing.public_limits import WINDOW_SECONDS, SlidingWindow
from tests.services.pki.conftest import KEK, issue

OCSP_REQUEST = {"content-type": "application/ocsp-request"}


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def client(pki_db, monkeypatch) -> TestClient:
    monkeypatch.setattr(api.db, "session", lambda: Session(pki_db.get_bind()))
    monkeypatch.setattr(api.deps, "kek", lambda: KEK)
    return TestClient(api.api)


def checked(tmp_path: Path, request: Path, response: bytes) -> str:
    """What ``openssl ocsp`` makes of ``response``; fails unless the signature
    verifies against the CA and the nonce matches the request's. (With ``-cert``
    OpenSSL would build a new request, with a new nonce, instead of ``-reqin``'s.)"""
    (tmp_path / "resp.der").write_bytes(response)
    result = openssl(
        "ocsp",
        "-reqin", str(request),
        "-respin", str(tmp_path / "resp.der"),
        "-CAfile", str(tmp_path / "ca.pem"),
        "-resp_text",
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Response verify OK" in output
    assert "WARNING" not in output  # e.g. "no nonce in response"
    return output


def test_openssl_asks_by_post_and_get_and_believes_the_answer(
    client, pki_db, tmp_path: Path
):
    (tmp_path / "ca.pem").write_bytes(certificates.ca_certificate_pem(session=pki_db))
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    cert = tmp_path / "doctor.pem"
    cert.write_text(doctor.cert_pem)
    request = tmp_path / "req.der"
    made = openssl(
        "ocsp", "-issuer", str(tmp_path / "ca.pem"), "-cert", str(cert),
        "-reqout", str(request),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    posted = client.post(
        routes.OCSP, content=request.read_bytes(), headers=OCSP_REQUEST
    )
    assert posted.status_code == 200
    assert posted.headers["content-type"] == "application/ocsp-response"
    assert posted.headers["cache-control"] == "no-cache"
    assert "Cert Status: good" in checked(tmp_path, request, posted.content)

    encoded = quote(base64.b64encode(request.read_bytes()).decode(), safe="")
    fetched = client.get(f"{routes.OCSP}/{encoded}")
    assert fetched.status_code == 200
    assert "Cert Status: good" in checked(tmp_path, request, fetched.content)

    certificates.revoke_certificate(
        session=pki_db, cert=doctor, reason="key_compromise", now=datetime.now(UTC)
    )
    pki_db.commit()
    posted = client.post(
        routes.OCSP, content=request.read_bytes(), headers=OCSP_REQUEST
    )
    output = checked(tmp_path, request, posted.content)
    assert "Cert Status: revoked" in output
    assert "Revocation Reason: keyCompromise" in output


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", routes.OCSP, b"{}"),
        ("POST", routes.OCSP, b""),
        ("POST", routes.OCSP, b"0" * 100_000),
        ("GET", routes.OCSP + "/..%2f..%2fsecrets%2fkek.bin", None),
        ("GET", routes.OCSP + "/" + "A" * 60_000, None),
        ("GET", routes.OCSP + "/" + base64.b64encode(b"junk").decode(), None),
    ],
)
def test_junk_gets_malformed_request(client, method, path, body):
    answer = client.request(method, path, content=body, headers=OCSP_REQUEST)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/ocsp-response"
    status = cocsp.load_der_ocsp_response(answer.content).response_status
    assert status is cocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_before_the_ca_exists_says_try_later(demo, monkeypatch, tmp_path: Path):
    monkeypatch.setattr(api.db, "session", lambda: Session(demo.get_bind()))
    monkeypatch.setattr(api.deps, "kek", lambda: KEK)
    request = (
        "MEIwQDA+MDwwOjAJBgUrDgMCGgUABBQ09JdvLT7w/JzTVesbbAFnHjoAJwQUut/ELZ8k6rCRdYbB"
        "JJDyP3+WR20CAQE="
    )
    answer = TestClient(api.api).get(f"{routes.OCSP}/{quote(request, safe='')}")
    status = cocsp.load_der_ocsp_response(answer.content).response_status
    assert status is cocsp.OCSPResponseStatus.TRY_LATER


def test_the_ca_certificate_in_der_and_the_cps(client, pki_db):
    pem = certificates.ca_certificate_pem(session=pki_db)
    der = client.get(routes.CA_CERT_DER)
    assert der.status_code == 200
    assert der.headers["content-type"] == "application/pkix-cert"
    assert der.content == x509.load_pem_x509_certificate(pem).public_bytes(
        serialization.Encoding.DER
    )
    cps = client.get(routes.CPS)
    assert cps.headers["content-type"] == "text/plain; charset=utf-8"
    assert "1.3.6.1.4.1.32473.1.1" in cps.text and "/pki/ocsp" in cps.text
    assert client.get(routes.OCSP).status_code == 405


def test_an_address_over_its_share_gets_try_later_without_a_lookup(client, monkeypatch):
    monkeypatch.setattr(api, "ocsp_limiter", SlidingWindow(2, WINDOW_SECONDS))
    looked_up = []
    monkeypatch.setattr(api, "_ocsp_answer", lambda der: looked_up.append(der) or b"")
    for _ in range(3):
        answer = client.post(routes.OCSP, content=b"junk", headers=OCSP_REQUEST)
    assert len(looked_up) == 2  # the third was refused before any work
    status = cocsp.load_der_ocsp_response(answer.content).response_status
    assert status is cocsp.OCSPResponseStatus.TRY_LATER
