"""Tests for his_portal.adapters.sms: the demo provider and the Aliyun client."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote

import pytest

from his_portal.adapters.sms import (
    AliyunSmsProvider,
    DemoSmsProvider,
    SmsProviderError,
    aliyun_signature,
    make_sms_provider,
)
from his_portal.errors import ConfigError
from tests.adapters.held_answer import gave_up
from tests.fake_server import FakeHandler, serve

KEY_ID = "LTAI-test-key"
KEY_SECRET = "test-secret"
MOBILE = "13800138000"
CODE = {"code": "123456"}


# --- demo providers ------------------------------------------------------------


def test_demo_sms_accepts_and_writes_nothing():
    receipt = DemoSmsProvider().send(mobile=MOBILE, text="【牙医云】…", params=CODE)
    assert receipt.provider == "demo"
    assert receipt.reference.startswith("demo-")


# --- the signature -------------------------------------------------------------


def test_signature_matches_aliyun_documented_example():
    """The worked example of Aliyun's SMS 签名机制 page (GET, secret testSecret)."""
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert (
        aliyun_signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    )


# --- fake Aliyun ---------------------------------------------------------------


def expected_signature(params: dict[str, str]) -> str:
    """Recomputed from the spec, independently of the client's helpers."""

    def enc(text: str) -> str:
        return quote(text, safe="-_.~", encoding="utf-8")

    pairs = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    to_sign = "POST&%2F&" + enc(pairs)
    mac = hmac.new((KEY_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class FakeAliyun(FakeHandler):
    """Checks requests as dysmsapi would; the path picks the behaviour."""

    seen_nonces: set[str] = set()
    received: list[dict[str, str]] = []
    hold = threading.Event()  # "/slow" answers only once a test sets this

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        params = dict(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
        signature = params.pop("Signature", "")
        request_id = "req-" + params.get("SignatureNonce", "")
        if not self._authentic(params, signature):
            return self._json(
                400,
                {
                    "Code": "SignatureDoesNotMatch",
                    "Message": "Specified signature is not matched",
                    "RequestId": request_id,
                },
            )
        FakeAliyun.received.append(params)
        path = self.path.split("?")[0]
        if path == "/slow":
            self.hold.wait(timeout=30)  # the bound only ends a stuck run
        if path == "/error500":
            return self.reply(500, b"internal error", "text/plain")
        if path == "/garbage":
            return self.reply(200, b"<html>maintenance</html>", "text/html")
        answers = {
            "/limit": {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"},
            "/odd": {"Code": "isv.NEW_THING", "Message": "新的错误"},
            "/nobiz": {"Code": "OK", "Message": "OK"},
        }
        answer = answers.get(path, {"Code": "OK", "Message": "OK", "BizId": "biz-1"})
        self._json(200, {**answer, "RequestId": request_id})

    def _authentic(self, params: dict[str, str], signature: str) -> bool:
        stamp = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        age = abs(dt.datetime.now(dt.UTC) - stamp.replace(tzinfo=dt.UTC))
        nonce = params["SignatureNonce"]
        replay = nonce in self.seen_nonces
        self.seen_nonces.add(nonce)
        return (
            params["AccessKeyId"] == KEY_ID
            and params["SignatureMethod"] == "HMAC-SHA1"
            and params["SignatureVersion"] == "1.0"
            and hmac.compare_digest(signature, expected_signature(params))
            and age < dt.timedelta(minutes=15)
            and not replay
            and "?" not in self.path  # parameters travel in the body only
        )

    def _json(self, status: int, data: dict):
        self.reply(status, json.dumps(data).encode(), "application/json")


@pytest.fixture(scope="module")
def aliyun() -> Iterator[str]:
    with serve(FakeAliyun) as base:
        yield base


def client(base: str, path: str = "/", **kwargs) -> AliyunSmsProvider:
    options = {
        "access_key_id": KEY_ID,
        "access_key_secret": KEY_SECRET,
        "sign_name": "牙医云",
        "template_code": "SMS_123456789",
        "timeout": 2.0,
    } | kwargs
    return AliyunSmsProvider(endpoint=base + path, **options)


def send(provider: AliyunSmsProvider):
    return provider.send(mobile=MOBILE, text="【牙医云】验证码123456", params=CODE)


def test_aliyun_ok_and_request_fields(aliyun):
    receipt = send(client(aliyun))
    assert (receipt.provider, receipt.reference) == ("aliyun", "biz-1")
    params = FakeAliyun.received[-1]
    assert params["Action"] == "SendSms"
    assert params["Version"] == "2017-05-25"
    assert params["Format"] == "JSON"
    assert params["PhoneNumbers"] == MOBILE
    assert params["SignName"] == "牙医云"
    assert params["TemplateCode"] == "SMS_123456789"
    assert json.loads(params["TemplateParam"]) == CODE
    assert params["RegionId"] == "cn-hangzhou"
    send(client(aliyun))
    assert FakeAliyun.received[-1]["SignatureNonce"] != params["SignatureNonce"]


def test_aliyun_bad_secret_is_rejected(aliyun):
    with pytest.raises(SmsProviderError) as caught:
        send(client(aliyun, access_key_secret="wrong"))
    assert caught.value.message == "短信服务拒绝了请求（密钥无效），请联系管理员"
    assert caught.value.reference.startswith("req-")


def test_aliyun_rate_limited(aliyun):
    with pytest.raises(SmsProviderError) as caught:
        send(client(aliyun, "/limit"))
    assert caught.value.message == "短信发送过于频繁，请稍后再试"


def test_aliyun_unknown_code_shows_vendor_text(aliyun):
    with pytest.raises(SmsProviderError) as caught:
        send(client(aliyun, "/odd"))
    assert caught.value.message == "短信服务返回错误：新的错误（代码 isv.NEW_THING）"


def test_aliyun_ok_without_biz_id_is_not_trusted(aliyun):
    with pytest.raises(SmsProviderError, match="无法识别"):
        send(client(aliyun, "/nobiz"))


def test_aliyun_server_error(aliyun):
    with pytest.raises(SmsProviderError, match="暂时不可用"):
        send(client(aliyun, "/error500"))


def test_aliyun_garbage(aliyun):
    with pytest.raises(SmsProviderError, match="无法识别"):
        send(client(aliyun, "/garbage"))


def test_aliyun_timeout(aliyun):
    slow = client(aliyun, "/slow", timeout=0.3)
    caught = gave_up(FakeAliyun, SmsProviderError, lambda: send(slow), timeout=0.3)
    assert caught.message == "短信服务响应超时，请稍后重试"


def test_aliyun_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SmsProviderError, match="无法连接短信服务"):
        send(client(f"http://127.0.0.1:{port}"))


def test_secret_not_in_repr():
    assert KEY_SECRET not in repr(client("http://127.0.0.1:1"))


def test_factory():
    assert make_sms_provider("demo").name == "demo"
    provider = make_sms_provider(
        "aliyun",
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        sign_name="牙医云",
        template_code="SMS_1",
    )
    assert isinstance(provider, AliyunSmsProvider)
    assert provider.endpoint == "https://dysmsapi.aliyuncs.com/"
    with pytest.raises(ConfigError, match="template_code"):
        make_sms_provider(
            "aliyun", access_key_id=KEY_ID, access_key_secret="s", sign_name="x"
        )
    with pytest.raises(ConfigError, match="未知的短信服务"):
        make_sms_provider("twilio")
    with pytest.raises(ConfigError, match="http://"):
        client("ftp://x")
