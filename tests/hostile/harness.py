"""The hostile harness: what may change, what must never show, and the handler list.

Definitions (the summary line ``hostile: N calls tried, N refused, 0 leaked``):

* **call**: one websocket event to one handler with one payload, followed by the
  client's sentinels (see :mod:`tests.hostile.reflex_ws`), then the checks below.
* **refused**: the call changed nothing in the database outside the ignored tables,
  no private file, and no var of an app state except feedback vars (names containing
  ``error``, ``message``, ``notice`` or ``failure``); its frontend events were at
  most toasts and in-app redirects; and it leaked nothing.
* **leaked**: a call with at least one finding: a canary or other user's data in
  what the server sent back, a database row or private file changed that the caller
  may not change, or a broken signing invariant. Every finding is listed in the
  failure message with the handler, the caller, the arguments and what happened.

Ownership (what a caller may change without it being a finding):

* Ignored tables, changed by every login and every refusal: ``auditevent``,
  ``audithead``, ``auditanchor`` (the append-only log), ``loginattempt``,
  ``usersession`` (login sessions, idle bumps), ``alembic_version``.
* A row belongs to the user named by its owner columns: ``user.id``; ``user_id``
  (doctorprofile, doctorcertificate, seal, smsmessage, confirmation, manualreview);
  ``doctor_id`` and ``signer_id`` (medicalrecord, appointment); a signeddocument
  belongs to its record's doctor and its ``signer_id``; a fileticket to the user of
  its login session. Every owner value, before and after, must be the caller.
  Tables without owner columns (clinic, patient, issuerkey, and any table added
  later without one) belong to nobody: any change is a finding.
* The administrator's powers over other people's rows are 实名认证 审核
  (manualreview rows, the verification columns of doctorprofile, and issuing or
  revoking doctorcertificate rows) and 系统管理's accounts (adding a doctor or
  manager, 停用 / 启用 and 重置密码: ``is_active``, ``password_hash``,
  ``must_change_password``), plus the integrity check's report
  (integrityreport rows).
* A manager's 催签: a ``remind`` notification sent by them (and its SMS) to a doctor
  of their 分院, or of any 分院 when they are chain-wide.
* The app's own housekeeping, during any call: ``jobrun`` (ignored), the periodic
  job's notices (no sender, deduplicated), integrity reports, deleting expired file
  tickets; the signing queue's files and lock in the data dir.
* Logged out, nothing may change at all (outside the ignored tables).
* Invariant, whoever calls: a record that becomes signed has a signeddocument for its
  version whose confirmation is ``used``, belongs to the signer and covers the record
  (意愿校验 spent before signing). A batch item belongs to its confirmation's doctor.
* Private files: everything under the data dir except the SQLite database and its
  journals and logs. ``seals/<user id>/…`` belongs to that user, ``signed/<record
  id>/…`` to the record's doctor; anything else (``secrets/``…) to nobody.

Who may see what (else it is a leak):

* record contents (the planted ``HOSTILE-CANARY-…`` texts), rows shaped like a
  record row (``id`` + ``record_no``), record previews, signed PDFs and their file
  names and links: the record's doctor, and the clinic manager;
* seal images, SMS texts and codes, full ID numbers and mobiles, login session
  tokens and tab tokens: their owner only;
* secrets (password hashes, token / code hashes, encrypted keys, the KEK, private
  keys): nobody.
A value the caller itself sent earlier (e.g. a victim's file name used as an
argument) is not a leak when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import json
import os
import re
import sqlite3
import types
import typing
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.hostile.reflex_ws import (
    ROOT_STATE,
    CallResult,
    ReflexClient,
    flatten_strings,
)
from tests.hostile.world import CANARY_RE, Db, World

IGNORED_TABLES = frozenset(
    {
        "auditevent",
        "audithead",
        "auditanchor",
        "loginattempt",
        "usersession",
        "alembic_version",
        "jobrun",  # periodic jobs' leases, moved by the app's own housekeeping
    }
)
OWNER_COLUMNS = ("user_id", "doctor_id", "signer_id", "owner_id")
ADMIN_POWERS: dict[str, frozenset[str] | None] = {
    "manualreview": None,  # any column
    "doctorprofile": frozenset(
        {"verification_status", "verified_at", "verified_via", "updated_at"}
    ),
    "doctorcertificate": None,
    "user": frozenset({"is_active", "password_hash", "must_change_password"}),
    "integrityreport": None,
}
#: Tables in ``ADMIN_POWERS`` where the administrator may also add rows.
ADMIN_INSERTS = frozenset({"user"})
FEEDBACK_VAR = re.compile(r"error|message|notice|failure", re.I)
SKIP_FILES = re.compile(
    r"(^|/)(his_portal|signing-queue)\.db(-journal|-wal|-shm)?$|\.log$|\.lock$"
)
ARGS_REPR = 160


def short(value: Any, limit: int = ARGS_REPR) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 20] + f"…({len(text)} chars)"
    return text


def short_name(event_name: str) -> str:
    """``sign_flow_state.begin`` for a full event name."""
    parts = event_name.split(".")
    state = parts[-2].rsplit("____", 1)[-1] if len(parts) > 1 else ""
    return f"{state}.{parts[-1]}"


# --- database snapshots -------------------------------------------------------------


Snapshot = dict[str, dict[Any, dict[str, Any]]]


def db_snapshot(db: Db) -> Snapshot:
    """Every table as {primary key: row dict}; of the ignored tables only
    ``usersession`` (whose rows tell the owner of a file ticket)."""
    tables = [
        r["name"]
        for r in db.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%'"
        )
        if r["name"] not in IGNORED_TABLES or r["name"] == "usersession"
    ]
    snap: Snapshot = {}
    with db.transaction():  # one consistent view of all tables
        for table in tables:
            rows = db.rows(f'SELECT rowid AS __rowid__, * FROM "{table}"')
            snap[table] = {}
            for row in rows:
                data = dict(row)
                key = data.pop("__rowid__")
                snap[table][data.get("id", key)] = data
    return snap


@dataclass
class RowChange:
    table: str
    key: Any
    kind: str  # insert / update / delete
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def columns(self) -> list[str]:
        if self.old is None or self.new is None:
            return sorted((self.old or self.new or {}).keys())
        return sorted(k for k in self.new if self.old.get(k) != self.new.get(k))

    def describe(self) -> str:
        if self.kind == "update":
            parts = [
                f"{c}: {short(self.old.get(c), 60)} → {short(self.new.get(c), 60)}"
                for c in self.columns
            ]
            return f"{self.table}#{self.key} updated ({'; '.join(parts)})"
        row = self.new if self.kind == "insert" else self.old
        return f"{self.table}#{self.key} {self.kind}ed {short(row, 200)}"


def db_diff(old: Snapshot, new: Snapshot) -> list[RowChange]:
    changes = []
    for table in sorted(set(old) | set(new)):
        if table in IGNORED_TABLES:
            continue
        before, after = old.get(table, {}), new.get(table, {})
        for key in sorted(set(before) | set(after), key=str):
            a, b = before.get(key), after.get(key)
            if a == b:
                continue
            kind = "insert" if a is None else "delete" if b is None else "update"
            changes.append(RowChange(table, key, kind, a, b))
    return changes


def _owners(table: str, row: dict[str, Any], snap: Snapshot) -> set[Any]:
    """The user ids a row belongs to (empty: nobody's)."""
    owners = set()
    if table == "user":
        owners.add(row.get("id"))
    for column in OWNER_COLUMNS:
        if column in row and row[column] is not None:
            owners.add(row[column])
    if table == "signeddocument":
        record = snap.get("medicalrecord", {}).get(row.get("record_id"))
        owners.add(record["doctor_id"] if record else None)
    if table == "smsmessage" and row.get("user_id") is None:
        profile = next(
            (
                p
                for p in snap.get("doctorprofile", {}).values()
                if p.get("mobile") == row.get("mobile")
            ),
            None,
        )
        owners.add(profile["user_id"] if profile else None)
    if table == "batchitem":
        confirmation = snap.get("confirmation", {}).get(row.get("confirmation_id"))
        owners.add(confirmation["user_id"] if confirmation else None)
    if "session_id" in row:
        session = snap.get("usersession", {}).get(row.get("session_id"))
        owners.add(session["user_id"] if session else None)
    return owners


#: Notices only the periodic job writes (no sender, deduplicated).
SYSTEM_NOTICES = frozenset({"overdue", "cert_expiring"})


def _system_change(change: RowChange) -> bool:
    """What the app's own housekeeping does while any call runs: the periodic
    notices, the daily integrity report, deleting expired file tickets."""
    row = change.new if change.new is not None else change.old
    if change.table == "notification" and change.kind == "insert":
        return (
            row.get("kind") in SYSTEM_NOTICES
            and row.get("sender_id") is None
            and row.get("dedup_key") is not None
        )
    if change.table == "integrityreport":
        return True
    if change.table == "fileticket" and change.kind == "delete":
        expires = datetime.fromisoformat(str(row.get("expires_at")))
        return expires.replace(tzinfo=None) < datetime.now(UTC).replace(tzinfo=None)
    return False


def _in_scope(manager: dict | None, doctor: dict | None) -> bool:
    if manager is None or doctor is None or doctor.get("role") != "doctor":
        return False
    return bool(manager.get("chain_wide")) or (
        manager.get("clinic_id") == doctor.get("clinic_id")
    )


def _reminder(change: RowChange, caller_id: int | None, new: Snapshot) -> bool:
    """催签: a manager's notice (and text) to a doctor of their 分院 (or, chain-wide,
    of any 分院)."""
    if change.kind != "insert" or caller_id is None:
        return False
    row = change.new
    users = new.get("user", {})
    target = users.get(row.get("user_id"))
    if change.table == "notification":
        sent_by_caller = (
            row.get("kind") == "remind" and row.get("sender_id") == caller_id
        )
    elif change.table == "smsmessage":
        sent_by_caller = row.get("purpose") == "remind"
    else:
        return False
    return sent_by_caller and _in_scope(users.get(caller_id), target)


def judge_change(
    change: RowChange, caller_id: int | None, role: str, old: Snapshot, new: Snapshot
) -> str | None:
    """Why ``change`` is not allowed for the caller (None: allowed)."""
    if _system_change(change):
        return None
    if role == "manager" and _reminder(change, caller_id, new):
        return None
    owners = set()
    if change.old is not None:
        owners |= _owners(change.table, change.old, old)
    if change.new is not None:
        owners |= _owners(change.table, change.new, new)
    if caller_id is not None and owners and owners <= {caller_id}:
        return None
    if role == "admin" and change.table in ADMIN_POWERS:
        allowed = ADMIN_POWERS[change.table]
        if (
            allowed is None
            or (change.kind == "update" and set(change.columns) <= allowed)
            or (change.kind == "insert" and change.table in ADMIN_INSERTS)
        ):
            return None
    whose = (
        "nobody's (no owner column)"
        if not owners
        else "of user " + ", ".join(str(o) for o in sorted(owners, key=str))
    )
    return f"unauthorised change, row {whose}: {change.describe()}"


def signing_invariant(changes: list[RowChange], new: Snapshot) -> list[str]:
    """Records that became signed without a spent confirmation covering them."""
    problems = []
    for change in changes:
        if change.table != "medicalrecord" or change.new is None:
            continue
        was = (change.old or {}).get("sign_status")
        if change.new.get("sign_status") != "signed" or was == "signed":
            continue
        record = change.new
        docs = [
            d
            for d in new.get("signeddocument", {}).values()
            if d.get("record_id") == record["id"]
            and d.get("version") == record.get("version")
        ]
        ok = False
        for doc in docs:
            conf = new.get("confirmation", {}).get(doc.get("confirmation_id"))
            if (
                conf is not None
                and conf.get("status") == "used"
                and conf.get("user_id") == record.get("signer_id")
                and str(record["id"]) in str(conf.get("record_ids", "")).split(",")
            ):
                ok = True
        if not ok:
            detail = (
                "no signeddocument"
                if not docs
                else "confirmation(s) "
                + ", ".join(
                    f"#{d.get('confirmation_id')}="
                    + str(
                        (
                            new.get("confirmation", {}).get(d.get("confirmation_id"))
                            or {}
                        ).get("status")
                    )
                    for d in docs
                )
            )
            problems.append(
                f"record #{record['id']} (doctor {record.get('doctor_id')}) signed "
                f"by user {record.get('signer_id')} without a spent 意愿校验 "
                f"confirmation covering it ({detail})"
            )
    return problems


# --- private files ------------------------------------------------------------------


FileSnap = dict[str, tuple[int, int, str]]


def file_snapshot(data_dir: Path, previous: FileSnap | None = None) -> FileSnap:
    """{relative path: (size, mtime_ns, sha256)}; hashes reused when unchanged."""
    snap: FileSnap = {}
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            path = Path(root) / name
            rel = path.relative_to(data_dir).as_posix()
            if SKIP_FILES.search(rel):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            old = (previous or {}).get(rel)
            if old and old[0] == stat.st_size and old[1] == stat.st_mtime_ns:
                snap[rel] = old
                continue
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = "?"
            snap[rel] = (stat.st_size, stat.st_mtime_ns, digest)
    return snap


def file_owner(rel: str, snap: Snapshot) -> Any:
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] == "seals" and parts[1].isdigit():
        return int(parts[1])
    if len(parts) >= 3 and parts[0] == "signed" and parts[1].isdigit():
        record = snap.get("medicalrecord", {}).get(int(parts[1]))
        return record["doctor_id"] if record else None
    return None


