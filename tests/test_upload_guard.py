"""Only the app's upload handlers may be named on /_upload."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from his_portal.upload_guard import UploadGuard, app_upload_handlers

UPLOAD = "reflex___state____state.x.seal_state.handle_upload"


def _client() -> TestClient:
    inner = Starlette(
        routes=[
            Route("/_upload", lambda _r: PlainTextResponse("ok"), methods=["POST"]),
            Route("/other", lambda _r: PlainTextResponse("other"), methods=["POST"]),
        ]
    )
    return TestClient(UploadGuard(inner, allowed=lambda: frozenset({UPLOAD})))


def test_uploads_to_other_handlers_are_a_400():
    client = _client()
    for name in ("", "reflex___state____state.x.sign_flow_state.run_batch", "x" * 500):
        response = client.post("/_upload", headers={"reflex-event-handler": name})
        assert (response.status_code, response.text) == (400, "不支持的上传")
    ok = client.post("/_upload", headers={"reflex-event-handler": UPLOAD})
    assert ok.text == "ok"
    assert client.post("/other").text == "other"


def test_the_app_has_exactly_the_seal_upload_handler():
    (name,) = app_upload_handlers()
    assert name.endswith("___states___seals____seal_state.handle_upload")
