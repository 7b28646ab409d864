"""Every handler is a public API: each one, enumerated from the app itself, called
over the websocket by a logged-out visitor, a doctor going after another doctor's
data, the clinic manager and the administrator, with crafted arguments built from
its signature. Definitions and rules: tests/hostile/harness.py."""

from __future__ import annotations

import pytest

from tests.hostile.crafted import Ids, follow_up_payload, ids_from, payloads
from tests.hostile.handler_list import HandlerInfo, app_handlers, page_routes
from tests.hostile.harness import Campaign, alive, caller_from, short_name
from tests.hostile.leaks import Caller
from tests.hostile.reflex_sync import ReflexClient
from tests.hostile.world import Actor, ensure_signer

# Routes the page guards are also tried on (besides every page of the app).
ROUTE_TRICKS = (
    "/confirm/../../secrets/kek.bin",
    "/confirm/%00",
    "/admin/",
    "//admin",
    "/ADMIN",
)


def _id_params(info: HandlerInfo) -> list[str]:
    return [
        name
        for name, annotation, _ in info.params
        if annotation is int or str(annotation) == "list[int]"
    ]


def _primers(info: HandlerInfo, ids: Ids) -> list[dict]:
    """Victim ids put into the state by a handler taking ids, for the handlers of the
    same state to act on next (e.g. 签名 on another doctor's record, then 预览)."""
    out = []
    annotations = {param[0]: param[1] for param in info.params}
    for name in _id_params(info):
        many = str(annotations[name]).startswith("list")
        for value in (
            ids.victim_records_unsigned[:1],
            ids.victim_records_signed[:1],
            ids.own_unsigned[:1] or ids.victim_confirmations[:1],
        ):
            if value:
                out.append({name: value if many else value[0]})
    return out


def _restore(campaign: Campaign, caller: Caller) -> None:
    """A doctor who revoked their own 实名认证 or switched 电子签名 off (allowed: their
    own data) could no longer reach the signing paths: set them up again, through
    the app, before each state's handlers."""
    if caller.role != "doctor" or caller.person is None:
        return
    campaign.keep_logged_in(caller)
    ensure_signer(
        Actor(caller.person, caller.user_id, caller.client), campaign.world.db
    )
    campaign.refresh()


def _attack(campaign: Campaign, caller: Caller, handlers, routes) -> None:
    ids = ids_from(campaign.world, caller)
    route_of: dict[str, str] = {}
    for route, names in routes.items():
        for name in names:
            route_of.setdefault(name, route)
    state = None
    for info in handlers:
        if info.state is not state:
            state = info.state
            _restore(campaign, caller)
        path = route_of.get(info.name, caller.home)
        for payload in payloads(info, ids):
            campaign.run(
                caller, info.name, payload, path=path, background=info.background
            )
        if info.name in route_of:
            for route in (*routes, *ROUTE_TRICKS):
                campaign.run(caller, info.name, {}, path=route)
    for primer_info in handlers:
        if primer_info.attr == "setvar" or not _primers(primer_info, ids):
            continue
        _restore(campaign, caller)
        followers = [
            h
            for h in handlers
            if h.state is primer_info.state
            and h.attr != "setvar"
            and h is not primer_info
        ]
        for primer in _primers(primer_info, ids):
            path = route_of.get(primer_info.name, caller.home)
            campaign.run(caller, primer_info.name, primer, path=path)
            for follower in followers:
                campaign.run(
                    caller,
                    follower.name,
                    follow_up_payload(follower, ids),
                    path=route_of.get(follower.name, path),
                    background=follower.background,
                    label=f"{campaign.short_name(follower.name)} after "
                    f"{campaign.short_name(primer_info.name)}({primer})",
                )


def test_every_handler_as_every_caller(world, hostile_app):
    handlers, skipped = app_handlers()
    assert handlers, "no handlers found in the app"
    assert any(h.background for h in handlers), "no background handler found"
    routes = page_routes()
    anonymous = ReflexClient(hostile_app.base_url)
    anonymous.connect("/login")
    callers = [
        Caller("a logged-out visitor", "anonymous", None, anonymous, home="/login"),
        caller_from(
            world.attacker,
            "doctor",
            "/workbench",
            f"doctor {world.attacker.person.login_id}",
        ),
        caller_from(world.manager, "manager", "/manage", world.manager.person.login_id),
        caller_from(world.admin, "admin", "/admin", world.admin.person.login_id),
    ]
    campaign = Campaign(world)
    down = []
    try:
        for caller in callers:
            _attack(campaign, caller, handlers, routes)
            campaign.late(caller, f"background handlers of {caller.label}", 2.0)
            problem = alive(hostile_app.base_url)
            if problem:
                down.append(f"after {caller.label}'s calls: {problem}")
            probe = caller.client.call_result(handlers[0].name, {}, path=caller.home)
            if probe.timed_out or probe.disconnected:
                down.append(
                    f"after {caller.label}'s calls the websocket did not answer"
                )
    finally:
        anonymous.close()
    report = campaign.report()
    print("\n" + campaign.summary())
    reconnects = sum(c.client.aio.disconnects for c in callers)
    internals = ", ".join(short_name(name) for name in skipped)
    print(
        f"({len(handlers)} handlers of the app; the server dropped a connection "
        f"{reconnects} times; Reflex's own handlers skipped: {internals})"
    )
    if down:
        pytest.fail("the server stopped answering: " + "; ".join(down), pytrace=False)
    if campaign.findings:
        pytest.fail(report, pytrace=False)