def file_changes(old: FileSnap, new: FileSnap) -> list[tuple[str, str]]:
    changes = []
    for rel in sorted(set(old) | set(new)):
        a, b = old.get(rel), new.get(rel)
        if a is None:
            changes.append((rel, "created"))
        elif b is None:
            changes.append((rel, "deleted"))
        elif a[2] != b[2]:
            changes.append((rel, "modified"))
    return changes


# --- canaries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    kind: str
    value: str
    owner: int | None  # None: a secret nobody may see
    manager_may_see: bool = False


def build_canaries(world: World, snap: Snapshot) -> list[Canary]:
    out: list[Canary] = []

    def add(kind: str, value: Any, owner: int | None, manager: bool = False):
        if isinstance(value, str) and len(value) >= 8:
            out.append(Canary(kind, value, owner, manager))

    for row in snap.get("user", {}).values():
        add("password hash", row.get("password_hash"), None)
    for row in snap.get("usersession", {}).values():
        add("session token hash", row.get("token_hash"), None)
    for row in snap.get("confirmation", {}).values():
        for column in ("code_hash", "session_hash", "qr_token_hash", "face_ref"):
            add(f"confirmation {column}", row.get(column), None)
    for row in snap.get("fileticket", {}).values():
        add("file ticket hash", row.get("ticket_hash"), None)
    for row in snap.get("issuerkey", {}).values():
        add("issuer key (encrypted)", row.get("key_pem_enc"), None)
    for row in snap.get("doctorcertificate", {}).values():
        add("doctor key (encrypted)", row.get("key_pem_enc"), None)
    try:
        for row in world.db.rows("SELECT * FROM audithead"):
            add("audit head MAC", dict(row).get("mac"), None)
    except sqlite3.Error:
        pass  # an app without the table
    for row in snap.get("doctorprofile", {}).values():
        owner = row.get("user_id")
        add("ID number (encrypted)", row.get("id_number_enc"), None)
        add("mobile", row.get("mobile"), owner)
    for person_actor in world.actors():
        if person_actor.person.id_number:
            add("ID number", person_actor.person.id_number, person_actor.user_id)
        if person_actor.person.mobile:
            add("mobile", person_actor.person.mobile, person_actor.user_id)
    for user_id, tokens in world.known_tokens.items():
        for token in tokens:
            add("login/tab token", token, user_id)
    for row in snap.get("smsmessage", {}).values():
        owner = row.get("user_id")
        if owner is None:
            profile = next(
                (
                    p
                    for p in snap.get("doctorprofile", {}).values()
                    if p.get("mobile") == row.get("mobile")
                ),
                None,
            )
            owner = profile["user_id"] if profile else -1
        add("SMS text", row.get("body"), owner)
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", row.get("body") or "")
        if match:
            add("SMS code", "验证码" + match.group(1), owner)
    data_dir = world.data_dir
    for row in snap.get("seal", {}).values():
        add("seal file name", Path(str(row.get("file_name"))).name, row.get("user_id"))
    for row in snap.get("signeddocument", {}).values():
        record = snap.get("medicalrecord", {}).get(row.get("record_id")) or {}
        name = str(row.get("file_name", ""))
        add(
            "signed file name",
            Path(name).stem.split("-", 1)[-1],
            record.get("doctor_id"),
            True,
        )
    kek = data_dir / "secrets" / "kek.bin"
    if kek.is_file():
        raw = kek.read_bytes()
        add("KEK (hex)", raw.hex(), None)
        add("KEK (base64)", base64.b64encode(raw).decode().rstrip("="), None)
    for marker in (
        "$argon2id$",
        "PRIVATE KEY-----",
    ):
        out.append(Canary("secret marker", marker, None))
    return out


