"""Security headers on every response of the app, as a pure ASGI middleware.

Reflex 0.10 mounts its whole backend (the pages and static files that the single-port
production server serves, the event websocket, uploads, ping) inside the Starlette
app given as ``api_transformer``, ``his_portal.api.api``, which carries this
middleware: it sees every HTTP request and websocket handshake. Only what Reflex's
outer app answers by itself (CORS preflights, its last-resort 500 page) passes by.
The headers given to a websocket handshake (``websocket.accept``) reach the browser
under servers that send them (uvicorn); granian, Reflex's production server, drops
them, which costs nothing: no browser applies these headers to a websocket.

The policy (``content_security_policy``):

* ``script-src 'self' 'unsafe-inline' 'unsafe-eval'``: the prerendered pages carry
  inline scripts (React Router's hydration data and module loader), and the toasts
  and ``call_script`` events the backend sends reach the browser as code that
  Reflex's ``state.js`` runs with ``eval``. Without them the app does not start or
  its messages fail. What the policy still buys: no script, style, font, image or
  connection from another origin, no plugins, no framing (clickjacking), no
  ``<base>`` or form retargeting.
* ``connect-src 'self'`` and the websocket origin of ``HIS_PUBLIC_URL``: the event
  websocket and uploads go to the page's own origin.
* ``img-src data: blob:``: seal previews and QR codes are data URLs.

A header the response already has is left as it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy", "security_headers"]


def _websocket_origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def content_security_policy(public_url: str) -> str:
    """The Content-Security-Policy for pages served at ``public_url``."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": f"'self' {_websocket_origin(public_url)}",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def security_headers(public_url: str) -> list[tuple[str, str]]:
    """Every header the middleware adds, for an app served at ``public_url``."""
    return [
        ("Content-Security-Policy", content_security_policy(public_url)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]


class SecurityHeaders:
    """Adds ``headers`` to each HTTP response and websocket handshake of ``app``."""

    def __init__(self, app: ASGIApp, *, headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in self.headers if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
