"""Per-address limits for the public 验证 pages: checking a PDF costs tens of
milliseconds of CPU (more for a large file), so nobody may use the page to keep the
server busy.

The counters live in the process: with several workers each keeps its own, so an
address gets at most ``limit × workers`` checks per window. That bounds the CPU an
address can take, which is the point; nothing here is stored.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = [
    "LOOKUPS_PER_WINDOW",
    "UPLOADS_PER_WINDOW",
    "WINDOW_SECONDS",
    "SlidingWindow",
    "lookup_limiter",
    "upload_limiter",
]

#: Uploaded PDFs one address may have checked per window.
UPLOADS_PER_WINDOW = 20
#: /verify/<id> pages one address may open per window.
LOOKUPS_PER_WINDOW = 60
WINDOW_SECONDS = 600
#: Addresses remembered at most; the least recently seen are forgotten first.
MAX_ADDRESSES = 10_000
RATE_LIMITED = "验证过于频繁，请10分钟后再试"


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_ADDRESSES,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) over the limit."""
        now = self.clock()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            allowed = len(events) < self.limit
            if allowed:
                events.append(now)
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return allowed

    def reset(self) -> None:
        """Forget every key (tests)."""
        with self._lock:
            self._events.clear()


upload_limiter = SlidingWindow(UPLOADS_PER_WINDOW, WINDOW_SECONDS)
lookup_limiter = SlidingWindow(LOOKUPS_PER_WINDOW, WINDOW_SECONDS)
