"""Reflex 0.10's websocket protocol as the browser speaks it: the names, the messages
and what a client makes of them. The client itself: :mod:`tests.hostile.reflex_ws`.

What the browser does (``reflex_base/.templates/web/utils/state.js`` and the compiled
``utils/context.jsx``), and what the client replays:

* Socket.IO over a plain websocket at ``/_event/`` (Engine.IO path), namespace
  ``/_event``, with ``?token=<client token>`` in the URL. The client token is a
  random id per browser tab (``sessionStorage["token"]``); it names the server-side
  state tree. The server may answer ``new_token`` (a duplicate tab): from then on the
  tab uses the new one.
* The boot event rides in the CONNECT packet (``auth={"event": ...}``):
  ``reflex___state____state.hydrate_and_load`` with ``payload.vars`` holding the
  browser-storage values, keyed by the fully qualified var name
  (``<state full name>.<var>_rx_state_``). Here that is the login session token,
  ``AuthState.token = rx.LocalStorage(name="his_session")``.
* Every event is ``emit("event", {"name": "<state full name>.<handler>", "payload":
  {<arg>: <value>}, "router_data": {"pathname", "asPath", "query"}})``. The server
  adds the connection's headers, client IP and session id itself.
* The server answers with ``"event"`` messages ``{"delta": {<state>: {<var>_rx_state_:
  value}}, "events": [frontend events: _redirect, _call_function (toasts),
  _download ...]}``. There is no "done" marker (``StateUpdate.final`` is gone), so
  ``call`` ends with sentinel events: events of one tab run one after another, so the
  answer to a sentinel sent after the call marks the end of the call's own output.
  A call may chain more events (``return OtherState.handler``); those are queued
  behind the first sentinel, so sentinels are repeated until one round brings
  nothing new. The sentinel is ``State.set_is_hydrated(True)`` with a unique query
  string in its router data, so its answer is recognisable (the router vars change).
  Background handlers run outside that order: ``call(..., _settle=seconds)`` waits
  for them a moment; anything arriving later lands in ``unsolicited``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_STATE",
    "FIELD_SUFFIX",
    "LOGIN_SUBMIT",
    "ROOT_STATE",
    "CallResult",
    "ReflexError",
    "state_full_name",
]

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
FIELD_SUFFIX = "_rx_state_"
AUTH_STATE = ROOT_STATE + ".his_portal___state____auth_state"
LOGIN_STATE = AUTH_STATE + ".his_portal___pages___login____login_state"
LOGIN_SUBMIT = LOGIN_STATE + ".submit"
TOKEN_VAR = "token"
HYDRATE_AND_LOAD = ROOT_STATE + ".hydrate_and_load"
SENTINEL = ROOT_STATE + ".set_is_hydrated"
SENTINEL_QUERY = "__hostile_sentinel"


class ReflexError(Exception):
    """The app or the connection did not do what the client needed."""


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def state_full_name(*chain: tuple[str, str]) -> str:
    """The full name of a state from (module, class name) pairs, root excluded:
    ``state_full_name(("his_portal.state", "AuthState"))``."""
    parts = [ROOT_STATE]
    for module, cls in chain:
        parts.append(_snake(f"{module.replace('.', '___')}___{cls}"))
    return ".".join(parts)


def strip_suffix(name: str) -> str:
    return name[: -len(FIELD_SUFFIX)] if name.endswith(FIELD_SUFFIX) else name


@dataclass
class CallResult:
    """The server's messages for one call."""

    name: str
    payload: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    timed_out: bool = False
    disconnected: bool = False
    # (state, var) of every var whose value the call's deltas actually changed.
    changes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def deltas(self) -> list[dict[str, dict[str, Any]]]:
        return [u["delta"] for u in self.updates if u.get("delta")]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for u in self.updates for e in (u.get("events") or [])]

    def changed_vars(self) -> dict[str, dict[str, Any]]:
        """``{state: {var: value}}`` of everything the deltas set, suffix removed."""
        merged: dict[str, dict[str, Any]] = {}
        for delta in self.deltas:
            for state, values in delta.items():
                target = merged.setdefault(state, {})
                for key, value in values.items():
                    target[strip_suffix(key)] = value
        return merged


def flatten_strings(value: Any, limit: int = 2_000_000) -> Iterable[str]:
    """Every string (and dict key) inside ``value``, for canary scans."""
    stack = [value]
    seen = 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, inner in item.items():
                yield str(key)
                stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            yield str(item)
