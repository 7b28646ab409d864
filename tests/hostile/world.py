"""The hostile suite's world: the running app's people, their data, and the canaries.

Everything here is done the way real users do it, over the websocket with
:class:`ReflexClient` (实名认证, 电子签名 switch, 个性签章 from the signature pad,
批量签名 with the demo SMS code read from the outbox table), so the victim owns real
signed PDFs, seals, confirmations and SMS codes that attackers can then go after.

The only direct database write is planting canaries into every medical record's text
before anything is signed: ``HOSTILE-CANARY-<field>-u<doctor id>-r<record id>``, so a
record's contents are recognised (and their owner known) wherever they show up.
"""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hostile.reflex_protocol import ReflexError
from tests.hostile.reflex_sync import ReflexClient

PASSWORD = "Demo@2026"  # README: all demo accounts
CANARY_PREFIX = "HOSTILE-CANARY-"
CANARY_RE = re.compile(r"HOSTILE-CANARY-(TI|CC|DX)-u(\d+)-r(\d+)")


@dataclass(frozen=True)
class Person:
    login_id: str
    name: str
    role: str
    id_number: str = ""
    mobile: str = ""


# README: the demo accounts and the numbers the demo identity registry knows.
VICTIM = Person("sh-wangli@8112", "王莉", "doctor", "310104199002152222", "13800138001")
ATTACKER = Person(
    "sh-feihuan@8112", "郑程", "doctor", "310101198503120014", "13800138000"
)
MANAGER = Person("sh-manager@8112", "陈静", "manager")
ADMIN = Person("sh-admin@8112", "系统管理员", "admin")


def handler(state_cls: type, name: str) -> str:
    """The full event name of ``state_cls.name`` (from the app's own classes)."""
    if name not in state_cls.event_handlers:
        raise AssertionError(f"{state_cls.__name__} has no handler {name!r}")
    return f"{state_cls.get_full_name()}.{name}"


def states():
    """The app's state classes the setup drives (imported lazily: settings)."""
    from his_portal.states.profile import ProfileState
    from his_portal.states.seals import SealState
    from his_portal.states.sign_flow import SignFlowState
    from his_portal.states.workbench import WorkbenchState

    return ProfileState, SealState, SignFlowState, WorkbenchState


class Db:
    """Read-only access to the running app's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row

    def rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        for attempt in range(50):
            try:
                return list(self.conn.execute(sql, args))
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.1 * (attempt + 1))
        return list(self.conn.execute(sql, args))

    @contextmanager
    def transaction(self):
        """A read transaction: the statements inside see one state of the file."""
        self.rows("BEGIN")
        try:
            yield
        finally:
            self.conn.rollback()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        found = self.rows(sql, *args)
        return found[0] if found else None

    def data_version(self) -> int:
        return self.rows("PRAGMA data_version")[0][0]

    def user_id(self, login_id: str) -> int:
        return self.one("SELECT id FROM user WHERE login_id = ?", login_id)["id"]

    def close(self) -> None:
        self.conn.close()


def plant_canaries(db_path: Path) -> int:
    """Write the canary texts into every record (before the app signs any)."""
    with closing(sqlite3.connect(db_path, timeout=30)) as conn:
        rows = conn.execute("SELECT id, doctor_id FROM medicalrecord").fetchall()
        for record_id, doctor_id in rows:
            tag = f"u{doctor_id}-r{record_id}"
            conn.execute(
                "UPDATE medicalrecord SET title = ?, chief_complaint = ?, "
                "diagnosis = ? WHERE id = ?",
                (
                    f"{CANARY_PREFIX}TI-{tag}",
                    f"主诉 {CANARY_PREFIX}CC-{tag}",
                    f"诊断 {CANARY_PREFIX}DX-{tag}",
                    record_id,
                ),
            )
        conn.commit()
    return len(rows)


def signature_png() -> bytes:
    """A handwritten-looking signature on white, as the signature pad sends it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 200), "white")
    draw = ImageDraw.Draw(image)
    points = [(40, 150), (120, 40), (180, 160), (260, 50), (330, 150), (420, 60)]
    draw.line(points, fill=(20, 20, 30), width=9, joint="curve")
    draw.line([(450, 120), (560, 90)], fill=(20, 20, 30), width=7)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def toasts(updates: list[dict[str, Any]]) -> list[str]:
    """The toast texts among the updates' frontend events (for failure messages)."""
    found = []
    for update in updates:
        for event in update.get("events") or []:
            text = str((event.get("payload") or {}).get("function", ""))
            if "toast" in text:
                found.append(text.encode().decode("unicode_escape", "replace")[:200])
    return found


