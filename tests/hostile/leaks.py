"""What must never show: the canaries, who may see them, and the scan of what the
server sends back.

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
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hostile.ownership import file_owner
from tests.hostile.reflex_protocol import flatten_strings
from tests.hostile.reflex_sync import ReflexClient
from tests.hostile.snapshots import FileSnap, Snapshot, short
from tests.hostile.world import CANARY_RE, World


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