@dataclass
class Caller:
    """Who is calling: a role, the user id (None: logged out), a tab."""

    label: str
    role: str  # doctor / manager / admin / anonymous
    user_id: int | None
    client: ReflexClient
    spare_tokens: list[str] = field(default_factory=list)
    home: str = "/login"
    sent: set[str] = field(default_factory=set)
    person: Any = None  # world.Person, for callers that log in

    def may_see(self, canary: Canary) -> bool:
        if canary.owner is None:
            return False
        if self.user_id is not None and canary.owner == self.user_id:
            return True
        return canary.manager_may_see and self.role == "manager"

    def sent_before(self, value: str) -> bool:
        return any(value in text for text in self.sent)


def _record_rows(value: Any) -> Iterable[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "id" in item and "record_no" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def data_url_files(strings: list[str], files: FileSnap) -> Iterable[tuple[str, str]]:
    """(private file, kind) for every ``data:`` URL that is a private file's bytes
    (a seal image, a signed PDF download, a key...)."""
    by_hash = {digest: rel for rel, (_, _, digest) in files.items()}
    for text in strings:
        if not text.startswith("data:") or ";base64," not in text[:120]:
            continue
        try:
            raw = base64.b64decode(text.split(",", 1)[1], validate=False)
        except (ValueError, binascii.Error):
            continue
        rel = by_hash.get(hashlib.sha256(raw).hexdigest())
        if rel is not None:
            yield rel, text[: text.index(",")]


def scan_message(
    message: dict[str, Any],
    caller: Caller,
    canaries: list[Canary],
    snap: Snapshot,
    files: FileSnap,
) -> list[str]:
    """Leaks in one server message for ``caller``."""
    leaks = []
    strings = list(flatten_strings(message))
    text = "\x00".join(strings)
    for rel, kind in data_url_files(strings, files):
        owner = file_owner(rel, snap)
        manager_ok = rel.startswith("signed/") and caller.role == "manager"
        if owner is None or (owner != caller.user_id and not manager_ok):
            whose = "nobody's" if owner is None else f"of user {owner}"
            leaks.append(f"private file {rel} ({whose}) sent back as {kind}")
    for canary in canaries:
        if canary.value in text and not caller.may_see(canary):
            if caller.sent_before(canary.value):
                continue
            whose = "a secret" if canary.owner is None else f"of user {canary.owner}"
            leaks.append(
                f"{canary.kind} ({whose}) sent back: {short(canary.value, 48)}"
            )
    records = snap.get("medicalrecord", {})
    for match in set(CANARY_RE.findall(text)):
        kind, owner, record_id = match[0], int(match[1]), int(match[2])
        if caller.user_id == owner or caller.role == "manager":
            continue
        if caller.sent_before(f"u{owner}-r{record_id}"):
            continue
        leaks.append(
            f"contents ({kind}) of record #{record_id} of user {owner} sent back"
        )
    for row in _record_rows(message):
        record = records.get(row.get("id")) if isinstance(row.get("id"), int) else None
        if record is None or caller.role == "manager":
            continue
        if record.get("doctor_id") != caller.user_id:
            leaks.append(
                f"record row #{row['id']} of user {record.get('doctor_id')} sent back "
                f"({short(row, 120)})"
            )
    for event in message.get("events") or []:
        if event.get("name") != "_redirect":
            continue
        target = str((event.get("payload") or {}).get("path", ""))
        match = re.search(r"/files/signed/(\d+)/", target)
        if match and caller.role != "manager":
            record = records.get(int(match.group(1)))
            if record is not None and record.get("doctor_id") != caller.user_id:
                leaks.append(
                    f"link to the signed PDF of record #{match.group(1)} of user "
                    f"{record.get('doctor_id')}: {short(target, 100)}"
                )
    return leaks


# --- the handlers, from the app -----------------------------------------------------

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


# --- crafted arguments --------------------------------------------------------------

HUGE = "长x" * 25_000  # 100 KB as UTF-8
HTML = "<script>alert('hostile')</script><img src=x onerror=alert(1)>"
SQL = "' OR 1=1 --"
TRAVERSAL = "../../secrets/kek.bin"


@dataclass
class Ids:
    """Ids from the running app's database that attackers aim at."""

    victim_user: int
    victim_records_unsigned: list[int]
    victim_records_signed: list[int]
    victim_seals: list[int]
    victim_confirmations: list[int]
    victim_files: list[str]
    own_unsigned: list[int]
    own_signed: list[int]
    victim_login: str
    reviews: list[int]


def ids_from(world: World, caller: Caller) -> Ids:
    db = world.db
    victim = world.victim.user_id
    own = caller.user_id or -1
    seals = [r["id"] for r in db.rows("SELECT id FROM seal WHERE user_id = ?", victim)]
    confs = [
        r["id"]
        for r in db.rows(
            "SELECT id FROM confirmation WHERE user_id = ? ORDER BY id", victim
        )
    ]
    files = [
        r["file_name"]
        for r in db.rows(
            "SELECT d.file_name FROM signeddocument d JOIN medicalrecord m "
            "ON m.id = d.record_id WHERE m.doctor_id = ?",
            victim,
        )
    ]
    reviews = [r["id"] for r in db.rows("SELECT id FROM manualreview")] or [1]
    return Ids(
        victim_user=victim,
        victim_records_unsigned=world.unsigned(victim)[:3],
        victim_records_signed=list(world.victim_signed),
        victim_seals=seals,
        victim_confirmations=confs,
        victim_files=files,
        own_unsigned=world.unsigned(own)[:2] if caller.user_id else [],
        own_signed=list(world.attacker_signed) if own == world.attacker.user_id else [],
        victim_login=world.victim.person.login_id,
        reviews=reviews,
    )


def _unique(values: list[Any]) -> list[Any]:
    seen, out = set(), []
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def int_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            *ids.victim_records_unsigned[:1],
            *ids.victim_records_signed[:1],
            *ids.victim_seals[:1],
            *ids.victim_confirmations[:1],
            ids.victim_user,
            *ids.own_unsigned[:1],
            0,
            -1,
            2**63,
            "1",
            None,
            {"id": 1},
            [1, 2],
            1.5,
        ]
    )


