"""Regressions found by calling handlers the way no page does. Each one is a call
sequence a hostile client can send; see tests/hostile/harness.py for the checks."""

from __future__ import annotations

import time

import pytest

from tests.hostile.harness import Campaign
from tests.hostile.leaks import Caller
from tests.hostile.world import (
    ATTACKER,
    MANAGER,
    ensure_signer,
    handler,
    login,
    states,
)


def _tab(world, person, path: str, signer: bool = False) -> Caller:
    """A fresh tab of ``person``, logged in (its own login session); ``signer``:
    with 实名认证 and 电子签名 on, as the attacks below need."""
    actor = login(world.base_url, person, world.db, path)
    world.remember(actor)
    if signer:
        ensure_signer(actor, world.db)
    return Caller(
        f"{person.role} {person.login_id}",
        person.role,
        actor.user_id,
        actor.client,
        home=path,
    )


def _batch_handlers(sign_flow) -> list[str]:
    """The background handlers that start or follow the batch (however named)."""
    names = [
        name
        for name, h in sign_flow.event_handlers.items()
        if h.is_background and "batch" in name
    ]
    assert names, f"no background batch handler in {sign_flow}"
    return [handler(sign_flow, name) for name in names]


def test_batch_handler_called_directly_signs_nothing_without_a_code(world):
    """begin([own unsigned records]), then the background batch handler straight
    away: no SMS code was ever sent or checked, so nothing may be signed."""
    _, _, sign_flow, _ = states()
    caller = _tab(world, ATTACKER, "/workbench", signer=True)
    try:
        own = world.unsigned(caller.user_id)[-2:]
        assert len(own) == 2, "the attacker needs two unsigned records"
        campaign = Campaign(world)
        begin = campaign.run(
            caller, handler(sign_flow, "begin"), {"record_ids": own}, path="/workbench"
        )
        assert not begin.timed_out
        batches = _batch_handlers(sign_flow)
        for batch in batches:
            campaign.run(caller, batch, {}, path="/workbench", background=True)
        # Give the workers time to sign (well under a second per record), then look.
        deadline = time.monotonic() + 20
        marks = ",".join("?" * len(own))
        while time.monotonic() < deadline:
            for batch in batches:
                campaign.late(caller, campaign.short_name(batch), 0.5)
            step = caller.client.var(sign_flow.get_full_name(), "step")
            if step not in ("running", "willing", "sign") and step is not None:
                break
        signed = world.db.rows(
            f"SELECT id FROM medicalrecord WHERE id IN ({marks}) AND "
            "sign_status = 'signed'",
            *own,
        )
        docs = world.db.rows(
            f"SELECT id, record_id FROM signeddocument WHERE record_id IN ({marks})",
            *own,
        )
    finally:
        caller.client.close()
    assert not signed and not docs, (
        f"{[campaign.short_name(b) for b in batches]} signed records "
        f"{[r['id'] for r in signed]} of "
        f"{ATTACKER.login_id} without any 意愿校验 code:\n{campaign.report()}"
    )
    assert not campaign.findings, "\n" + campaign.report()


@pytest.mark.parametrize("which", ["unsigned", "signed"])
def test_other_doctors_record_is_never_previewed(world, which):
    """begin([another doctor's record]) is refused; move / choose_seal afterwards must
    not render that record (no preview image, no file names with its contents)."""
    _, _, sign_flow, _ = states()
    caller = _tab(world, ATTACKER, "/workbench", signer=True)
    victim_record = (
        world.victim_unsigned[0] if which == "unsigned" else world.victim_signed[0]
    )
    campaign = Campaign(world)
    previews = []
    try:
        calls = [
            ("begin", {"record_ids": [victim_record]}),
            ("move", {"step": 0}),
            ("move", {"step": 1}),
            ("choose_seal", {"value": "system"}),
            ("choose_seal", {"value": "personal"}),
        ]
        for name, payload in calls:
            result = campaign.run(
                caller, handler(sign_flow, name), payload, path="/workbench"
            )
            for values in result.changed_vars().values():
                preview = values.get("preview")
                if isinstance(preview, str) and preview.startswith("data:image"):
                    previews.append(f"{name}({payload})")
    finally:
        caller.client.close()
    assert not previews and not campaign.findings, (
        f"record #{victim_record} of {world.victim.person.login_id} rendered for "
        f"{ATTACKER.login_id} by {previews}:\n{campaign.report()}"
    )


@pytest.mark.parametrize("person", [MANAGER, ATTACKER], ids=["manager", "doctor"])
def test_dev_sms_shows_only_ones_own_messages(world, person):
    """/dev/sms (DevSmsState.on_load) in demo mode: each person sees only the
    messages sent to them, never another person's codes."""
    from his_portal.pages.dev_sms import DevSmsState

    caller = _tab(world, person, "/dev/sms")
    campaign = Campaign(world)
    try:
        opened = caller.client.connect("/dev/sms")  # the page load runs on_load
        leaks = [leak for m in opened.updates for leak in campaign.scan(m, caller)]
        campaign.run(caller, handler(DevSmsState, "on_load"), {}, path="/dev/sms")
        shown = caller.client.var(DevSmsState.get_full_name(), "messages") or []
    finally:
        caller.client.close()
    others = world.db.rows(
        "SELECT id, body FROM smsmessage WHERE user_id IS NOT ? ORDER BY id",
        caller.user_id,
    )
    assert others, "the world has no SMS of other people"
    bodies = {row["body"] for row in others}
    seen = [m.get("body") for m in shown if m.get("body") in bodies]
    assert not seen and not leaks and not campaign.findings, (
        f"{person.login_id} sees other people's SMS codes on /dev/sms: {seen} "
        f"{leaks}\n{campaign.report()}"
    )
