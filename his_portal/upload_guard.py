"""Reflex's upload endpoint (``/_upload``) takes the name of the handler to run from a
request header, and answers a 500 for any handler that does not take files. Only the
app's upload handlers may be named: anything else is a 400 before Reflex sees it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from his_portal.states.seals import SealState

UPLOAD_PATH = "/_upload"
HANDLER_HEADER = b"reflex-event-handler"


@cache
def app_upload_handlers() -> frozenset[str]:
    """Full names of the event handlers that receive uploaded files."""
    return frozenset({SealState.get_full_name() + ".handle_upload"})


class UploadGuard:
    """Refuses uploads addressed to a handler that is not an upload handler."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed: Callable[[], frozenset[str]] = app_upload_handlers,
    ) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == UPLOAD_PATH:
            headers = dict(scope.get("headers") or [])
            name = headers.get(HANDLER_HEADER, b"").decode("latin-1")
            if name not in self.allowed():
                response = PlainTextResponse("不支持的上传", status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
