"""Real-name verification (实名认证 三要素: 姓名 + 证件号码 + 手机号码).

A doctor's signing identity is only as good as this check, so a provider either
answers ``matched`` / not matched or raises :class:`IdentityProviderError`; it never
turns a failure into a fake match. Formats are validated locally first (with
:mod:`his_portal.services.identity.idcard`), which gives a precise message and saves a
billable call.

Wire format of :class:`HttpIdentityProvider` (ours to define; real vendors differ,
and an adapter per vendor follows the same shape)::

    POST <url>
    Content-Type: application/json; charset=utf-8
    X-Api-Key: <api_key>
    X-Signature: hex(HMAC-SHA256(api_secret, canonical))

    {"name": "郑程", "id_type": "resident", "id_number": "3101…", "mobile": "138…",
     "nonce": "<32 hex chars, unique per request>", "timestamp": <unix seconds>}

    canonical = "POST\\n<path>\\n<timestamp>\\n<nonce>\\n<sha256 hex of body bytes>"

``<path>`` is the request target exactly as sent (percent-encoded path plus
``?query`` if any); the body is compact UTF-8 JSON and is hashed byte for byte, so
the server must hash what it received, not a re-serialisation. The server rejects
bad keys or signatures with HTTP 401/403 and should reject stale timestamps and
reused nonces (replay). A 200 answer is::

    {"code": "0", "result": "match" | "mismatch", "detail": "...",
     "request_id": "<provider transaction id, kept in the audit log>"}

Any ``code`` other than ``"0"`` is a provider-side error (quota, bad request, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

import httpx

from his_portal.errors import ConfigError, HisError
from his_portal.services.identity.idcard import (
    IdNumberError,
    validate_id_number,
    validate_mobile,
)

__all__ = [
    "DEMO_MISMATCH_ID",
    "DEMO_REGISTRY",
    "DEMO_WANG_ID",
    "DEMO_ZHENG_ID",
    "DemoIdentityProvider",
    "HttpIdentityProvider",
    "IdentityProvider",
    "IdentityProviderError",
    "IdentityQuery",
    "IdentityResult",
    "make_identity_provider",
]

MATCHED_MESSAGE = "实名认证通过"
MISMATCH_MESSAGE = "姓名、证件号码与手机号码不一致，请核对后重试"

# Valid 居民身份证 numbers; check digits computed with idcard.resident_check_digit
# (GB 11643) and asserted in the tests. The 17th digit encodes sex (odd = male).
DEMO_ZHENG_ID = "310101198503120014"  # 郑程, 上海黄浦, 1985-03-12
DEMO_WANG_ID = "310104199002152222"  # 王莉, 上海徐汇, 1990-02-15
DEMO_MISMATCH_ID = "310105197806010032"  # 张伟: anyone else using it mismatches

#: Normalised ID number → (name, mobile) the demo "authority" has on file.
DEMO_REGISTRY: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        DEMO_ZHENG_ID: ("郑程", "13800138000"),
        DEMO_WANG_ID: ("王莉", "13800138001"),
        DEMO_MISMATCH_ID: ("张伟", "13900000000"),
    }
)


@dataclass(frozen=True, kw_only=True)
class IdentityQuery:
    """The three factors to verify, as typed by the doctor."""

    name: str
    id_type: str  # a key of idcard.ID_TYPES
    id_number: str
    mobile: str


@dataclass(frozen=True, kw_only=True)
class IdentityResult:
    """A provider's definite answer."""

    matched: bool
    provider: str  # "demo", "http", ...
    reference: str  # provider transaction id for the audit log; "" if none was made
    message: str  # Chinese, shown to the doctor


