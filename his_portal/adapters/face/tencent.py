"""Tencent Cloud FaceID (慧眼) H5: DetectAuth / GetDetectInfoEnhanced, signed with
TC3-HMAC-SHA256."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from his_portal.adapters.face.base import (
    MATCHED_MESSAGE,
    MAX_REF_LENGTH,
    MISMATCH_MESSAGE,
    OTHER_PERSON_MESSAGE,
    UNFINISHED_MESSAGE,
    FaceCheckError,
    FaceConfigError,
    FaceResult,
    FaceSession,
)

TENCENT_ENDPOINT = "https://faceid.tencentcloudapi.com"
TENCENT_SERVICE = "faceid"
TENCENT_VERSION = "2018-03-01"
TC3_ALGORITHM = "TC3-HMAC-SHA256"
TC3_CONTENT_TYPE = "application/json; charset=utf-8"
TC3_SIGNED_HEADERS = "content-type;host"

MSG_BAD_KEY = "人脸核身服务拒绝了请求（密钥无效），请联系管理员"
MSG_CLOCK = "服务器时间与人脸核身服务相差过大，请联系管理员"
MSG_NOT_ALLOWED = "人脸核身服务未开通或无权使用，请联系管理员"
MSG_EXPIRED = "人脸核验已过期或无效，请重新扫码"
MSG_BUSY = "人脸核身服务繁忙，请稍后重试"
MSG_UNAVAILABLE = "人脸核身服务暂时不可用，请稍后重试"
MSG_UNRECOGNISED = "人脸核身服务返回了无法识别的结果"
MSG_TIMEOUT = "人脸核身服务响应超时，请稍后重试"
MSG_CONNECT = "无法连接人脸核身服务，请检查网络或稍后重试"
MSG_TRANSPORT = "与人脸核身服务通信失败，请稍后重试"

#: Tencent error codes with their own message, most specific first; a code also
#: covers its sub-codes (``AuthFailure`` covers ``AuthFailure.SignatureFailure``).
#: Others show the vendor's text.
TENCENT_ERRORS: tuple[tuple[str, str], ...] = (
    ("AuthFailure.SignatureExpire", MSG_CLOCK),
    ("AuthFailure.UnauthorizedOperation", MSG_NOT_ALLOWED),
    ("AuthFailure", MSG_BAD_KEY),
    ("UnauthorizedOperation", MSG_NOT_ALLOWED),
    ("InvalidParameterValue.BizTokenExpired", MSG_EXPIRED),
    ("InvalidParameterValue.BizTokenIllegal", MSG_EXPIRED),
    ("RequestLimitExceeded", MSG_BUSY),
    ("InternalError", MSG_UNAVAILABLE),
    ("ServiceUnavailable", MSG_UNAVAILABLE),
)


def _hmac256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: bytes,
    timestamp: int,
    path: str = "/",
) -> str:
    """The ``Authorization`` header of a TC3-HMAC-SHA256 signed JSON ``POST``.

    Args:
        secret_id: The SecretId.
        secret_key: The SecretKey.
        service: The product, e.g. ``"faceid"`` (also in the credential scope).
        host: The ``Host`` header exactly as sent (with ``:port`` if not default).
        payload: The request body, byte for byte as sent.
        timestamp: Unix seconds, as sent in ``X-TC-Timestamp``.
        path: The canonical URI (``"/"`` for Tencent Cloud API endpoints).

    Returns:
        ``TC3-HMAC-SHA256 Credential=..., SignedHeaders=content-type;host,
        Signature=...``
    """
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            path,
            "",  # canonical query string
            f"content-type:{TC3_CONTENT_TYPE}\nhost:{host}\n",
            TC3_SIGNED_HEADERS,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            TC3_ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac256(f"TC3{secret_key}".encode(), date)
    key = _hmac256(key, service)
    key = _hmac256(key, "tc3_request")
    signature = hmac.new(
        key, string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={TC3_SIGNED_HEADERS}, Signature={signature}"
    )


def _tencent_error_message(code: str, detail: str) -> str:
    for known, message in TENCENT_ERRORS:
        if code == known or code.startswith(f"{known}."):
            return message
    # Truncated: the vendor's text is shown to the doctor as is.
    return f"人脸核身服务返回错误：{detail[:100] or '未知错误'}（代码 {code}）"


def _same_name(given: object, expected: str) -> bool:
    if not isinstance(given, str) or not expected.split():
        return False
    return given.split() == expected.split()


def _same_id_number(given: object, expected: str) -> bool:
    if not isinstance(given, str) or not expected.strip():
        return False
    return given.strip().upper() == expected.strip().upper()


def _is_web_url(url: object) -> bool:
    """Only a web page may be handed to the phone (not ``javascript:`` and such)."""
    if not isinstance(url, str):
        return False
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


@dataclass(frozen=True, kw_only=True)
class TencentFaceIdProvider:
    """Client of Tencent Cloud FaceID H5 (see the module docstring for the wire)."""

    # Empty defaults: a missing setting gets the clear message of __post_init__.
    secret_id: str = ""
    secret_key: str = field(default="", repr=False)  # never in logs
    rule_id: str = ""  # the 业务流程 created in the FaceID console
    endpoint: str = TENCENT_ENDPOINT
    region: str = "ap-guangzhou"
    timeout: float = 10.0  # seconds, connect and read alike
    name: str = field(default="tencent", init=False)
    demo: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        settings = {
            "SECRET_ID": self.secret_id,
            "SECRET_KEY": self.secret_key,
            "RULE_ID": self.rule_id,
        }
        missing = [f"HIS_FACE_{env}" for env, value in settings.items() if not value]
        if missing:
            raise FaceConfigError(f"腾讯云人脸核身缺少配置：{'、'.join(missing)}")
        url = httpx.URL(self.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise FaceConfigError(
                "人脸核身服务地址（HIS_FACE_ENDPOINT）应以 http:// 或 https:// 开头"
            )
        if url.query or url.fragment:
            raise FaceConfigError("人脸核身服务地址（HIS_FACE_ENDPOINT）不应带参数")
        if not self.timeout > 0:
            raise FaceConfigError("人脸核身服务超时时间应大于0秒")

    def begin(self, *, name: str, id_number: str, return_url: str) -> FaceSession:
        """Open a transaction with ``DetectAuth``.

        Args:
            name: The doctor's verified real name.
            id_number: The full ID number (sent to Tencent, never stored here).
            return_url: Where Tencent redirects the phone when it is done.

        Returns:
            ``ref`` is the BizToken, ``url`` Tencent's H5 page.

        Raises:
            FaceCheckError: Timeout, transport failure, error or unreadable answer.
        """
        answer = self._call(
            "DetectAuth",
            {
                "RuleId": self.rule_id,
                "IdCard": id_number,
                "Name": name,
                "RedirectUrl": return_url,
            },
        )
        reference = str(answer.get("RequestId") or "")
        biz_token, url = answer.get("BizToken"), answer.get("Url")
        valid_token = (
            isinstance(biz_token, str) and 0 < len(biz_token) <= MAX_REF_LENGTH
        )
        if not (valid_token and _is_web_url(url)):
            raise FaceCheckError(MSG_UNRECOGNISED, reference=reference)
        return FaceSession(ref=biz_token, url=url)

    def result(
        self, *, ref: str, name: str, id_number: str, evidence: str = ""
    ) -> FaceResult:
        """Fetch the outcome of ``ref`` with ``GetDetectInfoEnhanced``.

        Args:
            ref: The BizToken from :meth:`begin`.
            name: The doctor's verified real name; must equal ``Text.Name``.
            id_number: The doctor's full ID number; must equal ``Text.IdCard``.
            evidence: Ignored: only Tencent's own answer counts.

        Returns:
            Matched only for ``ErrCode == 0`` for this very person.

        Raises:
            FaceCheckError: Timeout, transport failure, error or unreadable answer.
        """
        answer = self._call(
            "GetDetectInfoEnhanced",
            {"BizToken": ref, "RuleId": self.rule_id, "InfoType": "0"},
        )
        text = answer.get("Text")
        if text is None:
            return FaceResult(
                matched=False, reference=ref, message=UNFINISHED_MESSAGE, finished=False
            )
        if not isinstance(text, dict):
            raise FaceCheckError(MSG_UNRECOGNISED, reference=answer["RequestId"])
        code = text.get("ErrCode")
        if code is None:
            return FaceResult(
                matched=False, reference=ref, message=UNFINISHED_MESSAGE, finished=False
            )
        # bool is an int in Python: ``False`` must not pass for ``0``.
        if isinstance(code, bool) or not isinstance(code, int | str):
            raise FaceCheckError(MSG_UNRECOGNISED, reference=answer["RequestId"])
        if str(code).strip() != "0":
            reason = str(text.get("ErrMsg") or "").strip()[:100]
            message = (
                f"{MISMATCH_MESSAGE}：{reason}"
                if reason
                else f"{MISMATCH_MESSAGE}（代码 {code}）"
            )
            return FaceResult(matched=False, reference=ref, message=message)
        if not (
            _same_id_number(text.get("IdCard"), id_number)
            and _same_name(text.get("Name"), name)
        ):
            return FaceResult(
                matched=False, reference=ref, message=OTHER_PERSON_MESSAGE
            )
        return FaceResult(matched=True, reference=ref, message=MATCHED_MESSAGE)

    def _call(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST one signed action; returns ``Response`` without an ``Error``."""
        url = httpx.URL(self.endpoint)
        host = url.netloc.decode("ascii")  # what httpx sends as Host
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                service=TENCENT_SERVICE,
                host=host,
                payload=body,
                timestamp=timestamp,
                path=url.raw_path.decode("ascii") or "/",
            ),
            "Content-Type": TC3_CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": TENCENT_VERSION,
            "X-TC-Language": "zh-CN",
        }
        if self.region:
            headers["X-TC-Region"] = self.region
        try:
            # A redirect would re-send the ID number to a host nobody configured.
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise FaceCheckError(MSG_TIMEOUT) from exc
        except httpx.ConnectError as exc:
            raise FaceCheckError(MSG_CONNECT) from exc
        except httpx.HTTPError as exc:
            raise FaceCheckError(MSG_TRANSPORT) from exc
        return self._interpret(response)

    @staticmethod
    def _interpret(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            data = None
        answer = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            failed = response.status_code >= 500
            raise FaceCheckError(MSG_UNAVAILABLE if failed else MSG_UNRECOGNISED)
        reference = str(answer.get("RequestId") or "")
        error = answer.get("Error")
        if error is not None:
            if not isinstance(error, dict) or not error.get("Code"):
                raise FaceCheckError(MSG_UNRECOGNISED, reference=reference)
            message = _tencent_error_message(
                str(error["Code"]), str(error.get("Message") or "")
            )
            raise FaceCheckError(message, reference=reference)
        if response.status_code != 200:
            failed = response.status_code >= 500
            raise FaceCheckError(
                MSG_UNAVAILABLE if failed else MSG_UNRECOGNISED, reference=reference
            )
        # Every Tencent answer carries one; without it the audit trail has a hole.
        if not reference:
            raise FaceCheckError(MSG_UNRECOGNISED)
        answer["RequestId"] = reference
        return answer
