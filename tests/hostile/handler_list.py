"""The app's attack surface from the app itself: every handler of its states and
every page route with its on_load handlers."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

# Reflex's own states (module ``reflex.*``) are skipped, each for its reason:
# * State.hydrate / hydrate_and_load: the boot event every connect sends; it resets
#   and applies the caller's own browser storage and sends the caller's own state
#   (every hostile tab runs it on connect).
# * State.set_is_hydrated: the hydration flag; the client's sentinel itself.
# * OnLoadInternalState.on_load_internal / set_is_hydrated: page-load plumbing that
#   re-dispatches the page's on_load handlers for the caller's route; those
#   handlers are called directly here, on every route.
# * UpdateVarsInternalState.update_vars_internal: applies browser-storage values,
#   i.e. the ``his_session`` token: presenting one's own credential.
# * FrontendEventExceptionState.handle_frontend_exception: logs a client report.
# * setvar of those states and of SharedStateBaseInternal: no app setters there.
# Every state of the app (module ``his_portal.*``) is covered, with every handler
# including background ones and ``setvar``.


@dataclass(frozen=True)
class HandlerInfo:
    name: str  # full event name
    state: type
    attr: str
    fn: Any
    background: bool
    params: tuple[tuple[str, Any, bool], ...]  # (name, annotation, required)


def app_handlers() -> tuple[list[HandlerInfo], list[str]]:
    """Every registered handler of the app's states, and the skipped ones."""
    from reflex_base.registry import RegistrationContext

    import his_portal.his_portal  # noqa: F401  (registers every page and state)

    handlers, skipped = [], []
    for name, registered in sorted(RegistrationContext.get().event_handlers.items()):
        state = registered.states[0]
        if not state.__module__.startswith("his_portal"):
            skipped.append(name)
            continue
        fn = registered.handler.fn
        attr = name.rsplit(".", 1)[1]
        try:
            hints = typing.get_type_hints(fn)
        except Exception:
            hints = {}
        params = []
        for pname, param in list(inspect.signature(fn).parameters.items())[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            params.append(
                (pname, hints.get(pname, Any), param.default is inspect.Parameter.empty)
            )
        handlers.append(
            HandlerInfo(
                name,
                state,
                attr,
                fn,
                bool(registered.handler.is_background),
                tuple(params),
            )
        )
    return handlers, skipped


def page_routes() -> dict[str, list[str]]:
    """{route: [full names of its on_load handlers]} from the app's pages."""
    from reflex.utils.format import format_event_handler

    import his_portal.his_portal as module

    routes: dict[str, list[str]] = {}
    for key, events in module.app._load_events.items():
        route = (
            "/" if key == "index" else "/" + key.replace("[qr]", "hostile-no-such-qr")
        )
        names = []
        for event in events:
            handler = getattr(event, "handler", event)
            names.append(format_event_handler(handler))
        routes[route] = names
    return routes
