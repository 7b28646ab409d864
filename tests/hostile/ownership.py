"""Who may change what: the ownership rules per table and per private file.

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
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.hostile.snapshots import RowChange, Snapshot

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


def file_owner(rel: str, snap: Snapshot) -> Any:
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] == "seals" and parts[1].isdigit():
        return int(parts[1])
    if len(parts) >= 3 and parts[0] == "signed" and parts[1].isdigit():
        record = snap.get("medicalrecord", {}).get(int(parts[1]))
        return record["doctor_id"] if record else None
    return None
