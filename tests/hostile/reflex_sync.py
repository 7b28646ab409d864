"""The synchronous face of the websocket client, for tests that run no asyncio loop
of their own (or run one already: Playwright's sync API)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from tests.hostile.reflex_protocol import CallResult
from tests.hostile.reflex_ws import AsyncReflexClient

__all__ = ["ReflexClient"]


class _LoopThread:
    """One asyncio loop in a daemon thread, shared by the sync clients: the calling
    thread may already run a loop of its own (Playwright's sync API does)."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or not cls._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="reflex-ws", daemon=True).start()
                ready.wait(10)
                cls._loop = loop
            return cls._loop


class ReflexClient:
    """The synchronous face of :class:`AsyncReflexClient` (its own loop thread).

    ``call(name, **payload)`` returns the list of update messages; ``call_result``
    returns the whole :class:`CallResult` (timing, timeouts, disconnects).
    """

    def __init__(self, base_url: str, **options: Any) -> None:
        self._loop = _LoopThread.loop()
        self.aio = self._run(self._make(base_url, options))

    @staticmethod
    async def _make(base_url: str, options: dict[str, Any]) -> AsyncReflexClient:
        return AsyncReflexClient(base_url, **options)

    def _run(self, coro, timeout: float | None = None):
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    # The state mirror and the tokens.
    @property
    def state(self) -> dict[str, dict[str, Any]]:
        return self.aio.state

    @property
    def session_token(self) -> str:
        return self.aio.session_token

    @property
    def client_token(self) -> str:
        return self.aio.client_token

    @property
    def unsolicited(self) -> list[dict[str, Any]]:
        return self.aio.unsolicited

    def var(self, state: str, name: str, default: Any = None) -> Any:
        return self.aio.var(state, name, default)

    def connect(self, path: str | None = None) -> CallResult:
        return self._run(self.aio.connect(path))

    def login(self, login_id: str, password: str) -> str:
        return self._run(self.aio.login(login_id, password))

    def use_session(self, token: str, path: str = "/login") -> CallResult:
        return self._run(self.aio.use_session(token, path))

    def call(self, event_name: str, _path: str | None = None, **payload: Any):
        """Call ``event_name`` (full name) with keyword arguments; the updates."""
        return self.call_result(event_name, payload, path=_path).updates

    def call_result(
        self,
        event_name: str,
        payload: dict[str, Any] | Any = None,
        *,
        path: str | None = None,
        settle: float = 0.0,
        timeout: float | None = None,
    ) -> CallResult:
        return self._run(
            self.aio.call(
                event_name, payload, path=path, settle=settle, timeout=timeout
            )
        )

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        return self._run(self.aio.drain(seconds))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.aio.close(), timeout=15)
