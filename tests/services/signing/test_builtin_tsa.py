"""The built-in TSA (RFC 3161 answers, refusals) and signing against an external
TSA over HTTP; the keys and the record come from test_signing.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from asn1crypto import pem, tsp

from his_portal.adapters.tsa_client import (
    REQUEST_CONTENT_TYPE,
    RESPONSE_CONTENT_TYPE,
    TimeStampResp,
    TsaProviderError,
    build_request,
    token_from_response,
)
from his_portal.services.pki.profile import TSA_POLICY_OID
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.signing.pades import (
    SigningError,
    SigningOptions,
    TimestampError,
)
from his_portal.services.signing.validation import validate_with_pyhanko
from tests.fake_server import FakeHandler, serve
from tests.services.signing.test_signing import (  # noqa: F401  (fixtures)
    Keys,
    keys,
    record_pdf,
    sign,
    tsa,
)


def test_tsa_grants_a_token_bound_to_the_request(tsa: TimestampAuthority) -> None:  # noqa: F811
    request, nonce = build_request(b"signature value")
    token = token_from_response(tsa.timestamp(request), request_der=request)
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == nonce
    assert info["policy"].dotted == TSA_POLICY_OID  # from the TSA certificate
    assert len(token["content"]["certificates"]) == 2  # TSA cert + CA
    attrs = token["content"]["signer_infos"][0]["signed_attrs"].native
    assert any(attr["type"] == "signing_certificate_v2" for attr in attrs)
    other, _ = build_request(b"another document")
    with pytest.raises(TsaProviderError, match="消息摘要不一致"):
        token_from_response(tsa.timestamp(request), request_der=other)


@pytest.mark.parametrize("cert_req", [True, False])
def test_tsa_tokens_are_canonical_der(
    tsa: TimestampAuthority,  # noqa: F811
    keys: Keys,  # noqa: F811
    cert_req: bool,
) -> None:
    """The token is written byte by byte: what asn1crypto re-encodes from it as DER
    is the same bytes, the TSTInfo and the signed attributes included (the
    certificates are shipped as issued, which a re-encoding need not keep)."""
    request, _ = build_request(b"signature value", cert_req=cert_req)
    response = tsa.timestamp(request)
    token = token_from_response(response, request_der=request)
    if cert_req:
        shipped = [cert.chosen.dump() for cert in token["content"]["certificates"]]
        issued = (keys.tsa.cert_pem, keys.ca.cert_pem)
        assert shipped == [pem.unarmor(issued_pem)[2] for issued_pem in issued]
    else:
        assert TimeStampResp.load(response).dump(force=True) == response
    tst = token["content"]["encap_content_info"]["content"].contents
    assert tsp.TSTInfo.load(tst).dump(force=True) == tst
    attrs = token["content"]["signer_infos"][0]["signed_attrs"]
    assert attrs.dump(force=True) == attrs.dump()


def test_tsa_omits_certificates_unless_asked(tsa: TimestampAuthority) -> None:  # noqa: F811
    request, _ = build_request(b"x", cert_req=False)
    token = token_from_response(tsa.timestamp(request), request_der=request)
    assert not token["content"]["certificates"]


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (b"\x30\x03\x02\x01\x01", "bad_data_format"),
        (build_request(b"x", hash_algorithm="md5")[0], "bad_alg"),
        (build_request(b"x", hash_algorithm="sha1")[0], "bad_alg"),
    ],
)
def test_tsa_rejects_bad_requests(
    tsa: TimestampAuthority,  # noqa: F811
    request_der: bytes,
    fail_info: str,
) -> None:
    response = TimeStampResp.load(tsa.timestamp(request_der))
    assert response["status"]["status"].native == "rejection"
    assert response["status"]["fail_info"].native == {fail_info}


def test_tsa_rejects_when_its_certificate_is_not_valid(keys: Keys) -> None:  # noqa: F811
    late = TimestampAuthority(
        cert_pem=keys.tsa.cert_pem,
        key=keys.tsa.key,
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=3650),
    )
    response = TimeStampResp.load(late.timestamp(build_request(b"x")[0]))
    assert response["status"]["fail_info"].native == {"system_failure"}


def test_tsa_refuses_wrong_key_or_certificate(keys: Keys) -> None:  # noqa: F811
    with pytest.raises(SigningError, match="不匹配"):
        TimestampAuthority(cert_pem=keys.tsa.cert_pem, key=keys.doctor.key)
    with pytest.raises(SigningError, match="timeStamping"):
        TimestampAuthority(cert_pem=keys.doctor.cert_pem, key=keys.doctor.key)


class _TsaHandler(FakeHandler):
    tsa: TimestampAuthority

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/tsa" or self.headers["Content-Type"] != (
            REQUEST_CONTENT_TYPE
        ):
            self.reply(500, b"", "text/plain")
            return
        self.reply(200, self.tsa.timestamp(body), RESPONSE_CONTENT_TYPE)


@pytest.fixture(scope="module")
def tsa_server(tsa: TimestampAuthority) -> Iterator[str]:  # noqa: F811
    with serve(type("Handler", (_TsaHandler,), {"tsa": tsa})) as base:
        yield base


def test_external_tsa_over_http(record_pdf: bytes, keys: Keys, tsa_server) -> None:  # noqa: F811
    options = SigningOptions(tsa_url=f"{tsa_server}/tsa")
    pdf = sign(record_pdf, keys.doctor, keys.ca, options=options)
    report = validate_with_pyhanko(pdf, trust_roots_pem=[keys.ca.cert_pem])
    assert report.ok
    broken = SigningOptions(tsa_url=f"{tsa_server}/broken")
    with pytest.raises(TimestampError, match="HTTP 500"):
        sign(record_pdf, keys.doctor, keys.ca, options=broken)


class _RejectingTsa:
    def __init__(self, authority: TimestampAuthority) -> None:
        self.tsa = authority

    def timestamp(self, request_der: bytes) -> bytes:
        return self.tsa.timestamp(b"not a request")


def test_tsa_rejection_becomes_a_timestamp_error(
    record_pdf: bytes,  # noqa: F811
    keys: Keys,  # noqa: F811
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    with pytest.raises(TimestampError) as caught:
        sign(record_pdf, keys.doctor, keys.ca, tsa=_RejectingTsa(tsa))
    assert caught.value.message.startswith("时间戳服务拒绝了请求")
    with pytest.raises(TimestampError, match="http"):
        sign(record_pdf, keys.doctor, keys.ca, options=SigningOptions(tsa_url="ftp:x"))
