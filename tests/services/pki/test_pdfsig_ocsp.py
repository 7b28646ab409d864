"""poppler's pdfsig (NSS) follows the OCSP pointer in a doctor's certificate: it asks
our responder (by GET, base64 in the path) and believes it, good then revoked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlmodel import Session

from his_portal import routes
from his_portal.services.pki import certificates, ocsp
from his_portal.services.pki.keyvault import decrypt_private_key
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.signing.pades import SigningOptions, sign_pdf
from his_portal.services.signing.record_pdf import render_record_pdf
from his_portal.services.signing.validation import make_nss_db, validate_with_pdfsig
from tests.conftest import user_by_login
from tests.services.pki.conftest import CLINIC, CRL_URL, KEK, PROFILE, ensure
from tests.services.signing.test_documents import make_record, make_seal_png


@pytest.fixture
def responder(demo) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server answering ``/pki/ocsp`` as the app does; its URL and the
    methods it was asked with."""
    asked: list[str] = []
    engine = demo.get_bind()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, request_der: bytes | None) -> None:
            with Session(engine) as session:
                body = ocsp.respond(
                    session=session, kek=KEK, request_der=request_der or b""
                )
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            asked.append("GET")
            tail = self.path.removeprefix(routes.OCSP + "/")
            self._answer(ocsp.request_from_path(unquote(tail)))

        def do_POST(self) -> None:
            asked.append("POST")
            self._answer(self.rfile.read(int(self.headers["Content-Length"])))

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_pdfsig_asks_our_responder_and_believes_it(demo, responder, tmp_path: Path):
    base, asked = responder
    profile = replace(PROFILE, ocsp_url=base + routes.OCSP)
    now = datetime.now(UTC)
    ensure(demo, now, profile=profile)
    doctor = certificates.issue_for_doctor(
        session=demo,
        kek=KEK,
        user_id=user_by_login(demo, "sh-feihuan@8112").id,
        doctor_name="郑程",
        clinic_name=CLINIC,
        valid_days=30,
        crl_url=CRL_URL,
        now=now,
        profile=profile,
    )
    demo.commit()
    ca = certificates.load_authority(session=demo, kek=KEK)
    tsa = certificates.load_authority(session=demo, kek=KEK, purpose=certificates.TSA)
    record = render_record_pdf(
        make_record(), seal_png=make_seal_png(), signer_name="郑程", signed_at="-"
    )
    signed = sign_pdf(
        record,
        cert_pem=doctor.cert_pem.encode(),
        key=decrypt_private_key(
            doctor.key_pem_enc.encode(), kek=KEK, key_id=doctor.key_id
        ),
        chain_pems=[ca.cert_pem],
        tsa=TimestampAuthority(
            cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca.cert_pem]
        ),
        options=SigningOptions(signer_name="郑程", location=CLINIC),
        signing_time=now,
    )
    nss = make_nss_db(tmp_path / "nss", ca.cert_pem)
    report = validate_with_pdfsig(signed, nss_dir=nss)
    assert report.signatures[0].certificate_status == "Certificate is Trusted.", report
    assert asked, "pdfsig did not ask the responder"

    certificates.revoke_certificate(
        session=demo, cert=doctor, reason="key_compromise", now=now
    )
    demo.commit()
    report = validate_with_pdfsig(signed, nss_dir=nss)
    assert report.signatures[0].certificate_status == "Certificate has been Revoked.", (
        report
    )