@dataclass
class Actor:
    """A logged-in caller: the person, their user id and a connected tab."""

    person: Person
    user_id: int
    client: ReflexClient
    spare_tokens: list[str] = field(default_factory=list)


@dataclass
class World:
    base_url: str
    data_dir: Path
    db: Db
    victim: Actor
    attacker: Actor
    manager: Actor
    admin: Actor
    victim_signed: list[int] = field(default_factory=list)
    victim_unsigned: list[int] = field(default_factory=list)
    attacker_signed: list[int] = field(default_factory=list)
    attacker_unsigned: list[int] = field(default_factory=list)
    victim_ticket_url: str = ""  # issued at build time, never used
    victim_ticket_at: float = 0.0
    attacker_ticket_url: str = ""
    seal_png: bytes = b""
    # Tokens and client ids that belong to someone (user id -> values).
    known_tokens: dict[int, set[str]] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "his_portal.db"

    def actors(self) -> list[Actor]:
        return [self.victim, self.attacker, self.manager, self.admin]

    def remember(self, actor: Actor) -> None:
        tokens = self.known_tokens.setdefault(actor.user_id, set())
        tokens.update(t for t in (actor.client.session_token,) if t)
        tokens.update(actor.spare_tokens)
        tokens.add(actor.client.client_token)

    def unsigned(self, user_id: int) -> list[int]:
        rows = self.db.rows(
            "SELECT id FROM medicalrecord WHERE doctor_id = ? AND sign_status = "
            "'unsigned' AND lock_status = 'open' ORDER BY id",
            user_id,
        )
        return [r["id"] for r in rows]


def login(base_url: str, person: Person, db: Db, path: str = "/login") -> Actor:
    client = ReflexClient(base_url)
    client.connect(path)
    client.login(person.login_id, PASSWORD)
    return Actor(person, db.user_id(person.login_id), client)


def spare_session(base_url: str, person: Person) -> str:
    """A second login session of ``person`` (its tab closed, the session kept)."""
    client = ReflexClient(base_url)
    try:
        client.connect("/login")
        return client.login(person.login_id, PASSWORD)
    finally:
        client.close()


def _profile(db: Db, user_id: int) -> sqlite3.Row | None:
    return db.one("SELECT * FROM doctorprofile WHERE user_id = ?", user_id)


def ensure_signer(actor: Actor, db: Db) -> None:
    """实名认证 and 电子签名 on, through the 个人中心 handlers, if not already."""
    profile_state, seal_state, _, _ = states()
    client = actor.client
    row = _profile(db, actor.user_id)
    log: list[str] = []
    if row is None or row["verification_status"] != "verified":
        client.call(handler(profile_state, "on_load"), _path="/me")
        person = actor.person
        fields = {
            "name": person.name,
            "id_type": "resident",
            "id_number": person.id_number,
            "email": "",
            "mobile": person.mobile,
            "address": "",
        }
        for name, value in fields.items():
            client.call(
                handler(profile_state, "set_field"), _path="/me", name=name, value=value
            )
        log += toasts(
            client.call(handler(profile_state, "save"), _path="/me", _form={})
        )
        log += toasts(client.call(handler(profile_state, "verify"), _path="/me"))
        row = _profile(db, actor.user_id)
    if row is None or row["verification_status"] != "verified":
        raise AssertionError(
            f"实名认证 of {actor.person.login_id} did not pass: "
            f"{row and dict(row)}; {log}"
        )
    if not row["esign_enabled"]:
        log += toasts(
            client.call(handler(seal_state, "set_esign"), _path="/me", value=True)
        )
        row = _profile(db, actor.user_id)
    if not row["esign_enabled"]:
        raise AssertionError(f"电子签名 of {actor.person.login_id} stayed off: {log}")


def make_seal(actor: Actor, db: Db, png: bytes) -> None:
    """个性签章 from the signature pad (the editor's own handlers)."""
    _, seal_state, _, _ = states()
    client = actor.client
    client.call(handler(seal_state, "on_load"), _path="/me")
    client.call(handler(seal_state, "open_editor"), _path="/me")
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    client.call(handler(seal_state, "save_pad"), _path="/me", data_url=url)
    updates = client.call(handler(seal_state, "save"), _path="/me")
    row = db.one("SELECT id FROM seal WHERE user_id = ? AND active = 1", actor.user_id)
    if row is None:
        error = client.var(seal_state.get_full_name(), "error")
        raise AssertionError(f"个性签章 not saved: {error!r} {toasts(updates)}")


