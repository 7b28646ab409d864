"""RFC 3161 timestamps: the request/response wire format and where tokens come from.

A :class:`TimestampSource` turns a DER ``TimeStampReq`` into a DER
``TimeStampResp``. Two implementations exist:

* the clinic's built-in TSA,
  :class:`his_portal.services.pki.timestamp_authority.TimestampAuthority`,
  called in-process when signing (no HTTP round trip to ourselves) and served to
  others over HTTP by the app's ``/pki/tsa`` route;
* :class:`HttpTimestampSource`, a client of any RFC 3161 HTTP TSA (RFC 3161 §3.4:
  ``POST`` with ``Content-Type: application/timestamp-query``, answer
  ``application/timestamp-reply``), e.g. an accredited national time service.

:func:`build_request` and :func:`token_from_response` are the two ends the signer
needs: the second refuses any answer that is not a granted token for *this*
request (same message imprint, same nonce), so a TSA cannot hand us a token for
some other document.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from asn1crypto import algos, cms, core, tsp

from his_portal.errors import ConfigError, HisError

__all__ = [
    "REQUEST_CONTENT_TYPE",
    "RESPONSE_CONTENT_TYPE",
    "HttpTimestampSource",
    "TimeStampResp",
    "TimestampSource",
    "TsaProviderError",
    "build_request",
    "token_from_response",
]

REQUEST_CONTENT_TYPE = "application/timestamp-query"
RESPONSE_CONTENT_TYPE = "application/timestamp-reply"
_MAX_RESPONSE = 256 * 1024  # a token with a long chain is a few KB


class TimeStampResp(core.Sequence):
    """RFC 3161 ``TimeStampResp``. asn1crypto's ``tsp.TimeStampResp`` makes the
    token mandatory, so it can neither parse nor build a rejection (no token)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TsaProviderError(HisError):
    """No usable timestamp; ``message`` is Chinese for the doctor."""


class TimestampSource(Protocol):
    """Anything that answers RFC 3161 timestamp requests."""

    def timestamp(self, request_der: bytes) -> bytes:
        """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp``."""
        ...


def build_request(
    data: bytes, *, hash_algorithm: str = "sha256", cert_req: bool = True
) -> tuple[bytes, int]:
    """Build a ``TimeStampReq`` for ``data`` with a fresh 64-bit nonce.

    Args:
        data: What to timestamp (for a signature timestamp: the signature value).
        hash_algorithm: hashlib / asn1crypto name of the imprint's hash.
        cert_req: Ask the TSA to include its certificate in the token.

    Returns:
        The DER request and its nonce (to check the answer with).
    """
    nonce = secrets.randbits(64)
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_algorithm}),
                "hashed_message": hashlib.new(hash_algorithm, data).digest(),
            },
            "nonce": nonce,
            "cert_req": cert_req,
        }
    )
    return request.dump(), nonce


def token_from_response(response_der: bytes, *, request_der: bytes) -> cms.ContentInfo:
    """Check a ``TimeStampResp`` against its request and return the token.

    Only the binding to the request is checked here (status granted, same
    message imprint, same nonce); the token's signature and the TSA's
    certificate are checked by the validators (pyHanko).

    Raises:
        TsaProviderError: Not granted, unreadable, or not an answer to this request.
    """
    try:
        response = TimeStampResp.load(response_der)
        status = response["status"]["status"].native
        request = tsp.TimeStampReq.load(request_der)
        if status not in ("granted", "granted_with_mods"):
            texts = response["status"]["status_string"].native or []
            detail = "；".join(str(text) for text in texts)[:100]
            raise TsaProviderError(f"时间戳服务拒绝了请求：{detail or status}")
        token = response["time_stamp_token"]
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        imprint = tst_info["message_imprint"]
        wanted = request["message_imprint"]
    except TsaProviderError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise TsaProviderError("时间戳服务返回了无法识别的结果") from exc
    if imprint.dump() != wanted.dump():
        raise TsaProviderError("时间戳与签名不对应（消息摘要不一致）")
    if tst_info["nonce"].native != request["nonce"].native:
        raise TsaProviderError("时间戳与请求不对应（随机数不一致）")
    return token


@dataclass(frozen=True)
class HttpTimestampSource:
    """Client of an external RFC 3161 TSA over HTTP(S)."""

    url: str
    """The TSA endpoint, ``http://`` or ``https://``."""
    timeout: float = 10.0
    """Seconds, for connect and read alike."""
    username: str = ""
    """HTTP basic-auth user, for TSAs that bill per account; empty for none."""
    password: str = field(default="", repr=False)
    """HTTP basic-auth password (never in logs or tracebacks)."""

    def __post_init__(self) -> None:
        if httpx.URL(self.url).scheme not in ("http", "https"):
            raise ConfigError("时间戳服务地址应以 http:// 或 https:// 开头")
        if self.timeout <= 0:
            raise ConfigError("时间戳服务超时时间应大于0秒")

    def timestamp(self, request_der: bytes) -> bytes:
        """POST the request and return the raw DER answer.

        Raises:
            TsaProviderError: Network failure, HTTP error or a non-TSA answer.
        """
        auth = (self.username, self.password) if self.username else None
        headers = {"Content-Type": REQUEST_CONTENT_TYPE}
        try:
            # A redirect would send our request to a TSA nobody configured.
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(
                    self.url, content=request_der, headers=headers, auth=auth
                )
        except httpx.TimeoutException as exc:
            raise TsaProviderError("时间戳服务响应超时，请稍后重试") from exc
        except httpx.HTTPError as exc:
            raise TsaProviderError("无法连接时间戳服务，请稍后重试") from exc
        if response.status_code != 200:
            raise TsaProviderError(
                f"时间戳服务返回了异常状态（HTTP {response.status_code}）"
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != RESPONSE_CONTENT_TYPE or len(response.content) > (
            _MAX_RESPONSE
        ):
            raise TsaProviderError("时间戳服务返回了无法识别的结果")
        return response.content
