"""Reflex's upload endpoint (``/_upload``) takes the name of the handler to run from a
request header, and answers a 500 for any handler that does not take files. Only the
app's upload handlers may be named: anything else is a 400 before Reflex sees it.

The public 验证 upload (anyone, no login) is also limited here, before Reflex reads
the body: it must declare its length (411 otherwise), at most the PDF limit plus
the multipart framing (413 over it), and one address gets at most
:data:`~his_portal.services.signing.public_limits.UPLOADS_PER_WINDOW` checks per
window (429 over it). The body is still counted as it arrives, in case a server
in front passes more than was declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from reflex.config import get_config
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from his_portal.services.signing.public_limits import (
    RATE_LIMITED,
    SlidingWindow,
    upload_limiter,
)
from his_portal.services.signing.verification import MAX_PDF_BYTES, TOO_LARGE
from his_portal.states.seals import SealState
from his_portal.states.verify import VerifyState

UPLOAD_PATH = "/_upload"
HANDLER_HEADER = b"reflex-event-handler"
#: Boundaries and part headers around the file (and the empty args field).
MULTIPART_ALLOWANCE = 64 * 1024


@dataclass(frozen=True)
class UploadPolicy:
    """What one upload handler accepts at the door."""

    max_body: int | None = None
    """Bytes of request body at most (declared and received); None: no limit here
    (the handler limits what it reads)."""
    limiter: SlidingWindow | None = None
    """Uploads per client address; None: not limited here."""


@cache
def app_upload_policies() -> dict[str, UploadPolicy]:
    """The event handlers that receive uploaded files, by full name."""
    return {
        SealState.get_full_name() + ".handle_upload": UploadPolicy(),
        VerifyState.get_full_name() + ".handle_upload": UploadPolicy(
            max_body=MAX_PDF_BYTES + MULTIPART_ALLOWANCE, limiter=upload_limiter
        ),
    }


def app_upload_handlers() -> frozenset[str]:
    """Full names of the event handlers that receive uploaded files."""
    return frozenset(app_upload_policies())


def client_address(scope: Scope, headers: Mapping[bytes, bytes]) -> str:
    """The caller's address as Reflex resolves it (X-Forwarded-For only through the
    configured number of trusted proxies)."""
    client = scope.get("client") or ("", 0)
    hops = get_config().trusted_proxy_hops
    if hops:
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        chain = [ip.strip() for ip in forwarded.split(",") if ip.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return str(client[0])


def _declared_length(headers: Mapping[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length", b"").decode("latin-1").strip()
    return int(raw) if raw.isdigit() else None


def _counting(receive: Receive, limit: int) -> Receive:
    """``receive`` that ends the body (as a disconnect) once it passes ``limit``."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return wrapped


class UploadGuard:
    """Refuses uploads addressed to a handler that is not an upload handler, and
    uploads over their handler's size or rate limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: Callable[[], Mapping[str, UploadPolicy]] = app_upload_policies,
    ) -> None:
        self.app = app
        self.policies = policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == UPLOAD_PATH:
            headers = dict(scope.get("headers") or [])
            name = headers.get(HANDLER_HEADER, b"").decode("latin-1")
            policy = self.policies().get(name)
            refusal = self._refusal(policy, scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            if policy.max_body is not None:
                receive = _counting(receive, policy.max_body)
        await self.app(scope, receive, send)

    @staticmethod
    def _refusal(
        policy: UploadPolicy | None, scope: Scope, headers: Mapping[bytes, bytes]
    ) -> PlainTextResponse | None:
        if policy is None:
            return PlainTextResponse("不支持的上传", status_code=400)
        if policy.max_body is not None:
            length = _declared_length(headers)
            if length is None:
                return PlainTextResponse("上传须注明文件大小", status_code=411)
            if length > policy.max_body:
                return PlainTextResponse(TOO_LARGE, status_code=413)
        if policy.limiter is not None and not policy.limiter.allow(
            client_address(scope, headers)
        ):
            return PlainTextResponse(RATE_LIMITED, status_code=429)
        return None