def id_list_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            list(range(1, 10_001)),  # 10k ids
            ids.victim_records_unsigned[:2],
            ids.victim_records_signed[:1],
            ids.own_unsigned[:1] + ids.victim_records_unsigned[:1],
            [0, -1, 2**63],
            ["1", None],
            [],
            None,
            "1,2",
            {"0": 1},
            ids.own_unsigned[:2] or [1],
        ]
    )


def str_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            "",
            HUGE,
            HTML,
            SQL,
            TRAVERSAL,
            "..%2f..%2fsecrets%2fkek.bin",
            "/etc/passwd\x00.png",
            ids.victim_login,
            *(ids.victim_files[:1]),
            "personal",
            "system",
            "qr",
            "signed",
            None,
            123,
            ["personal"],
            {"$ne": ""},
        ]
    )


def dict_values(ids: Ids) -> list[Any]:
    return [
        {},
        {"login_id": "hostile-nobody@8112", "password": SQL},
        {"login_id": {"$ne": 1}, "password": ["x"]},
        {"q": HTML, "progress": "NaN"},
        {"q": SQL, "progress": 1e308},
        {"q": HUGE},
        {"login_id": ids.victim_login, "name": HTML, "id_number": TRAVERSAL},
        None,
        ["a"],
        "form",
    ]


