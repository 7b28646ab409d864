"""Only the app's upload handlers may be named on /_upload; the public 验证 upload
is limited in size and per address before its body is read."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from his_portal.services.signing.public_limits import RATE_LIMITED, SlidingWindow
from his_portal.upload_guard import (
    UploadGuard,
    UploadPolicy,
    app_upload_handlers,
    app_upload_policies,
)

UPLOAD = "reflex___state____state.x.seal_state.handle_upload"
VERIFY = "reflex___state____state.x.verify_state.handle_upload"
LIMIT = 1000


def _guard(received: list[int] | None = None, per_address: int = 3) -> UploadGuard:
    async def upload(request: Request) -> PlainTextResponse:
        body = b""
        async for chunk in request.stream():
            body += chunk
        if received is not None:
            received.append(len(body))
        return PlainTextResponse("ok")

    inner = Starlette(
        routes=[
            Route("/_upload", upload, methods=["POST"]),
            Route("/other", lambda _r: PlainTextResponse("other"), methods=["POST"]),
        ]
    )
    policies = {
        UPLOAD: UploadPolicy(),
        VERIFY: UploadPolicy(
            max_body=LIMIT, limiter=SlidingWindow(per_address, window=600)
        ),
    }
    return UploadGuard(inner, policies=lambda: policies)


def _client(received: list[int] | None = None, per_address: int = 3) -> TestClient:
    return TestClient(_guard(received, per_address))


def test_uploads_to_other_handlers_are_a_400():
    client = _client()
    for name in ("", "reflex___state____state.x.sign_flow_state.run_batch", "x" * 500):
        response = client.post("/_upload", headers={"reflex-event-handler": name})
        assert (response.status_code, response.text) == (400, "不支持的上传")
    ok = client.post("/_upload", headers={"reflex-event-handler": UPLOAD})
    assert ok.text == "ok"
    assert client.post("/other").text == "other"


def test_the_verify_upload_is_refused_over_the_size_limit_unread():
    received: list[int] = []
    client = _client(received)
    headers = {"reflex-event-handler": VERIFY}
    big = client.post("/_upload", headers=headers, content=b"x" * (LIMIT + 1))
    assert (big.status_code, big.text) == (413, "文件超过20MB，无法验证")
    assert received == []  # refused before the handler read anything
    fits = client.post("/_upload", headers=headers, content=b"x" * LIMIT)
    assert fits.text == "ok" and received == [LIMIT]


def test_the_verify_upload_must_declare_its_length():
    received: list[int] = []
    client = _client(received)

    def chunks():
        yield b"x" * 10

    response = client.post(
        "/_upload", headers={"reflex-event-handler": VERIFY}, content=chunks()
    )
    assert (response.status_code, response.text) == (411, "上传须注明文件大小")
    assert received == []


def test_a_body_longer_than_declared_is_cut_at_the_limit():
    """A server in front could pass more than the declared length: the handler sees
    the body end (a disconnect) once it passes the limit."""
    seen: list[dict] = []

    async def inner(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    parts = [
        {"type": "http.request", "body": b"x" * 600, "more_body": True},
        {"type": "http.request", "body": b"x" * 600, "more_body": True},
        {"type": "http.request", "body": b"x" * 600, "more_body": False},
    ]

    async def receive():
        return parts.pop(0)

    async def send(message):
        raise AssertionError("the guard itself answers nothing here")

    guard = UploadGuard(inner, policies=lambda: {VERIFY: UploadPolicy(max_body=LIMIT)})
    headers = [(b"reflex-event-handler", VERIFY.encode()), (b"content-length", b"10")]
    scope = {"type": "http", "path": "/_upload", "headers": headers}
    asyncio.run(guard(scope, receive, send))
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]
    assert len(parts) == 1  # the rest of the body was never read


def test_each_address_gets_a_limited_number_of_verify_uploads():
    guard = _guard(per_address=3)
    client = TestClient(guard, client=("10.0.0.1", 1000))
    headers = {"reflex-event-handler": VERIFY}
    answers = [
        client.post("/_upload", headers=headers, content=b"%PDF-").status_code
        for _ in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    refused = client.post("/_upload", headers=headers, content=b"%PDF-")
    assert refused.text == RATE_LIMITED
    # Other handlers and other addresses are not affected.
    seal = client.post("/_upload", headers={"reflex-event-handler": UPLOAD})
    assert seal.text == "ok"
    other = TestClient(guard, client=("10.0.0.2", 1000))
    assert other.post("/_upload", headers=headers, content=b"x").status_code == 200


def test_sliding_window_forgets_old_events_and_addresses():
    now = [0.0]
    window = SlidingWindow(2, window=10, clock=lambda: now[0], max_keys=2)
    assert window.allow("a") and window.allow("a") and not window.allow("a")
    now[0] = 10.5
    assert window.allow("a")  # the first two are out of the window
    assert window.allow("b") and window.allow("c")  # "a" is forgotten
    assert len(window._events) == 2 and "a" not in window._events


def test_the_app_has_the_seal_and_the_verify_upload_handlers():
    names = sorted(app_upload_handlers())
    assert [name.rsplit("____", 1)[-1] for name in names] == [
        "seal_state.handle_upload",
        "verify_state.handle_upload",
    ]
    policies = app_upload_policies()
    (verify,) = [
        p for n, p in policies.items() if n.endswith("verify_state.handle_upload")
    ]
    assert verify.max_body is not None and verify.max_body < 21 * 1024 * 1024
    assert verify.limiter is not None
