"""The security-headers middleware, on a small app of its own (no Reflex)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from his_portal import api
from his_portal.security_headers import (
    SecurityHeaders,
    content_security_policy,
    security_headers,
)
from his_portal.settings import get_settings
from his_portal.upload_guard import UploadGuard

PUBLIC_URL = "https://his.example.cn"
EXPECTED = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "font-src 'self' data:; connect-src 'self' wss://his.example.cn; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def page(_request):
    return PlainTextResponse("ok")


def own_policy(_request):
    return PlainTextResponse(
        "ok", headers={"Content-Security-Policy": "default-src 'none'"}
    )


async def socket(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/own", own_policy),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[Middleware(SecurityHeaders, headers=security_headers(PUBLIC_URL))],
    )
    return TestClient(app)


def test_every_http_response_gets_the_headers():
    with client() as http:
        for path, status in (("/page", 200), ("/missing", 404)):
            response = http.get(path)
            assert response.status_code == status
            for name, value in EXPECTED.items():
                assert response.headers[name] == value, (path, name)
            assert response.headers.get_list("x-frame-options") == ["DENY"]


def test_a_header_the_response_sets_itself_is_kept():
    with client() as http:
        response = http.get("/own")
    assert response.headers.get_list("content-security-policy") == [
        "default-src 'none'"
    ]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_websocket_handshake_gets_the_headers_too():
    with client() as http, http.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hello"
        headers = {k.decode(): v.decode() for k, v in ws.extra_headers}
    assert headers == EXPECTED


def test_the_websocket_origin_follows_the_public_url():
    assert "connect-src 'self' ws://localhost:3000;" in content_security_policy(
        "http://localhost:3000"
    )
    assert "connect-src 'self' wss://his.example.cn;" in content_security_policy(
        PUBLIC_URL
    )


def test_the_apps_api_transformer_carries_the_middleware():
    """Reflex mounts the whole backend inside ``api.api``: its middleware wraps every
    page, asset, route and the websocket. (Inspected, not started: Reflex adds its
    CORS middleware to it later, which a started app would refuse.)"""
    middleware, guard = api.api.user_middleware
    assert guard.cls is UploadGuard  # inside the headers: its 400 carries them too
    assert middleware.cls is SecurityHeaders
    assert middleware.kwargs == {"headers": security_headers(get_settings().public_url)}
