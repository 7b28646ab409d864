"""A local fake of Tencent FaceID that checks TC3 signatures as Tencent does, and
the helpers the Tencent FaceID tests (and the e2e fakes) build on (tests only)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from typing import Any, ClassVar

from his_portal.adapters.face import FaceResult, FaceSession, TencentFaceIdProvider
from tests.fake_server import FakeHandler

SECRET_ID = "AKIDtestFaceSecretId"
SECRET_KEY = "test-face-secret-key"
RULE_ID = "7"
RETURN_URL = "https://his.example/confirm/tok123?x=1"
ZHENG = ("郑程", "310101198503120014")
WANG = ("王莉", "310104199002152222")
WITH_X = ("李华", "11010519491231002X")

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

    # "slow" answers only once a test sets this (the bound only ends a stuck run).
    hold: ClassVar[threading.Event] = threading.Event()

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
            self.hold.wait(timeout=30)
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
