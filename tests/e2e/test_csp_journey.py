"""The portal under its content security policy, the security headers on pages,
assets and API routes, and the event websocket's origin check, in Chromium."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from his_portal.adapters.identity_check import DEMO_WANG_ID
from tests.e2e.test_auth_journeys import login

pytestmark = pytest.mark.e2e

expect.set_options(timeout=15_000)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def handshake_status(base: str, origin: str) -> str:
    """Open the event websocket by hand from ``origin``: the status line."""
    parts = urlsplit(base)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def test_security_headers_and_the_app_under_its_policy(page: Page, app_url: str):
    """The app works under its CSP (bundle, inline scripts, websocket, a toast that
    Reflex runs with eval); pages, assets and API routes carry the headers; another
    origin's websocket is refused."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    # 王莉: the other journeys rely on 郑程's profile being as they left it.
    login(page, "sh-wangli@8112", "/workbench")
    page.get_by_role("link", name="个人中心").click()
    page.get_by_label("* 证件号码:").fill(DEMO_WANG_ID)
    page.get_by_label("* 联系手机:").fill("13800138001")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("[data-sonner-toast]").first).to_contain_text("已保存")
    assert refused == []

    bundle = page.evaluate(
        "[...document.querySelectorAll('script[src], link[rel=modulepreload]')]"
        ".map(e => e.src || e.href).find(u => u.includes('/assets/'))"
    )
    assert bundle, "no bundle script on the page"
    csp = None
    for url in ("/login", "/logo.svg", bundle, "/pki/crl"):
        response = page.request.get(url)
        assert response.ok, (url, response.status)
        headers = response.headers
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name) == value, (url, name, headers.get(name))
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
    assert f"connect-src 'self' ws://{urlsplit(app_url).netloc}" in csp

    # CORS: the event websocket admits the public URL's origin only. (The headers
    # the middleware gives its handshake are dropped by granian.)
    assert " 101 " in handshake_status(app_url, app_url)
    assert " 101 " not in handshake_status(app_url, "http://evil.example")
