"""Tests for his_portal.adapters.face: the demo provider, the TC3 signature and the
Tencent FaceID client against a local fake that checks signatures as Tencent does."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from his_portal.adapters.face import (
    DEMO_FACE_OK,
    DemoFaceCheckProvider,
    FaceCheckError,
    FaceConfigError,
    FaceResult,
    FaceSession,
    TencentFaceIdProvider,
    make_face_provider,
    tc3_authorization,
)
from his_portal.errors import ConfigError
from his_portal.settings import Settings
from tests.fake_server import FakeHandler, serve

SECRET_ID = "AKIDtestFaceSecretId"
SECRET_KEY = "test-face-secret-key"
RULE_ID = "7"
RETURN_URL = "https://his.example/confirm/tok123?x=1"
ZHENG = ("郑程", "310101198503120014")
WANG = ("王莉", "310104199002152222")
WITH_X = ("李华", "11010519491231002X")


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


# --- demo provider --------------------------------------------------------------------


def test_demo_begin_issues_unique_demo_refs_without_url():
    provider = DemoFaceCheckProvider()
    assert (provider.name, provider.demo) == ("demo", True)
    first = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url=RETURN_URL)
    second = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url=RETURN_URL)
    assert isinstance(first, FaceSession)
    assert first.url == ""
    assert re.fullmatch(r"demo-[0-9a-f]{32}", first.ref)
    assert len(first.ref) <= 128
    assert first.ref != second.ref


def test_demo_result_matches_only_the_demo_evidence():
    provider = DemoFaceCheckProvider()
    ref = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url="").ref
    ok = provider.result(
        ref=ref, name=ZHENG[0], id_number=ZHENG[1], evidence=DEMO_FACE_OK
    )
    assert ok == FaceResult(matched=True, reference=ref, message="人脸核验通过")
    for evidence in ("", "demo-face-fail", DEMO_FACE_OK.upper(), DEMO_FACE_OK + " "):
        bad = provider.result(
            ref=ref, name=ZHENG[0], id_number=ZHENG[1], evidence=evidence
        )
        assert (bad.matched, bad.message) == (False, "人脸核验未通过")


def test_demo_result_rejects_a_ref_it_did_not_issue():
    bad = DemoFaceCheckProvider().result(
        ref="CE661F1A-0F1E-45BD",
        name=ZHENG[0],
        id_number=ZHENG[1],
        evidence=DEMO_FACE_OK,
    )
    assert (bad.matched, bad.message) == (False, "人脸核验未通过")


# --- fake Tencent FaceID --------------------------------------------------------------

AUTH_RE = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})"
    r"/faceid/tc3_request, SignedHeaders=content-type;host, "
    r"Signature=(?P<sig>[0-9a-f]{64})"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(
    secret_key: str, host: str, path: str, body: bytes, timestamp: int
) -> str:
    """TC3-HMAC-SHA256 written out again, independently of the adapter."""
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    canonical = (
        f"POST\n{path}\n\n"
        f"content-type:application/json; charset=utf-8\nhost:{host}\n\n"
        f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
    )
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/faceid/tc3_request\n"
        f"{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    key = _hmac(
        _hmac(_hmac(f"TC3{secret_key}".encode(), date), "faceid"), "tc3_request"
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


def text(err_code: Any, err_msg: str | None, id_card: str, name: str) -> dict:
    return {
        "Text": {
            "ErrCode": err_code,
            "ErrMsg": err_msg,
            "IdCard": id_card,
            "Name": name,
            "LiveStatus": err_code,
            "Comparestatus": err_code,
            "Comparemsg": err_msg,
            "Sim": "96.5" if err_code == 0 else None,
        },
        "IdCardData": None,
        "BestFrame": None,
    }


class FakeTencent(FakeHandler):
    """Tencent FaceID as far as this adapter sees it, verifying every signature."""

    # Shared by all handler instances (one per request).
    sessions: ClassVar[dict[str, tuple[str, str]]] = {}  # BizToken -> (IdCard, Name)
    scripted: ClassVar[dict[str, dict[str, Any]]] = {}  # BizToken -> Response body
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request_id = str(uuid.uuid4())
        problem = self._auth_problem(body)
        if problem:
            return self._answer(error(*problem), request_id)
        data = json.loads(body)
        action = self.headers["X-TC-Action"]
        self.requests.append({"action": action, "body": data, "headers": self.headers})
        if action == "DetectAuth":
            return self._detect_auth(data, request_id)
        if action == "GetDetectInfoEnhanced":
            return self._detect_info(data, request_id)
        return self._answer(error("InvalidAction", "no such action"), request_id)

    def _detect_auth(self, data: dict[str, Any], request_id: str) -> None:
        if data.get("RuleId") != RULE_ID:
            return self._answer(
                error("InvalidParameterValue.RuleIdNotExist", "RuleId不存在"),
                request_id,
            )
        token = str(uuid.uuid4()).upper()
        if data["Name"] == "长令牌":
            token = "T" * 129  # longer than a FaceSession.ref may be
        self.sessions[token] = (data["IdCard"], data["Name"])
        url = f"https://faceid.qq.com/api/auth/index?token={token}"
        url = {"坏链接": "javascript:alert(1)", "无主机": "https://", "空": ""}.get(
            data["Name"], url
        )
        self._answer({"Url": url, "BizToken": token}, request_id)

    def _detect_info(self, data: dict[str, Any], request_id: str) -> None:
        token = data.get("BizToken", "")
        if token == "slow":
            time.sleep(1.0)
        if token == "garbage":
            return self.reply(200, b"<html>maintenance</html>", "text/html")
        if token == "error500":
            return self.reply(500, b"internal error", "text/plain")
        if token == "no-request-id":
            payload = json.dumps({"Response": text(0, "成功", *ZHENG)}).encode()
            return self.reply(200, payload, "application/json")
        if token in self.scripted:
            return self._answer(self.scripted[token], request_id)
        if token not in self.sessions:
            return self._answer(
                error("InvalidParameterValue.BizTokenIllegal", "BizToken不合法"),
                request_id,
            )
        id_card, name = self.sessions[token]
        self._answer(text(0, "成功", id_card, name), request_id)

    def _auth_problem(self, body: bytes) -> tuple[str, str] | None:
        match = AUTH_RE.fullmatch(self.headers.get("Authorization", ""))
        if (
            self.headers.get("Content-Type") != "application/json; charset=utf-8"
            or self.headers.get("X-TC-Version") != "2018-03-01"
            or match is None
        ):
            return ("AuthFailure.InvalidAuthorization", "Authorization 格式不正确")
        if match["id"] != SECRET_ID:
            return ("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        timestamp = int(self.headers["X-TC-Timestamp"])
        if abs(time.time() - timestamp) > 300:
            return ("AuthFailure.SignatureExpire", "签名过期")
        if match["date"] != time.strftime("%Y-%m-%d", time.gmtime(timestamp)):
            return ("AuthFailure.InvalidAuthorization", "Credential 日期不一致")
        expected = expected_signature(
            SECRET_KEY, self.headers["Host"], self.path, body, timestamp
        )
        if not hmac.compare_digest(match["sig"], expected):
            return (
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )
        return None

    def _answer(self, response: dict[str, Any], request_id: str) -> None:
        payload = {"Response": {**response, "RequestId": request_id}}
        self.reply(200, json.dumps(payload).encode(), "application/json")


@pytest.fixture(scope="module")
def tencent() -> Iterator[str]:
    with serve(FakeTencent) as base:
        yield base


def provider(base: str, **kwargs) -> TencentFaceIdProvider:
    options = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "rule_id": RULE_ID,
        "endpoint": base,
        "timeout": 2.0,
    } | kwargs
    return TencentFaceIdProvider(**options)


def begin(base: str, person: tuple[str, str] = ZHENG, **kwargs) -> FaceSession:
    name, id_number = person
    return provider(base, **kwargs).begin(
        name=name, id_number=id_number, return_url=RETURN_URL
    )


def result(
    base: str, ref: str, person: tuple[str, str] = ZHENG, **kwargs
) -> FaceResult:
    name, id_number = person
    return provider(base, **kwargs).result(ref=ref, name=name, id_number=id_number)


def script(response: dict[str, Any]) -> str:
    token = f"scripted-{uuid.uuid4().hex}"
    FakeTencent.scripted[token] = response
    return token


# --- Tencent provider: begin ----------------------------------------------------------


def test_begin_sends_the_identity_and_returns_the_h5_session(tencent):
    session = begin(tencent)
    assert session.ref in FakeTencent.sessions
    assert len(session.ref) <= 128
    assert session.url == f"https://faceid.qq.com/api/auth/index?token={session.ref}"
    sent = FakeTencent.requests[-1]
    assert sent["action"] == "DetectAuth"
    assert sent["body"] == {
        "RuleId": RULE_ID,
        "IdCard": ZHENG[1],
        "Name": ZHENG[0],
        "RedirectUrl": RETURN_URL,
    }
    assert sent["headers"]["X-TC-Region"] == "ap-guangzhou"
    assert sent["headers"]["Host"] == tencent.removeprefix("http://")
    assert abs(int(sent["headers"]["X-TC-Timestamp"]) - time.time()) < 10


def test_begin_wrong_rule_id_shows_the_vendor_error(tencent):
    with pytest.raises(FaceCheckError) as caught:
        begin(tencent, rule_id="99")
    assert caught.value.message == (
        "人脸核身服务返回错误：RuleId不存在"
        "（代码 InvalidParameterValue.RuleIdNotExist）"
    )
    assert caught.value.reference  # Tencent's RequestId, for the log


@pytest.mark.parametrize("name", ["坏链接", "无主机", "空", "长令牌"])
def test_begin_refuses_a_bad_url_or_token(tencent, name):
    with pytest.raises(FaceCheckError, match="无法识别"):
        begin(tencent, (name, ZHENG[1]))


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


# --- Tencent provider: result ---------------------------------------------------------


def test_result_matches_the_right_person(tencent):
    ref = begin(tencent).ref
    answer = result(tencent, ref)
    assert answer == FaceResult(matched=True, reference=ref, message="人脸核验通过")
    sent = FakeTencent.requests[-1]
    assert sent["action"] == "GetDetectInfoEnhanced"
    assert sent["body"] == {"BizToken": ref, "RuleId": RULE_ID, "InfoType": "0"}


def test_result_id_number_x_is_case_insensitive(tencent):
    ref = begin(tencent, WITH_X).ref  # Tencent answers with the upper-case X
    assert result(tencent, ref, (WITH_X[0], WITH_X[1].lower())).matched


def test_result_of_another_persons_check_does_not_match(tencent):
    # A finished, successful check of 王莉 must not confirm 郑程.
    ref = begin(tencent, WANG).ref
    assert result(tencent, ref, WANG).matched
    answer = result(tencent, ref, ZHENG)
    assert not answer.matched
    assert answer.message == "人脸核验未通过：核验的身份与本人不一致"


@pytest.mark.parametrize(
    ("id_card", "name"),
    [
        (WANG[1], ZHENG[0]),  # same name, another ID number
        (ZHENG[1], WANG[0]),  # same ID number, another name
        ("", ""),
        (None, None),
    ],
)
def test_result_success_for_other_identity_does_not_match(tencent, id_card, name):
    ref = script(text(0, "成功", id_card, name))
    answer = result(tencent, ref)
    assert not answer.matched
    assert answer.message == "人脸核验未通过：核验的身份与本人不一致"


def test_result_empty_doctor_identity_never_matches(tencent):
    ref = script(text(0, "成功", "", ""))
    assert not result(tencent, ref, ("", "")).matched


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1001, "调用活体引擎失败"),
        (2004, "传入的图像不符合要求"),
        (3005, "姓名和身份证号不一致"),
        ("1004", "活体检测未通过"),
    ],
)
def test_result_failed_check_gives_the_reason(tencent, code, reason):
    ref = script(text(code, reason, *ZHENG))  # even with the right identity
    answer = result(tencent, ref)
    assert answer == FaceResult(
        matched=False, reference=ref, message=f"人脸核验未通过：{reason}"
    )


def test_result_failed_check_without_reason_gives_the_code(tencent):
    answer = result(tencent, script(text(2004, None, *ZHENG)))
    assert (answer.matched, answer.message) == (False, "人脸核验未通过（代码 2004）")
    assert answer.finished  # a verdict: it counts as a failed attempt


def test_result_not_finished(tencent):
    for response in (text(None, None, "", ""), {"Text": None}, {}):
        answer = result(tencent, script(response))
        assert (answer.matched, answer.message) == (False, "人脸核验尚未完成")
        assert not answer.finished


@pytest.mark.parametrize("code", [False, {"x": 0}, [0], 0.0])
def test_result_unreadable_err_code_is_an_error(tencent, code):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, script(text(code, "成功", *ZHENG)))


def test_result_text_not_an_object_is_an_error(tencent):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, script({"Text": "ErrCode=0"}))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidParameterValue.BizTokenExpired", "人脸核验已过期或无效，请重新扫码"),
        (
            "AuthFailure.SignatureExpire",
            "服务器时间与人脸核身服务相差过大，请联系管理员",
        ),
        (
            "UnauthorizedOperation.Nonactivated",
            "人脸核身服务未开通或无权使用，请联系管理员",
        ),
        ("RequestLimitExceeded", "人脸核身服务繁忙，请稍后重试"),
        ("InternalError", "人脸核身服务暂时不可用，请稍后重试"),
        (
            "FailedOperation.UnKnown",
            "人脸核身服务返回错误：未知错误（代码 FailedOperation.UnKnown）",
        ),
    ],
)
def test_result_error_codes(tencent, code, message):
    detail = "未知错误" if code.startswith("FailedOperation") else "whatever"
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, script(error(code, detail)))
    assert caught.value.message == message


def test_result_unknown_biz_token(tencent):
    with pytest.raises(FaceCheckError, match="已过期"):
        result(tencent, "CE661F1A-0F1E-45BD-BE13-34C05CEA7681")


def test_result_timeout(tencent):
    started = time.monotonic()
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, "slow", timeout=0.3)
    assert caught.value.message == "人脸核身服务响应超时，请稍后重试"
    assert time.monotonic() - started < 0.9


def test_result_garbage_body(tencent):
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, "garbage")
    assert caught.value.message == "人脸核身服务返回了无法识别的结果"


def test_result_http_500(tencent):
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, "error500")
    assert caught.value.message == "人脸核身服务暂时不可用，请稍后重试"


def test_result_without_request_id_is_not_trusted(tencent):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, "no-request-id")


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FaceCheckError, match="无法连接人脸核身服务"):
        begin(f"http://127.0.0.1:{port}")


def test_tencent_attributes_and_secret_not_in_repr():
    tencent_provider = provider("https://faceid.tencentcloudapi.com")
    assert (tencent_provider.name, tencent_provider.demo) == ("tencent", False)
    assert SECRET_KEY not in repr(tencent_provider)


# --- factory --------------------------------------------------------------------------


def test_factory_demo_and_none():
    assert isinstance(make_face_provider("demo"), DemoFaceCheckProvider)
    assert make_face_provider("none") is None


def test_factory_tencent_from_settings():
    settings = Settings.from_env(
        {
            "HIS_FACE_PROVIDER": "tencent",
            "HIS_FACE_SECRET_ID": SECRET_ID,
            "HIS_FACE_SECRET_KEY": SECRET_KEY,
            "HIS_FACE_RULE_ID": RULE_ID,
            "HIS_FACE_REGION": "ap-shanghai",
        }
    )
    built = make_face_provider(settings.face_provider, **dict(settings.face_config))
    assert built == TencentFaceIdProvider(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        rule_id=RULE_ID,
        endpoint="https://faceid.tencentcloudapi.com",
        region="ap-shanghai",
        timeout=10.0,
    )


def test_factory_timeout_from_text():
    built = make_face_provider(
        "tencent",
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        rule_id=RULE_ID,
        timeout="3.5",
    )
    assert isinstance(built, TencentFaceIdProvider)
    assert built.timeout == 3.5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {},
            "腾讯云人脸核身缺少配置：HIS_FACE_SECRET_ID、HIS_FACE_SECRET_KEY、"
            "HIS_FACE_RULE_ID",
        ),
        (
            {"secret_id": SECRET_ID},
            "腾讯云人脸核身缺少配置：HIS_FACE_SECRET_KEY、HIS_FACE_RULE_ID",
        ),
        (
            {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            "腾讯云人脸核身缺少配置：HIS_FACE_RULE_ID",
        ),
    ],
)
def test_factory_missing_config_is_one_clear_line(config, message):
    with pytest.raises(FaceConfigError) as caught:
        make_face_provider("tencent", **config)
    assert str(caught.value) == caught.value.message == message
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("config", "pattern"),
    [
        ({"endpoint": "ftp://faceid.example"}, "HIS_FACE_ENDPOINT"),
        ({"endpoint": "https://faceid.example/?a=1"}, "不应带参数"),
        ({"timeout": 0}, "大于0秒"),
        ({"timeout": "soon"}, "秒数"),
        ({"app_id": "x"}, "配置项未知：app_id"),
    ],
)
def test_factory_bad_config(config, pattern):
    full = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "rule_id": RULE_ID}
    with pytest.raises(FaceConfigError, match=pattern):
        make_face_provider("tencent", **full | config)


def test_factory_unknown_kind():
    with pytest.raises(FaceConfigError) as caught:
        make_face_provider("wechat")
    assert (
        caught.value.message
        == "未知的人脸核身方式：'wechat'（应为 demo、tencent 或 none）"
    )


def test_credential_scope_uses_the_utc_date(tencent):
    # The adapter's date in the credential scope is the UTC one, which the fake
    # rejects otherwise: near midnight Beijing time the local date differs.
    begin(tencent)
    sent = FakeTencent.requests[-1]["headers"]
    timestamp = int(sent["X-TC-Timestamp"])
    utc_date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    assert f"/{utc_date}/faceid/tc3_request" in sent["Authorization"]