BOOL_VALUES = [True, False, "false", 0, None, [], {"x": 1}]
NUMBER_LIST_VALUES = [[50], [1e308], [-(10**9)], ["x"], [], None, [None], "50"]
UPLOAD_VALUES = [
    [],
    ["x"],
    [{"filename": TRAVERSAL, "data": "aGk=", "content_type": "image/png"}],
    None,
]


def values_for(annotation: Any, ids: Ids) -> list[Any]:
    """Crafted values for one parameter, from its annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for member in typing.get_args(annotation):
            if member is type(None):
                out.append(None)
            else:
                out.extend(values_for(member, ids))
        return _unique(out)
    if annotation is bool:
        return list(BOOL_VALUES)
    if annotation is int:
        return int_values(ids)
    if annotation is float:
        return [0.0, -1.0, 1e308, "1.5", None, [1.0]]
    if annotation is str:
        return str_values(ids)
    if annotation is dict or origin is dict:
        return dict_values(ids)
    if annotation is list or origin is list:
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        inner_name = getattr(inner, "__name__", str(inner))
        if "UploadFile" in inner_name:
            return list(UPLOAD_VALUES)
        if inner is int:
            return id_list_values(ids)
        if typing.get_origin(inner) in (
            typing.Union,
            types.UnionType,
        ):
            return list(NUMBER_LIST_VALUES)
        if inner is str:
            return [["personal"], [HTML], [TRAVERSAL], [], None, "x", [HUGE]]
        return list(NUMBER_LIST_VALUES)
    # Any / unannotated: a mix of everything.
    return _unique(
        [
            *int_values(ids)[:4],
            HTML,
            SQL,
            TRAVERSAL,
            HUGE,
            None,
            True,
            [],
            {},
            list(range(1, 10_001)),
        ]
    )


def plausible(annotation: Any, ids: Ids) -> Any:
    """A well-formed value for a parameter that is not the one being attacked."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        annotation = next(
            (a for a in typing.get_args(annotation) if a is not type(None)), Any
        )
        origin = typing.get_origin(annotation)
    if annotation is bool:
        return True
    if annotation is int:
        return (ids.victim_records_unsigned or [1])[0]
    if annotation is str:
        return "system"
    if annotation is dict or origin is dict:
        return {}
    if annotation is list or origin is list:
        return ids.victim_records_unsigned[:1]
    return None