def latest_code(db: Db, user_id: int, mobile: str, after_id: int) -> str:
    """The 6-digit code of the newest demo SMS to the doctor (the /dev/sms outbox)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = db.one(
            "SELECT id, body FROM smsmessage WHERE id > ? AND (user_id = ? OR "
            "mobile = ?) ORDER BY id DESC",
            after_id,
            user_id,
            mobile,
        )
        if row is not None:
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", row["body"])
            if match:
                return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no demo SMS with a code reached {mobile}")


def sign_records(actor: Actor, db: Db, record_ids: list[int]) -> None:
    """批量签名 → 获取验证码 → code from the outbox → 确认 → 签署, then wait for the
    background batch to finish."""
    _, _, sign_flow, _ = states()
    client = actor.client
    name = sign_flow.get_full_name()
    last = db.one("SELECT max(id) AS id FROM smsmessage")["id"] or 0
    log = toasts(
        client.call(
            handler(sign_flow, "begin"), _path="/workbench", record_ids=record_ids
        )
    )
    log += toasts(client.call(handler(sign_flow, "send_code"), _path="/workbench"))
    code = latest_code(db, actor.user_id, actor.person.mobile, last)
    client.call(handler(sign_flow, "set_code"), _path="/workbench", value=code)
    client.call(handler(sign_flow, "confirm_code"), _path="/workbench")
    if client.var(name, "step") != "sign":
        raise AssertionError(
            f"意愿校验 of {actor.person.login_id} did not pass: "
            f"{client.var(name, 'message')!r} {log}"
        )
    client.call_result(handler(sign_flow, "sign"), {}, path="/workbench", settle=1.0)
    deadline = time.monotonic() + 120
    marks = ",".join("?" * len(record_ids))
    while time.monotonic() < deadline:
        signed = db.rows(
            f"SELECT id FROM medicalrecord WHERE id IN ({marks}) AND "
            "sign_status = 'signed'",
            *record_ids,
        )
        if len(signed) == len(record_ids) and client.var(name, "step") == "done":
            return
        client.drain(0.5)
    raise AssertionError(
        f"batch of {actor.person.login_id} did not sign {record_ids}: "
        f"{client.var(name, 'results')!r} {client.var(name, 'message')!r}"
    )


def ticket_url(actor: Actor, record_id: int) -> str:
    """查看: the signed PDF's ticket URL the app redirects to."""
    _, _, _, workbench = states()
    updates = actor.client.call(
        handler(workbench, "view_pdf"), _path="/workbench", record_id=record_id
    )
    for update in updates:
        for event in update.get("events") or []:
            if event.get("name") == "_redirect":
                return str(event["payload"]["path"])
    raise AssertionError(f"查看 of record {record_id} gave no link: {toasts(updates)}")


def build_world(base_url: str, data_dir: Path) -> World:
    """Log everyone in and give the victim (and the attacker) real data."""
    db_path = data_dir / "his_portal.db"
    if not db_path.is_file():
        raise AssertionError(f"no database at {db_path}")
    plant_canaries(db_path)
    db = Db(db_path)
    try:
        victim = login(base_url, VICTIM, db, "/workbench")
        attacker = login(base_url, ATTACKER, db, "/workbench")
        manager = login(base_url, MANAGER, db, "/manage")
        admin = login(base_url, ADMIN, db, "/admin")
    except ReflexError as exc:
        raise AssertionError(f"demo login failed: {exc}") from exc
    world = World(base_url, data_dir, db, victim, attacker, manager, admin)
    world.seal_png = signature_png()

    ensure_signer(victim, db)
    make_seal(victim, db, world.seal_png)
    mine = world.unsigned(victim.user_id)
    sign_records(victim, db, mine[:2])
    world.victim_signed = mine[:2]
    # A confirmation left pending (no code sent: the SMS cooldown is per mobile).
    _, _, sign_flow, _ = states()
    victim.client.call(
        handler(sign_flow, "begin"), _path="/workbench", record_ids=mine[2:4]
    )
    victim.client.call(handler(sign_flow, "close"), _path="/workbench")
    world.victim_unsigned = world.unsigned(victim.user_id)
    world.victim_ticket_url = ticket_url(victim, world.victim_signed[0])
    world.victim_ticket_at = time.time()

    ensure_signer(attacker, db)
    own = world.unsigned(attacker.user_id)
    sign_records(attacker, db, own[:1])
    world.attacker_signed = own[:1]
    world.attacker_unsigned = world.unsigned(attacker.user_id)
    world.attacker_ticket_url = ticket_url(attacker, world.attacker_signed[0])

    for actor in world.actors():
        actor.spare_tokens = [spare_session(base_url, actor.person) for _ in range(3)]
        world.remember(actor)
    return world
