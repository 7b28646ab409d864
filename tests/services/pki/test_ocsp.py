"""The OCSP responder as a service (his_portal.services.pki.ocsp)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp as cocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from his_portal.services.pki import authority as pki
from his_portal.services.pki import certificates, ocsp
from tests.services.pki.conftest import CLINIC, CRL_URL, KEK, issue

DER = serialization.Encoding.DER
Status = cocsp.OCSPResponseStatus
CertState = cocsp.OCSPCertStatus


def ca_cert(session) -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        certificates.ca_certificate_pem(session=session)
    )


def request_for(session, cert, *, nonce=None, algorithm=None, issuer=None) -> bytes:
    builder = cocsp.OCSPRequestBuilder().add_certificate(
        cert, issuer or ca_cert(session), algorithm or hashes.SHA1()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(DER)


def answer(session, request_der: bytes, now=None) -> cocsp.OCSPResponse:
    der = ocsp.respond(session=session, kek=KEK, request_der=request_der, now=now)
    return cocsp.load_der_ocsp_response(der)


def stored(session, purpose: str) -> x509.Certificate:
    pem = certificates.load_authority(session=session, kek=KEK, purpose=purpose)
    return x509.load_pem_x509_certificate(pem.cert_pem)


def test_good_is_signed_by_the_delegated_signer_and_echoes_the_nonce(pki_db):
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    cert = x509.load_pem_x509_certificate(doctor.cert_pem.encode())
    now = datetime.now(UTC).replace(microsecond=0)
    response = answer(pki_db, request_for(pki_db, cert, nonce=b"n" * 16), now)
    assert response.response_status is Status.SUCCESSFUL
    assert response.certificate_status is CertState.GOOD
    assert response.serial_number == cert.serial_number
    assert response.hash_algorithm.name == "sha1"
    assert response.this_update_utc == now
    assert response.next_update_utc == now + ocsp.NEXT_UPDATE
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value
    assert nonce.nonce == b"n" * 16
    responder = stored(pki_db, certificates.OCSP)
    assert response.certificates == [responder]
    assert response.responder_key_hash == (
        x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    )
    responder.public_key().verify(
        response.signature,
        response.tbs_response_bytes,
        padding.PKCS1v15(),
        response.signature_hash_algorithm,
    )
    responder.verify_directly_issued_by(ca_cert(pki_db))
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    ku = responder.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not ku.value.content_commitment
    with pytest.raises(x509.ExtensionNotFound):
        responder.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    # A SHA-256 CertID is answered in kind; no nonce asked, none given.
    plain = answer(pki_db, request_for(pki_db, cert, algorithm=hashes.SHA256()))
    assert plain.hash_algorithm.name == "sha256"
    assert plain.certificate_status is CertState.GOOD
    with pytest.raises(x509.ExtensionNotFound):
        plain.extensions.get_extension_for_class(x509.OCSPNonce)


@pytest.mark.parametrize(
    ("reason", "flag"),
    [("key_compromise", x509.ReasonFlags.key_compromise), ("unspecified", None)],
)
def test_revoked_says_when_and_why(pki_db, reason, flag):
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    cert = x509.load_pem_x509_certificate(doctor.cert_pem.encode())
    revoked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    certificates.revoke_certificate(
        session=pki_db, cert=doctor, reason=reason, now=revoked_at
    )
    pki_db.commit()
    response = answer(pki_db, request_for(pki_db, cert))
    assert response.certificate_status is CertState.REVOKED
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason is flag
    # Asked as of a time before the revocation, it was still good.
    earlier = answer(pki_db, request_for(pki_db, cert), revoked_at - timedelta(hours=1))
    assert earlier.certificate_status is CertState.GOOD


def test_superseded_on_reissue_and_the_authority_certificates_are_good(pki_db):
    first = issue(pki_db, "sh-feihuan@8112", "郑程")
    issue(pki_db, "sh-feihuan@8112", "郑程")
    old = x509.load_pem_x509_certificate(first.cert_pem.encode())
    response = answer(pki_db, request_for(pki_db, old))
    assert response.certificate_status is CertState.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.superseded
    for purpose in (certificates.TSA, certificates.OCSP):
        cert = stored(pki_db, purpose)
        assert answer(pki_db, request_for(pki_db, cert)).certificate_status is (
            CertState.GOOD
        )


def test_a_serial_never_issued_is_unknown(pki_db):
    ca = certificates.load_authority(session=pki_db, kek=KEK)
    stranger = pki.issue_doctor_certificate(
        ca_cert_pem=ca.cert_pem,
        ca_key=ca.key,
        doctor_name="冒名",
        clinic_name=CLINIC,
        user_id=999,
        now=datetime.now(UTC),
        crl_url=CRL_URL,
    )
    cert = x509.load_pem_x509_certificate(stranger.cert_pem)
    response = answer(pki_db, request_for(pki_db, cert))
    assert response.response_status is Status.SUCCESSFUL
    assert response.certificate_status is CertState.UNKNOWN


def test_another_issuer_is_unauthorized(pki_db):
    now = datetime.now(UTC)
    other = pki.create_ca(clinic_name="别家诊所", now=now)
    theirs = pki.issue_doctor_certificate(
        ca_cert_pem=other.cert_pem,
        ca_key=other.key,
        doctor_name="郑程",
        clinic_name="别家诊所",
        user_id=1,
        now=now,
        crl_url=CRL_URL,
    )
    cert = x509.load_pem_x509_certificate(theirs.cert_pem)
    issuer = x509.load_pem_x509_certificate(other.cert_pem)
    response = answer(pki_db, request_for(pki_db, cert, issuer=issuer))
    assert response.response_status is Status.UNAUTHORIZED
    with pytest.raises(pki.PkiError, match="不是本院CA签发"):
        ocsp.response_for(session=pki_db, kek=KEK, cert_pem=theirs.cert_pem)


def test_malformed_requests(pki_db):
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    cert = x509.load_pem_x509_certificate(doctor.cert_pem.encode())
    good = request_for(pki_db, cert)
    for junk in (
        b"",
        b"{}",
        good[:-3],
        good + b"\x00",
        b"0" * (ocsp.MAX_REQUEST_BYTES + 1),
    ):
        assert answer(pki_db, junk).response_status is Status.MALFORMED_REQUEST
    long_nonce = request_for(pki_db, cert, nonce=b"x" * 33)
    assert answer(pki_db, long_nonce).response_status is Status.MALFORMED_REQUEST


def test_get_requests_are_base64_in_the_path(pki_db):
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    der = request_for(pki_db, x509.load_pem_x509_certificate(doctor.cert_pem.encode()))
    encoded = base64.b64encode(der).decode()
    assert ocsp.request_from_path(encoded) == der
    assert ocsp.request_from_path(quote(encoded, safe="")) == der  # undecoded path
    assert ocsp.request_from_path("not base64!") is None
    assert ocsp.request_from_path("A" * (ocsp.MAX_REQUEST_BYTES * 4)) is None


def test_response_for_serves_the_pdf_side_in_process(pki_db):
    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    der = ocsp.response_for(session=pki_db, kek=KEK, cert_pem=doctor.cert_pem.encode())
    response = cocsp.load_der_ocsp_response(der)
    assert response.certificate_status is CertState.GOOD
    assert response.serial_number == int(doctor.serial_hex, 16)


def test_no_signer_yet_is_an_error_for_the_route_to_answer(demo):
    """Before ``cli init`` there is no CA: respond raises (the route says tryLater)."""
    now = datetime.now(UTC)
    other = pki.create_ca(clinic_name="别家诊所", now=now)
    cert = x509.load_pem_x509_certificate(other.cert_pem)
    request = (
        cocsp.OCSPRequestBuilder()
        .add_certificate(cert, cert, hashes.SHA1())
        .build()
        .public_bytes(DER)
    )
    with pytest.raises(pki.PkiError):
        ocsp.respond(session=demo, kek=KEK, request_der=request)
