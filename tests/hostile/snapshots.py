"""Snapshots of the running app's world and their differences: every database table
(ignored tables left out) and every private file under the data dir."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hostile.world import Db

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
SKIP_FILES = re.compile(
    r"(^|/)(his_portal|signing-queue)\.db(-journal|-wal|-shm)?$|\.log$|\.lock$"
)
ARGS_REPR = 160


def short(value: Any, limit: int = ARGS_REPR) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 20] + f"…({len(text)} chars)"
    return text


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
