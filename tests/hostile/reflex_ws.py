"""A small client that speaks Reflex 0.10's websocket protocol, as the browser does
(the protocol: :mod:`tests.hostile.reflex_protocol`).

No pytest, no app import: ``make bench`` and the hostile tests both use it; the
synchronous face is :class:`tests.hostile.reflex_sync.ReflexClient`.

Usage (through the synchronous face)::

    client = ReflexClient("http://127.0.0.1:3000")
    client.connect()
    client.login("sh-wangli@8112", "Demo@2026")
    updates = client.call(WORKBENCH + ".set_tab", value="signed")
    client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from typing import Any

import socketio

from tests.hostile.reflex_protocol import (
    AUTH_STATE,
    FIELD_SUFFIX,
    HYDRATE_AND_LOAD,
    LOGIN_STATE,
    LOGIN_SUBMIT,
    NAMESPACE,
    ROOT_STATE,
    SENTINEL,
    SENTINEL_QUERY,
    TOKEN_VAR,
    CallResult,
    ReflexError,
    strip_suffix,
)

__all__ = ["AsyncReflexClient"]

_MISSING = object()


class AsyncReflexClient:
    """One browser tab, as an asyncio object. See the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        client_token: str | None = None,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        path: str = "/login",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_token = client_token or str(uuid.uuid4())
        self.timeout = timeout
        # A browser sends the page's origin; the server may accept only its own.
        self.headers = {"Origin": self.base_url} | dict(headers or {})
        self.path = path
        # What the browser keeps in localStorage (sent again on every reconnect).
        self.local_storage: dict[str, str] = {}
        # The server-side state as the frontend would hold it: {state: {var: value}}.
        self.state: dict[str, dict[str, Any]] = {}
        # Messages that arrived outside any call (background handlers).
        self.unsolicited: list[dict[str, Any]] = []
        self.disconnects = 0  # times the server closed the connection
        self._sio: socketio.AsyncClient | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._nonces = itertools.count(1)
        self._connected = False

    # --- connection -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and self._sio is not None and self._sio.connected

    @property
    def session_token(self) -> str:
        """The login session token the server put into local storage ("" if none)."""
        return self.local_storage.get(AUTH_STATE + "." + TOKEN_VAR + FIELD_SUFFIX, "")

    def _router_data(self, path: str, query: dict[str, str] | None = None):
        from urllib.parse import urlencode

        search = "?" + urlencode(query) if query else ""
        data: dict[str, Any] = {"pathname": path, "asPath": path + search}
        if query:
            data["query"] = dict(query)
        return data

    async def connect(self, path: str | None = None) -> CallResult:
        """Open the websocket and hydrate ``path`` like a page load (its on_load
        handlers run); returns the hydration's messages."""
        if path is not None:
            self.path = path
        if self._sio is not None:
            await self._drop()
        self._inbox = asyncio.Queue()
        sio = socketio.AsyncClient(reconnection=False, request_timeout=self.timeout)

        async def on_event(data: Any) -> None:
            if isinstance(data, dict):
                self._inbox.put_nowait(data)

        async def on_new_token(token: Any) -> None:
            if isinstance(token, str) and token:
                self.client_token = token

        async def on_disconnect(*_args: Any) -> None:
            if self._connected:  # not our own close
                self.disconnects += 1
            self._connected = False

        sio.on("event", on_event, namespace=NAMESPACE)
        sio.on("new_token", on_new_token, namespace=NAMESPACE)
        sio.on("disconnect", on_disconnect, namespace=NAMESPACE)
        payload: dict[str, Any] = {}
        if self.local_storage:
            payload["vars"] = dict(self.local_storage)
        boot = {
            "name": HYDRATE_AND_LOAD,
            "payload": payload,
            "router_data": self._router_data(self.path),
        }
        await sio.connect(
            f"{self.base_url}?token={self.client_token}",
            headers=self.headers,
            auth={"event": boot},
            transports=["websocket"],
            namespaces=[NAMESPACE],
            socketio_path="/_event",
            wait_timeout=self.timeout,
        )
        self._sio = sio
        self._connected = True
        result = CallResult(HYDRATE_AND_LOAD, payload)
        await self._finish(result, time.monotonic(), self.path, settle=0.0)
        return result

    async def _drop(self) -> None:
        sio, self._sio = self._sio, None
        self._connected = False  # before the disconnect event: not counted
        if sio is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), 5)

    async def close(self) -> None:
        await self._drop()

    # --- events -----------------------------------------------------------------

    async def emit(self, name: str, payload: Any, path: str | None = None, **extra):
        """Send one raw event (no waiting). ``payload`` may be anything JSON: the
        hostile tests send non-dict payloads too."""
        if not self.connected:
            raise ReflexError("not connected")
        data = {
            "name": name,
            "payload": payload,
            "router_data": self._router_data(path or self.path, extra.get("query")),
        }
        await self._sio.emit("event", data, namespace=NAMESPACE)

    async def call(
        self,
        name: str,
        payload: dict[str, Any] | Any = None,
        *,
        path: str | None = None,
        settle: float = 0.0,
        timeout: float | None = None,
    ) -> CallResult:
        """Call a handler and collect everything it (and what it chains) sends back.

        ``settle``: seconds to keep listening before the sentinels, for background
        handlers. Reconnects first if the server dropped the connection.
        """
        payload = {} if payload is None else payload
        result = CallResult(name, payload if isinstance(payload, dict) else {})
        if not self.connected:
            await self.connect()
        self._take_unsolicited()
        started = time.monotonic()
        try:
            await self.emit(name, payload, path)
        except (ReflexError, socketio.exceptions.SocketIOError):
            result.disconnected = True
            return result
        await self._finish(result, started, path or self.path, settle, timeout)
        return result

    def _take_unsolicited(self) -> None:
        while self._inbox is not None and not self._inbox.empty():
            message = self._inbox.get_nowait()
            self._apply(message)
            self.unsolicited.append(message)

    async def _finish(
        self,
        result: CallResult,
        started: float,
        path: str,
        settle: float,
        timeout: float | None = None,
    ) -> None:
        deadline = started + (timeout or self.timeout) + settle
        if settle:
            end = time.monotonic() + settle
            while (left := end - time.monotonic()) > 0:
                message = await self._next(min(left, deadline - time.monotonic()))
                if message is not None:
                    self._record(result, message)
        rounds = 0
        while True:
            nonce = f"{id(self):x}.{next(self._nonces)}"
            try:
                await self.emit(
                    SENTINEL, {"value": True}, path, query={SENTINEL_QUERY: nonce}
                )
            except (ReflexError, socketio.exceptions.SocketIOError):
                result.disconnected = True
                break
            fresh = 0
            while True:
                left = deadline - time.monotonic()
                message = await self._next(left) if left > 0 else None
                if message is None:
                    result.timed_out = not self.connected or left <= 0
                    result.disconnected = not self.connected
                    result.elapsed = time.monotonic() - started
                    return
                rest, is_sentinel = self._split_sentinel(message, nonce)
                if rest is not None:
                    self._record(result, rest)
                    fresh += 1
                if is_sentinel:
                    break
            rounds += 1
            if (rounds >= 2 and not fresh) or rounds >= 8:
                break
        result.elapsed = time.monotonic() - started

    async def _next(self, seconds: float) -> dict[str, Any] | None:
        """The next message, or None after ``seconds`` or on a lost connection."""
        end = time.monotonic() + max(seconds, 0)
        while True:
            try:
                return await asyncio.wait_for(self._inbox.get(), 0.2)
            except TimeoutError:
                if not self.connected or time.monotonic() >= end:
                    return None

    def _split_sentinel(self, message: dict[str, Any], nonce: str):
        """(the message without the sentinel's own vars or None, is it the sentinel)."""
        delta = message.get("delta") or {}
        root = delta.get(ROOT_STATE) or {}
        url = root.get("rx_router_url" + FIELD_SUFFIX) or {}
        if not (
            isinstance(url, dict) and url.get("query") == f"{SENTINEL_QUERY}={nonce}"
        ):
            return message, False
        self._apply({"delta": {ROOT_STATE: root}})
        # The root state holds only Reflex's own vars (router, hydration, dynamic
        # route arguments such as ``qr``): the sentinel's answer, not the call's.
        rest_delta = {k: v for k, v in delta.items() if k != ROOT_STATE}
        if rest_delta or message.get("events"):
            rest = {"delta": rest_delta, "events": message.get("events") or []}
            return rest, True
        return None, True

    def _record(self, result: CallResult, message: dict[str, Any]) -> None:
        self._apply(message, result.changes)
        result.updates.append(message)

    def _apply(
        self, message: dict[str, Any], changes: list[tuple[str, str]] | None = None
    ) -> None:
        """Mirror a delta into ``state`` and local storage, as the frontend does."""
        for state, values in (message.get("delta") or {}).items():
            if not isinstance(values, dict):
                continue
            target = self.state.setdefault(state, {})
            for key, value in values.items():
                var = strip_suffix(key)
                if changes is not None and target.get(var, _MISSING) != value:
                    changes.append((state, var))
                target[var] = value
                if state == AUTH_STATE and strip_suffix(key) == TOKEN_VAR:
                    full = AUTH_STATE + "." + TOKEN_VAR + FIELD_SUFFIX
                    if value:
                        self.local_storage[full] = value
                    else:
                        self.local_storage.pop(full, None)

    def var(self, state: str, name: str, default: Any = None) -> Any:
        return self.state.get(state, {}).get(name, default)

    # --- login ------------------------------------------------------------------

    async def login(self, login_id: str, password: str) -> str:
        """Log in through the login form's handler; returns the session token."""
        if not self.connected:
            await self.connect("/login")
        result = await self.call(
            LOGIN_SUBMIT,
            {"form": {"login_id": login_id, "password": password}},
            path="/login",
        )
        if not self.session_token:
            error = self.var(LOGIN_STATE, "error", "")
            raise ReflexError(f"login as {login_id} refused: {error or result.updates}")
        return self.session_token

    async def use_session(self, token: str, path: str = "/login") -> CallResult:
        """Reconnect as a browser whose local storage holds ``token``."""
        self.local_storage[AUTH_STATE + "." + TOKEN_VAR + FIELD_SUFFIX] = token
        return await self.connect(path)

    async def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Listen ``seconds`` for unsolicited messages (background handlers)."""
        end = time.monotonic() + seconds
        got = []
        while (left := end - time.monotonic()) > 0:
            message = await self._next(left)
            if message is None:
                if not self.connected:
                    break
                continue
            self._apply(message)
            got.append(message)
        self.unsolicited.extend(got)
        return got
