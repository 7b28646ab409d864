"""An invisible timer that fires an event every few seconds while the page is open
and visible: the shell uses it to notice a session ended elsewhere."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.components.component import field
from reflex_base.event import EventHandler, no_args_event_spec
from reflex_base.vars.base import Var

#: How often an open page asks (milliseconds).
INTERVAL_MS = 10_000


class IntervalTrigger(rx.Fragment):
    """Calls ``on_tick`` every ``interval_ms`` while the tab is visible."""

    on_tick: EventHandler[no_args_event_spec] = field(doc="Every interval.")
    interval_ms: int = field(default=INTERVAL_MS, is_javascript_property=False)

    def add_imports(self) -> dict[str, str]:
        return {"react": "useEffect"}

    def _exclude_props(self) -> list[str]:
        return [*super()._exclude_props(), *self.event_triggers.keys()]

    def add_hooks(self) -> list[str | Var[Any]]:
        trigger = self.event_triggers.get("on_tick")
        if trigger is None:
            return []
        return [
            Var(
                f"""
useEffect(() => {{
    if (typeof window === 'undefined') return;
    const fn = {Var.create(trigger)};
    const id = setInterval(() => {{ if (!document.hidden) fn(); }}, {self.interval_ms});
    return () => clearInterval(id);
}}, []);
"""
            )
        ]


def session_watch(on_tick: Any, interval_ms: int = INTERVAL_MS) -> rx.Component:
    """The timer, calling ``on_tick`` (an event handler) every ``interval_ms``."""
    return IntervalTrigger.create(on_tick=on_tick, interval_ms=interval_ms)