def setvar_names(state: type) -> list[str]:
    """The var names ``setvar`` can reach on ``state`` (its ``set_*`` handlers) and
    some it must not."""
    names = sorted(
        n[len("set_") :] for n in state.event_handlers if n.startswith("set_")
    )
    return [*names, "token", "_original", TRAVERSAL]


def payloads(info: HandlerInfo, ids: Ids) -> list[Any]:
    """Every crafted payload for one handler (order fixed: deterministic)."""
    out: list[Any] = []
    if info.attr == "setvar":
        for var_name in setvar_names(info.state):
            for value in [ids.victim_records_unsigned[:2], HTML, None]:
                out.append({"var_name": var_name, "value": value})
        return out
    base = {name: plausible(ann, ids) for name, ann, _ in info.params}
    for name, annotation, _required in info.params:
        for value in values_for(annotation, ids):
            out.append({**base, name: value})
    out.append({})
    out.append({**base, "hostile_extra": HTML})
    out.append({**base, "self": 1})
    out.append(["not", "a", "dict"])
    return _unique(out)


def follow_up_payload(info: HandlerInfo, ids: Ids) -> dict[str, Any]:
    """Well-formed arguments for a handler called right after a primer (the primer
    put victim ids into the state; the follower uses the state): 0 for ints."""
    return {
        name: 0 if annotation is int else plausible(annotation, ids)
        for name, annotation, _ in info.params
    }


# --- running calls ------------------------------------------------------------------


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
