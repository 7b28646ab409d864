"""The TC3-HMAC-SHA256 request signature of the Tencent FaceID adapter: known
answers, and a local fake that rejects what Tencent would reject."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from his_portal.adapters.face import FaceCheckError, tc3_authorization
from tests.adapters.fake_tencent import (
    FakeTencent,
    begin,
    expected_signature,
    result,
)

# --- the signature, known answers -----------------------------------------------------


def test_tc3_matches_tencent_documented_example():
    # The worked example of Tencent's "Signature v3" page (CVM DescribeInstances);
    # its credentials are literally these masked strings.
    payload = (
        rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"],'
        rb' "Name": "instance-name"}]}'
    )
    assert hashlib.sha256(payload).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    authorization = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        payload=payload,
        timestamp=1551113065,  # 2019-02-26 00:44:25 +08:00: the UTC date is the 25th
    )
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
        "/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


FACEID_PAYLOAD = (
    b'{"BizToken":"CE661F1A-0F1E-45BD-BE13-34C05CEA7681","RuleId":"1","InfoType":"0"}'
)
# Computed step by step with the openssl command line from the documented algorithm:
# sha256(payload), sha256(canonical request), then HMAC chain over
# "TC3test-secret-key" -> "2023-11-14" -> "faceid" -> "tc3_request".
FACEID_SIGNATURE = "3b1111c78bf9fe0966245e25c80511a0a09e5b34ec030bb295f23d8b5ff9f40c"


def test_tc3_faceid_known_answer():
    authorization = tc3_authorization(
        secret_id="AKIDtest",
        secret_key="test-secret-key",
        service="faceid",
        host="faceid.tencentcloudapi.com",
        payload=FACEID_PAYLOAD,
        timestamp=1700000000,  # 2023-11-14 22:13:20 UTC
    )
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDtest/2023-11-14/faceid/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={FACEID_SIGNATURE}"
    )
    # The fake server's independent implementation agrees with the vector.
    assert (
        expected_signature(
            "test-secret-key",
            "faceid.tencentcloudapi.com",
            "/",
            FACEID_PAYLOAD,
            1700000000,
        )
        == FACEID_SIGNATURE
    )


@pytest.mark.parametrize(
    "change",
    [
        {"secret_key": "test-secret-keY"},
        {"host": "faceid.tencentcloudapi.com:8443"},
        {"payload": FACEID_PAYLOAD.replace(b'"1"', b'"2"')},
        {"timestamp": 1700000001},
        {"service": "cvm"},
        {"path": "/v1"},
    ],
)
def test_tc3_signature_covers_every_input(change):
    inputs = {
        "secret_id": "AKIDtest",
        "secret_key": "test-secret-key",
        "service": "faceid",
        "host": "faceid.tencentcloudapi.com",
        "payload": FACEID_PAYLOAD,
        "timestamp": 1700000000,
    }
    signature = tc3_authorization(**inputs | change).rsplit("Signature=", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    assert signature != FACEID_SIGNATURE


@pytest.mark.parametrize("action", ["begin", "result"])
def test_wrong_secret_key_is_an_auth_error(tencent, action):
    ref = begin(tencent).ref
    with pytest.raises(FaceCheckError) as caught:
        if action == "begin":
            begin(tencent, secret_key="wrong-secret")
        else:
            result(tencent, ref, secret_key="wrong-secret")
    assert caught.value.message == "人脸核身服务拒绝了请求（密钥无效），请联系管理员"
    assert caught.value.reference


def test_unknown_secret_id_is_an_auth_error(tencent):
    with pytest.raises(FaceCheckError, match="密钥无效"):
        begin(tencent, secret_id="AKIDsomebodyElse")


def test_credential_scope_uses_the_utc_date(tencent):
    # The adapter's date in the credential scope is the UTC one, which the fake
    # rejects otherwise: near midnight Beijing time the local date differs.
    begin(tencent)
    sent = FakeTencent.requests[-1]["headers"]
    timestamp = int(sent["X-TC-Timestamp"])
    utc_date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    assert f"/{utc_date}/faceid/tc3_request" in sent["Authorization"]