class IdentityProviderError(HisError):
    """The check could not be completed; ``message`` is Chinese for the doctor."""

    def __init__(self, message: str, *, reference: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference


class IdentityProvider(Protocol):
    """Anything that can run a 三要素 check."""

    name: str

    def check(self, query: IdentityQuery) -> IdentityResult:
        """Verify that name, ID number and mobile belong to one person."""
        ...


def _normalise(query: IdentityQuery, today: dt.date | None) -> IdentityQuery:
    """Return the query with validated, normalised fields.

    Raises:
        IdNumberError: A factor is empty or badly formatted.
    """
    name = " ".join((query.name or "").split())
    if not name:
        raise IdNumberError("请输入姓名")
    return replace(
        query,
        name=name,
        id_number=validate_id_number(query.id_type, query.id_number, today=today),
        mobile=validate_mobile(query.mobile),
    )


def _answer(
    provider: str, matched: bool, reference: str, message: str
) -> IdentityResult:
    return IdentityResult(
        matched=matched, provider=provider, reference=reference, message=message
    )


@dataclass(frozen=True, kw_only=True)
class DemoIdentityProvider:
    """Offline provider: format checks plus a tiny in-code registry.

    Registered IDs match only with their own name and mobile, so the mismatch path
    can be demonstrated; any other well-formed ID matches.
    """

    today: dt.date | None = None  # for birth-date checks; None = local date
    name: str = field(default="demo", init=False)

    def check(self, query: IdentityQuery) -> IdentityResult:
        """Verify the three factors against the demo registry.

        Args:
            query: The factors as typed.

        Returns:
            The result; never raises for bad input.
        """
        reference = f"demo-{uuid.uuid4().hex[:16]}"
        try:
            query = _normalise(query, self.today)
        except IdNumberError as exc:
            return _answer(self.name, False, "", exc.message)
        on_file = DEMO_REGISTRY.get(query.id_number)
        if on_file is None:
            return _answer(self.name, True, reference, MATCHED_MESSAGE)
        pairs = zip(
            ("姓名", "手机号码"), (query.name, query.mobile), on_file, strict=True
        )
        wrong = [label for label, given, expected in pairs if given != expected]
        if wrong:
            message = f"{'、'.join(wrong)}与证件登记信息不一致，请核对后重试"
            return _answer(self.name, False, reference, message)
        return _answer(self.name, True, reference, MATCHED_MESSAGE)


@dataclass(frozen=True, kw_only=True)
class HttpIdentityProvider:
    """Client of a 三要素 HTTP service speaking the wire format above."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)  # never in logs or tracebacks
    timeout: float = 5.0  # seconds, for connect and read alike
    name: str = field(default="http", init=False)

    def __post_init__(self) -> None:
        settings = {"URL": self.url, "KEY": self.api_key, "SECRET": self.api_secret}
        missing = [
            f"HIS_IDENTITY_{env}" for env, value in settings.items() if not value
        ]
        if missing:
            raise ConfigError(f"http 实名认证服务缺少配置：{'、'.join(missing)}")
        if httpx.URL(self.url).scheme not in ("http", "https"):
            raise ConfigError("实名认证服务地址应以 http:// 或 https:// 开头")
        if self.timeout <= 0:
            raise ConfigError("实名认证服务超时时间应大于0秒")

    def check(self, query: IdentityQuery) -> IdentityResult:
        """Send the query to the service and interpret its answer.

        Args:
            query: The factors as typed; badly formatted ones are rejected locally.

        Returns:
            The provider's match / mismatch answer.

        Raises:
            IdentityProviderError: The service could not give a definite answer.
        """
        try:
            query = _normalise(query, None)
        except IdNumberError as exc:
            return _answer(self.name, False, "", exc.message)
        response = self._post(query)
        status = response.status_code
        if status in (401, 403):
            raise IdentityProviderError("认证服务拒绝了请求（密钥无效），请联系管理员")
        if status >= 500:
            raise IdentityProviderError("认证服务暂时不可用，请稍后重试")
        if status != 200:
            raise IdentityProviderError(f"认证服务返回了异常状态（HTTP {status}）")
        return self._interpret(response)

    def _post(self, query: IdentityQuery) -> httpx.Response:
        url = httpx.URL(self.url)
        timestamp = int(time.time())
        nonce = secrets.token_hex(16)
        payload = {
            "name": query.name,
            "id_type": query.id_type,
            "id_number": query.id_number,
            "mobile": query.mobile,
            "nonce": nonce,
            "timestamp": timestamp,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        path, digest = url.raw_path.decode("ascii"), hashlib.sha256(body).hexdigest()
        canonical = f"POST\n{path}\n{timestamp}\n{nonce}\n{digest}"
        signature = hmac.new(
            self.api_secret.encode(), canonical.encode(), hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Api-Key": self.api_key,
            "X-Signature": signature,
        }
        try:
            # A redirect would re-send personal data to a host nobody configured.
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                return client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise IdentityProviderError("认证服务响应超时，请稍后重试") from exc
        except httpx.ConnectError as exc:
            raise IdentityProviderError(
                "无法连接认证服务，请检查网络或稍后重试"
            ) from exc
        except httpx.HTTPError as exc:
            raise IdentityProviderError("与认证服务通信失败，请稍后重试") from exc

    def _interpret(self, response: httpx.Response) -> IdentityResult:
        unrecognised = IdentityProviderError("认证服务返回了无法识别的结果")
        try:
            data = response.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise unrecognised from exc
        if not isinstance(data, dict):
            raise unrecognised
        reference = str(data.get("request_id") or "")
        code = str(data.get("code", ""))
        if code != "0":
            # Truncated: the detail is the vendor's text, shown to the doctor as is.
            detail = str(data.get("detail") or "未知错误")[:100]
            raise IdentityProviderError(
                f"认证服务返回错误：{detail}（代码 {code or '无'}）",
                reference=reference,
            )
        result = data.get("result")
        # Without a transaction id the signature's audit trail would have a hole.
        if result not in ("match", "mismatch") or not reference:
            raise unrecognised
        matched = result == "match"
        message = MATCHED_MESSAGE if matched else MISMATCH_MESSAGE
        return _answer(self.name, matched, reference, message)


def make_identity_provider(
    kind: str,
    *,
    url: str = "",
    api_key: str = "",
    api_secret: str = "",
    timeout: float = 5.0,
) -> IdentityProvider:
    """Build the provider named by settings.

    Args:
        kind: ``"demo"`` (offline) or ``"http"``.
        url: The HTTP service endpoint (``http`` only).
        api_key: Its API key (``http`` only).
        api_secret: Its request-signing secret (``http`` only).
        timeout: Seconds to wait for the HTTP service.

    Returns:
        The provider.

    Raises:
        ValueError: Unknown kind, or ``http`` without url, key and secret.
    """
    if kind == "demo":
        return DemoIdentityProvider()
    if kind == "http":
        return HttpIdentityProvider(
            url=url, api_key=api_key, api_secret=api_secret, timeout=timeout
        )
    raise ConfigError(f"未知的实名认证方式：{kind!r}（应为 demo 或 http）")
