"""SMS gateways (短信) that deliver the 意愿校验 codes.

A provider only delivers; it writes nothing. The willingness service logs every
message it sends in ``SmsMessage`` (mobile, body, purpose, provider, provider_ref) in
the same transaction as the code's hash and the audit event. For
:class:`DemoSmsProvider` that log *is* the outbox: the demo-only page ``/dev/sms``
lists it, so the row keeps the full text. For any other provider the service logs the
text with the code masked (``******``), so the database never holds a usable code.

Chinese carriers only deliver pre-approved templates, so :meth:`SmsProvider.send`
takes both ``text`` (the rendered message the doctor reads; free-text gateways send
it) and ``params`` (the template variables; template gateways such as Aliyun send
only these, with their approved ``TemplateCode``).

:class:`AliyunSmsProvider` speaks Aliyun dysmsapi ``SendSms`` (API version
2017-05-25) with the RPC signature, version 1.0::

    canonical = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(params))
    string_to_sign = "POST&" + enc("/") + "&" + enc(canonical)
    Signature = base64(HMAC-SHA1(access_key_secret + "&", string_to_sign))

where ``enc`` is RFC 3986 percent-encoding of UTF-8 (only ``A-Z a-z 0-9 - _ . ~``
stay as they are; space is ``%20``). Parameters travel in a form-encoded POST body,
not the URL, so proxies do not log phone numbers. The answer is JSON
``{"Code": "OK", "BizId": ..., "RequestId": ...}``; any other ``Code`` is an error.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx

from his_portal.errors import ConfigError, HisError

__all__ = [
    "AliyunSmsProvider",
    "DemoSmsProvider",
    "SmsProvider",
    "SmsProviderError",
    "SmsReceipt",
    "aliyun_signature",
    "make_sms_provider",
]

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
MSG_BAD_KEY = "短信服务拒绝了请求（密钥无效），请联系管理员"
MSG_BAD_SETUP = "短信签名或模板配置有误，请联系管理员"
MSG_UNAVAILABLE = "短信服务暂时不可用，请稍后重试"
MSG_UNRECOGNISED = "短信服务返回了无法识别的结果"
#: Aliyun error codes worth their own message; others show the vendor's text.
ALIYUN_ERRORS: Mapping[str, str] = {
    "isv.BUSINESS_LIMIT_CONTROL": "短信发送过于频繁，请稍后再试",
    "isv.DAY_LIMIT_CONTROL": "今日短信发送次数已达上限，请明天再试",
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号码格式不正确",
    "isv.AMOUNT_NOT_ENOUGH": "短信账户余额不足，请联系管理员",
    "SignatureDoesNotMatch": MSG_BAD_KEY,
    "InvalidAccessKeyId.NotFound": MSG_BAD_KEY,
    "InvalidAccessKeyId.Inactive": MSG_BAD_KEY,
    "isv.SMS_SIGNATURE_ILLEGAL": MSG_BAD_SETUP,
    "isv.SMS_TEMPLATE_ILLEGAL": MSG_BAD_SETUP,
    "isv.TEMPLATE_MISSING_PARAMETERS": MSG_BAD_SETUP,
    "isp.SYSTEM_ERROR": MSG_UNAVAILABLE,
    "ServiceUnavailable": MSG_UNAVAILABLE,
}


@dataclass(frozen=True, kw_only=True)
class SmsReceipt:
    """A gateway accepted a message."""

    provider: str  # "demo", "aliyun", ...
    reference: str  # the gateway's id of the message (Aliyun BizId), for the log


class SmsProviderError(HisError):
    """The message was not accepted; ``message`` is Chinese for the doctor."""

    def __init__(self, message: str, *, reference: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference  # the gateway's request id, if it answered


class SmsProvider(Protocol):
    """Anything that can deliver a short text to a mobile number."""

    name: str

    def send(self, *, mobile: str, text: str, params: Mapping[str, str]) -> SmsReceipt:
        """Deliver one message.

        Args:
            mobile: The 11-digit mainland mobile number.
            text: The full message as the doctor reads it.
            params: Template variables (e.g. ``{"code": "123456"}``).

        Raises:
            SmsProviderError: The gateway did not accept the message.
        """
        ...


@dataclass(frozen=True, kw_only=True)
class DemoSmsProvider:
    """Offline provider: accepts everything; the service's log is the outbox."""

    name: str = field(default="demo", init=False)

    def send(self, *, mobile: str, text: str, params: Mapping[str, str]) -> SmsReceipt:
        """Accept the message without sending anything (see module docstring)."""
        return SmsReceipt(provider=self.name, reference=f"demo-{uuid.uuid4().hex[:16]}")


