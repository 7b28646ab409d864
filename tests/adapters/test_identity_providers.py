"""Tests for his_portal.adapters.identity_check: demo registry and HTTP client."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from his_portal.adapters.identity_check import (
    DEMO_MISMATCH_ID,
    DEMO_REGISTRY,
    DEMO_WANG_ID,
    DEMO_ZHENG_ID,
    DemoIdentityProvider,
    HttpIdentityProvider,
    IdentityProviderError,
    IdentityQuery,
    make_identity_provider,
)
from his_portal.errors import ConfigError
from his_portal.services.identity.idcard import (
    IdNumberError,
    resident_check_digit,
    validate_id_number,
    validate_mobile,
)
from tests.adapters.held_answer import gave_up
from tests.fake_server import FakeHandler, serve

KEY = "test-key"
SECRET = "test-secret"
# A well-formed resident number that is not in the demo registry.
UNKNOWN_ID = "11010519491231002" + resident_check_digit("11010519491231002")


def query(
    name: str, id_number: str, mobile: str, id_type: str = "resident"
) -> IdentityQuery:
    return IdentityQuery(name=name, id_type=id_type, id_number=id_number, mobile=mobile)


# --- demo provider -------------------------------------------------------------


def test_demo_numbers_are_valid_resident_ids():
    zheng = "31010119850312001" + resident_check_digit("31010119850312001")
    assert zheng == DEMO_ZHENG_ID
    assert DEMO_WANG_ID.startswith("31010419900215")
    for number in (DEMO_ZHENG_ID, DEMO_WANG_ID, DEMO_MISMATCH_ID):
        assert validate_id_number("resident", number) == number
    assert DEMO_REGISTRY[DEMO_MISMATCH_ID] == ("张伟", "13900000000")


@pytest.mark.parametrize(
    ("name", "number", "mobile"),
    [
        ("郑程", DEMO_ZHENG_ID, "13800138000"),
        # Typed the way people type: spaces, +86, lower-case is irrelevant here.
        (" 王莉 ", f" {DEMO_WANG_ID} ", "+86 138-0013-8001"),
        ("张伟", DEMO_MISMATCH_ID, "13900000000"),
    ],
)
def test_demo_registry_entries_match(name, number, mobile):
    result = DemoIdentityProvider().check(query(name, number, mobile))
    assert result.matched
    assert result.provider == "demo"
    assert result.reference.startswith("demo-")
    assert result.message == "实名认证通过"


def test_demo_name_mismatch():
    result = DemoIdentityProvider().check(
        query("郑程", DEMO_MISMATCH_ID, "13900000000")
    )
    assert not result.matched
    assert result.message.startswith("姓名与证件登记信息不一致")
    assert "张伟" not in result.message  # never reveals what is on file


def test_demo_mobile_mismatch():
    result = DemoIdentityProvider().check(query("郑程", DEMO_ZHENG_ID, "13800138009"))
    assert not result.matched
    assert result.message.startswith("手机号码与证件登记信息不一致")


def test_demo_both_mismatch():
    result = DemoIdentityProvider().check(
        query("王莉", DEMO_MISMATCH_ID, "13800138001")
    )
    assert not result.matched
    assert result.message.startswith("姓名、手机号码与证件登记信息不一致")


def test_demo_unknown_valid_id_matches():
    result = DemoIdentityProvider().check(query("李华", UNKNOWN_ID, "15912345678"))
    assert result.matched
    passport = DemoIdentityProvider().check(
        query("John Smith", "E12345678", "13712345678", id_type="passport")
    )
    assert passport.matched


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("resident", DEMO_ZHENG_ID[:17] + "5"),  # wrong check digit
        ("resident", "31010119850312"),
        ("hk_macau", "X1234567"),
        ("nonsense", DEMO_ZHENG_ID),
    ],
)
def test_demo_invalid_id_uses_validator_message(id_type, number):
    with pytest.raises(IdNumberError) as expected:
        validate_id_number(id_type, number)
    result = DemoIdentityProvider().check(
        query("郑程", number, "13800138000", id_type=id_type)
    )
    assert not result.matched
    assert result.message == expected.value.message
    assert result.reference == ""


def test_demo_invalid_mobile_and_empty_name():
    with pytest.raises(IdNumberError) as expected:
        validate_mobile("1380013800")
    result = DemoIdentityProvider().check(query("郑程", DEMO_ZHENG_ID, "1380013800"))
    assert not result.matched
    assert result.message == expected.value.message
    result = DemoIdentityProvider().check(query("  ", DEMO_ZHENG_ID, "13800138000"))
    assert (result.matched, result.message) == (False, "请输入姓名")


# --- fake vendor server --------------------------------------------------------


class FakeVendor(FakeHandler):
    """Verifies requests as a vendor would; the path picks the behaviour."""

    seen_nonces: set[str] = set()  # shared by all handler instances: replay check
    hold = threading.Event()  # "/slow" answers only once a test sets this

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self._authentic(body):
            return self.reply(
                401, b'{"code":"401","detail":"bad signature"}', "application/json"
            )
        data = json.loads(body)
        if self.path == "/slow":
            self.hold.wait(timeout=30)  # the bound only ends a stuck run
        if self.path == "/error500":
            return self.reply(500, b"internal error", "application/json")
        if self.path == "/garbage":
            return self.reply(200, b"<html>maintenance</html>", "application/json")
        if self.path == "/quota":
            answer = {"code": "1007", "detail": "余额不足", "request_id": "r-quota"}
        else:
            result = "mismatch" if data["name"] == "李四" else "match"
            answer = {"code": "0", "result": result, "request_id": "r-" + data["nonce"]}
        self.reply(200, json.dumps(answer).encode(), "application/json")

    def _authentic(self, body: bytes) -> bool:
        data = json.loads(body)
        canonical = "\n".join(
            [
                "POST",
                self.path,
                str(data["timestamp"]),
                data["nonce"],
                hashlib.sha256(body).hexdigest(),
            ]
        )
        expected = hmac.new(SECRET.encode(), canonical.encode(), "sha256").hexdigest()
        fresh = abs(time.time() - data["timestamp"]) < 300
        replay = data["nonce"] in self.seen_nonces
        self.seen_nonces.add(data["nonce"])
        return (
            self.headers["X-Api-Key"] == KEY
            and hmac.compare_digest(self.headers["X-Signature"], expected)
            and fresh
            and not replay
        )


@pytest.fixture(scope="module")
def vendor() -> Iterator[str]:
    with serve(FakeVendor) as base:
        yield base


def http(base: str, path: str = "/verify", **kwargs) -> HttpIdentityProvider:
    options = {"api_key": KEY, "api_secret": SECRET, "timeout": 2.0} | kwargs
    return HttpIdentityProvider(url=base + path, **options)


ZHENG = query("郑程", DEMO_ZHENG_ID, "138 0013 8000")


# --- HTTP provider -------------------------------------------------------------


def test_http_match(vendor):
    result = http(vendor).check(ZHENG)
    assert result.matched
    assert result.provider == "http"
    assert result.reference.startswith("r-")
    assert result.message == "实名认证通过"


def test_http_mismatch(vendor):
    result = http(vendor).check(query("李四", DEMO_ZHENG_ID, "13800138000"))
    assert not result.matched
    assert result.message == "姓名、证件号码与手机号码不一致，请核对后重试"


def test_http_invalid_format_is_not_sent(vendor):
    result = http(vendor, "/error500").check(query("郑程", "123", "13800138000"))
    assert not result.matched
    assert result.message == "居民身份证号码应为18位"


def test_http_wrong_secret(vendor):
    with pytest.raises(IdentityProviderError, match="密钥无效"):
        http(vendor, api_secret="wrong").check(ZHENG)


def test_http_provider_error_code(vendor):
    with pytest.raises(IdentityProviderError) as caught:
        http(vendor, "/quota").check(ZHENG)
    assert caught.value.message == "认证服务返回错误：余额不足（代码 1007）"
    assert caught.value.reference == "r-quota"


def test_http_server_error(vendor):
    with pytest.raises(IdentityProviderError, match="暂时不可用"):
        http(vendor, "/error500").check(ZHENG)


def test_http_timeout(vendor):
    slow = http(vendor, "/slow", timeout=0.3)
    caught = gave_up(
        FakeVendor, IdentityProviderError, lambda: slow.check(ZHENG), timeout=0.3
    )
    assert caught.message == "认证服务响应超时，请稍后重试"


def test_http_garbage_body(vendor):
    with pytest.raises(IdentityProviderError, match="无法识别"):
        http(vendor, "/garbage").check(ZHENG)


def test_http_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(IdentityProviderError, match="无法连接认证服务"):
        http(f"http://127.0.0.1:{port}").check(ZHENG)


def test_secret_not_in_repr():
    assert SECRET not in repr(http("http://127.0.0.1:1"))


# --- factory -------------------------------------------------------------------


def test_factory():
    assert make_identity_provider("demo").name == "demo"
    provider = make_identity_provider(
        "http", url="https://idcheck.example/v1/verify", api_key=KEY, api_secret=SECRET
    )
    assert isinstance(provider, HttpIdentityProvider)
    with pytest.raises(ConfigError, match="HIS_IDENTITY_SECRET"):
        make_identity_provider("http", url="https://idcheck.example", api_key=KEY)
    with pytest.raises(ConfigError, match="未知的实名认证方式"):
        make_identity_provider("sms")
    with pytest.raises(ConfigError, match="http://"):
        make_identity_provider("http", url="ftp://x", api_key=KEY, api_secret=SECRET)
