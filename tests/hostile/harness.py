"""The hostile harness: what a call, a refusal and a leak are, and the call runner.

Definitions (the summary line ``hostile: N calls tried, N refused, 0 leaked``):

* **call**: one websocket event to one handler with one payload, followed by the
  client's sentinels (see :mod:`tests.hostile.reflex_protocol`), then the checks
  of :class:`Campaign`.
* **refused**: the call changed nothing in the database outside the ignored tables,
  no private file, and no var of an app state except feedback vars (names containing
  ``error``, ``message``, ``notice`` or ``failure``); its frontend events were at
  most toasts and in-app redirects; and it leaked nothing.
* **leaked**: a call with at least one finding: a canary or other user's data in
  what the server sent back, a database row or private file changed that the caller
  may not change, or a broken signing invariant. Every finding is listed in the
  failure message with the handler, the caller, the arguments and what happened.

The rules live beside it: who may change what in :mod:`tests.hostile.ownership`,
what may show to whom in :mod:`tests.hostile.leaks`, the snapshots and their diff in
:mod:`tests.hostile.snapshots`, the handler list in :mod:`tests.hostile.handler_list`
and the crafted arguments in :mod:`tests.hostile.crafted`.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.hostile.leaks import Caller, Canary, build_canaries, scan_message
from tests.hostile.ownership import file_owner, judge_change, signing_invariant
from tests.hostile.reflex_protocol import ROOT_STATE, CallResult
from tests.hostile.snapshots import (
    FileSnap,
    Snapshot,
    db_diff,
    db_snapshot,
    file_changes,
    file_snapshot,
    short,
)
from tests.hostile.world import World

FEEDBACK_VAR = re.compile(r"error|message|notice|failure", re.I)


def short_name(event_name: str) -> str:
    """``sign_flow_state.begin`` for a full event name."""
    parts = event_name.split(".")
    state = parts[-2].rsplit("____", 1)[-1] if len(parts) > 1 else ""
    return f"{state}.{parts[-1]}"


@dataclass
class Finding:
    handler: str
    caller: str
    args: str
    what: str

    def line(self) -> str:
        return f"- {self.handler} by {self.caller}, args {self.args}: {self.what}"


@dataclass
class Campaign:
    """Runs calls, keeps the snapshots, collects findings and counts."""

    world: World
    tried: int = 0
    refused: int = 0
    leaked: int = 0
    errors: int = 0
    timeouts: int = 0
    findings: list[Finding] = field(default_factory=list)
    snap: Snapshot = field(default_factory=dict)
    files: FileSnap = field(default_factory=dict)
    canaries: list[Canary] = field(default_factory=list)
    version: int = -1
    # (call number, handler and args) of the background handlers called lately.
    background: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.version = self.world.db.data_version()
        self.snap = db_snapshot(self.world.db)
        self.files = file_snapshot(self.world.data_dir, self.files)
        self.canaries = build_canaries(self.world, self.snap)

    def short_name(self, name: str) -> str:
        return short_name(name)

    def run(
        self,
        caller: Caller,
        name: str,
        payload: Any,
        *,
        path: str | None = None,
        background: bool = False,
        label: str | None = None,
    ) -> CallResult:
        label = label or self.short_name(name)
        caller.sent.add(json.dumps(payload, ensure_ascii=False, default=str))
        result = caller.client.call_result(
            name,
            payload,
            path=path or caller.home,
            settle=0.3 if background else 0.0,
            timeout=30,
        )
        self.tried += 1
        args = short(payload)
        self.background = [b for b in self.background if b[0] > self.tried - 40]
        if background:
            self.background.append((self.tried, f"{label}({args})"))
        self.timeouts += result.timed_out
        call_findings, refused = self.check(caller, label, args, result)
        self.refused += refused and not call_findings
        # Messages from earlier background handlers that arrived meanwhile.
        late = CallResult(label, {}, updates=list(caller.client.unsolicited))
        caller.client.unsolicited.clear()
        leaks = [
            leak for message in late.updates for leak in self.scan(message, caller)
        ]
        leaks += self.preview_leaks(caller, late)
        call_findings += [
            Finding(self.maybe_background(label), caller.label, args, leak)
            for leak in leaks
        ]
        if call_findings:
            self.leaked += 1
            self.findings.extend(call_findings)
        self.keep_logged_in(caller)
        return result

    def check(
        self,
        caller: Caller,
        label: str,
        args: str,
        result: CallResult,
    ) -> tuple[list[Finding], bool]:
        """The call's findings, and whether it was refused (see the docstring)."""
        found: list[str] = []  # from the call's own answer
        later: list[str] = []  # database and files: maybe a background handler's
        if any(_is_backend_error(e) for e in result.events):
            self.errors += 1
        # (a) the database.
        db_changed = False
        version = self.world.db.data_version()
        if version != self.version:
            old = self.snap
            self.version = version
            self.snap = db_snapshot(self.world.db)
            changes = db_diff(old, self.snap)
            db_changed = bool(changes)
            for change in changes:
                why = judge_change(change, caller.user_id, caller.role, old, self.snap)
                if why:
                    later.append(why)
            later.extend(signing_invariant(changes, self.snap))
            if changes:
                self.canaries = build_canaries(self.world, self.snap)
        # (b) private files.
        files = file_snapshot(self.world.data_dir, self.files)
        changed_files = file_changes(self.files, files)
        self.files = files
        for rel, how in changed_files:
            owner = file_owner(rel, self.snap)
            if caller.user_id is None or owner != caller.user_id:
                whose = "nobody's" if owner is None else f"of user {owner}"
                later.append(f"private file {rel} ({whose}) {how}")
        # (c) what came back.
        for message in result.updates:
            found.extend(self.scan(message, caller))
        found.extend(self.preview_leaks(caller, result))
        # refused?
        state_changed = any(
            state != ROOT_STATE and not FEEDBACK_VAR.search(var)
            for state, var in result.changes
        )
        odd_events = [
            e
            for e in result.events
            if e.get("name") not in ("_call_function", "_redirect")
            or (
                e.get("name") == "_redirect"
                and (e.get("payload") or {}).get("external")
            )
        ]
        refused = not (db_changed or changed_files or state_changed or odd_events)
        findings = [Finding(label, caller.label, args, what) for what in found]
        findings += [
            Finding(self.maybe_background(label), caller.label, args, what)
            for what in later
        ]
        return findings, refused

    def maybe_background(self, label: str) -> str:
        """``label``, naming the background handlers started in the last calls: what
        they do (to the database, in late messages) may show up during a later call."""
        running = [name for _, name in self.background[-3:]]
        if not running:
            return label
        return f"{label} [or the background {'; '.join(running)} still at work]"

    def scan(self, message: dict[str, Any], caller: Caller) -> list[str]:
        return scan_message(message, caller, self.canaries, self.snap, self.files)

    def late(self, caller: Caller, label: str, seconds: float) -> None:
        """Listen ``seconds`` more (a background handler at work), then check the
        database, the files and what arrived, as part of ``label``."""
        caller.client.drain(seconds)
        late = list(caller.client.unsolicited)
        caller.client.unsolicited.clear()
        result = CallResult(label, {}, updates=late)
        found, _ = self.check(caller, label, "(later)", result)
        if found:
            self.leaked += 1
            self.findings.extend(found)

    def preview_leaks(self, caller: Caller, result: CallResult) -> list[str]:
        """A signing preview (an image of a record) while the flow holds a record that
        is not the caller's."""
        leaks = []
        for state, values in result.changed_vars().items():
            preview = values.get("preview")
            if not (isinstance(preview, str) and preview.startswith("data:image")):
                continue
            mirror = caller.client.state.get(state, {})
            record_ids = mirror.get("record_ids") or []
            index = mirror.get("index") or 0
            if not isinstance(record_ids, list) or not record_ids:
                continue
            try:
                record_id = record_ids[min(max(int(index), 0), len(record_ids) - 1)]
            except (TypeError, ValueError):
                continue
            record = self.snap.get("medicalrecord", {}).get(record_id)
            owner = record.get("doctor_id") if record else None
            if owner != caller.user_id:
                leaks.append(
                    f"preview image of record #{record_id} (of user {owner}) sent back"
                )
        return leaks

    def keep_logged_in(self, caller: Caller) -> None:
        """A caller that logged itself out goes on with its next spare session."""
        if caller.user_id is None or caller.client.session_token:
            return
        if not caller.spare_tokens:
            raise AssertionError(f"{caller.label} ran out of spare login sessions")
        caller.client.use_session(caller.spare_tokens.pop(0), caller.home)
        if not caller.client.session_token:
            raise AssertionError(f"{caller.label}'s spare session did not log in")

    def summary(self) -> str:
        return (
            f"hostile: {self.tried} calls tried, {self.refused} refused, "
            f"{self.leaked} leaked"
        )

    def report(self, limit: int = 400) -> str:
        lines = [self.summary()]
        lines.append(
            f"({self.errors} calls raised in the backend, {self.timeouts} timed out)"
        )
        grouped: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(
                (finding.handler, finding.caller, finding.what), []
            ).append(finding)
        for index, ((handler, caller, what), group) in enumerate(grouped.items()):
            if index >= limit:
                lines.append(f"… and {len(grouped) - limit} more")
                break
            more = f" (+{len(group) - 1} more argument sets)" if len(group) > 1 else ""
            lines.append(f"- {handler} by {caller}, args {group[0].args}{more}: {what}")
        return "\n".join(lines)


def _is_backend_error(event: dict[str, Any]) -> bool:
    return "backend_error" in str((event.get("payload") or {}).get("function", ""))


def caller_from(actor, role: str, home: str, label: str) -> Caller:
    return Caller(
        label=label,
        role=role,
        user_id=actor.user_id,
        client=actor.client,
        spare_tokens=list(actor.spare_tokens),
        home=home,
        person=actor.person,
    )


def alive(base_url: str) -> str:
    """Empty if the app answers HTTP, else why not."""
    try:
        with urllib.request.urlopen(f"{base_url}/login", timeout=10) as response:
            if response.status != 200:
                return f"GET /login answered {response.status}"
    except Exception as exc:
        return f"GET /login failed: {exc}"
    return ""