def _enc(value: str) -> str:
    return quote(value, safe="~")


def aliyun_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """The Aliyun RPC signature (version 1.0, HMAC-SHA1) of a parameter set.

    Args:
        method: The HTTP method, ``"GET"`` or ``"POST"``.
        params: Every request parameter except ``Signature``.
        secret: The AccessKey secret.

    Returns:
        The base64 signature (not yet percent-encoded).
    """
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{_enc('/')}&{_enc(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


@dataclass(frozen=True, kw_only=True)
class AliyunSmsProvider:
    """Client of Aliyun SMS ``SendSms`` (see the module docstring for the wire)."""

    # Empty defaults: a missing setting gets the clear message of __post_init__.
    access_key_id: str = ""
    access_key_secret: str = field(default="", repr=False)  # never in logs
    sign_name: str = ""  # the approved 短信签名, e.g. 牙医云
    template_code: str = ""  # the approved template with a ${code} variable
    endpoint: str = ALIYUN_ENDPOINT
    region_id: str = "cn-hangzhou"
    timeout: float = 5.0  # seconds, connect and read alike
    name: str = field(default="aliyun", init=False)

    def __post_init__(self) -> None:
        required = ("access_key_id", "access_key_secret", "sign_name", "template_code")
        missing = [key for key in required if not getattr(self, key)]
        if missing:
            raise ConfigError(f"阿里云短信缺少配置：{'、'.join(missing)}")
        if httpx.URL(self.endpoint).scheme not in ("http", "https"):
            raise ConfigError("短信服务地址应以 http:// 或 https:// 开头")
        if self.timeout <= 0:
            raise ConfigError("短信服务超时时间应大于0秒")

    def send(self, *, mobile: str, text: str, params: Mapping[str, str]) -> SmsReceipt:
        """Send the template with ``params`` to ``mobile``.

        Args:
            mobile: The receiving number.
            text: Unused: the gateway renders its approved template.
            params: The template variables, sent as ``TemplateParam`` JSON.

        Returns:
            The receipt; ``reference`` is Aliyun's ``BizId``.

        Raises:
            SmsProviderError: Timeout, connection failure, or a non-OK answer.
        """
        request = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": mobile,
            "RegionId": self.region_id,
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(
                dict(params), ensure_ascii=False, separators=(",", ":")
            ),
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        signature = aliyun_signature("POST", request, self.access_key_secret)
        fields = sorted([*request.items(), ("Signature", signature)])
        body = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            # A redirect would re-send the phone number to a host nobody configured.
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(self.endpoint, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise SmsProviderError("短信服务响应超时，请稍后重试") from exc
        except httpx.ConnectError as exc:
            raise SmsProviderError("无法连接短信服务，请检查网络或稍后重试") from exc
        except httpx.HTTPError as exc:
            raise SmsProviderError("与短信服务通信失败，请稍后重试") from exc
        return self._interpret(response)

    def _interpret(self, response: httpx.Response) -> SmsReceipt:
        try:
            data = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            data = None
        if not isinstance(data, dict) or not data.get("Code"):
            failed = response.status_code >= 500
            raise SmsProviderError(MSG_UNAVAILABLE if failed else MSG_UNRECOGNISED)
        code, reference = str(data["Code"]), str(data.get("RequestId") or "")
        if code == "OK" and response.status_code == 200:
            biz_id = str(data.get("BizId") or "")
            if not biz_id:  # without it no delivery report can be matched
                raise SmsProviderError(MSG_UNRECOGNISED, reference=reference)
            return SmsReceipt(provider=self.name, reference=biz_id)
        message = ALIYUN_ERRORS.get(code)
        if message is None:
            # Truncated: the vendor's text is shown to the doctor as is.
            detail = str(data.get("Message") or "未知错误")[:100]
            message = f"短信服务返回错误：{detail}（代码 {code}）"
        raise SmsProviderError(message, reference=reference)


def make_sms_provider(kind: str, **cfg: str | float) -> SmsProvider:
    """Build the provider named by settings.

    Args:
        kind: ``"demo"`` (offline, outbox page) or ``"aliyun"``.
        **cfg: :class:`AliyunSmsProvider` fields (``access_key_id``,
            ``access_key_secret``, ``sign_name``, ``template_code``, ``endpoint``,
            ``region_id``, ``timeout``); none for ``demo``.

    Raises:
        ValueError: Unknown kind, or ``aliyun`` with missing settings.
    """
    if kind == "demo":
        return DemoSmsProvider()
    if kind == "aliyun":
        return AliyunSmsProvider(**cfg)
    raise ConfigError(f"未知的短信服务：{kind!r}（应为 demo 或 aliyun）")
