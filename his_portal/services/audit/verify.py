"""Verifying the chain, the head and every anchor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from his_portal.models import AuditAnchor, AuditEvent, AuditHead

if TYPE_CHECKING:
    pass

from his_portal.services.audit.chain import (
    GENESIS,
    HEAD_INVALID_ACTION,
    _audit_key,
    _entry_mac,
    _head_mac,
    _same,
)
from his_portal.services.audit.tokens import (
    _AnchorCheck,
    _check_tokens,
    _run,
    _trust_context_factory,
)

# Problem kinds (``Problem.kind``).
EDITED = "edited"
DELETED = "deleted"
REORDERED = "reordered"
INSERTED = "inserted"
TRUNCATED = "truncated"
HEAD_FORGED = "head forged"
HEAD_MISSING = "head missing"
ROLLED_BACK = "rolled back"
ANCHOR_INVALID = "anchor invalid"

#: How many MAC failures are tried against other positions to spot reordering.
_MOVE_CANDIDATES = 256
_YIELD_PER = 1000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log: ``seq`` is the first entry it concerns."""

    kind: str
    seq: int
    message: str


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`.

    ``first_broken_seq`` is None when intact; ``reason`` is the message of the
    problem at that seq; ``problems`` lists everything found, in log order.
    """

    checked: int
    first_broken_seq: int | None
    reason: str = ""
    problems: tuple[Problem, ...] = ()
    head_seq: int = 0
    anchors: int = 0
    latest_anchor_seq: int | None = None
    latest_anchor_time: datetime | None = None
    """The TSA's time (genTime) of the anchor with the highest seq, aware UTC."""

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None and not self.problems


# --- verifying -------------------------------------------------------------------


def _fmt(at: datetime | None, zone: tzinfo) -> str:
    if at is None:
        return "unknown time"
    local = at.astimezone(zone)
    name = "UTC" if zone is UTC else local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {name}"


def _span(first: int, last: int, one: str, many: str) -> str:
    return one.format(first) if first == last else many.format(first, last)


@dataclass
class _Walk:
    """State of the walk over the entries in seq order."""

    key: bytes
    anchor_seqs: set[int]
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    last_ok: bool = True
    hashes_at_anchors: dict[int, str] = field(default_factory=dict)
    bad_runs: list[list[int]] = field(default_factory=list)
    """Runs of consecutive seqs whose MAC does not verify, as [first, last]."""
    failing: list[AuditEvent] = field(default_factory=list)
    """The first few of those entries, to try at other positions."""

    def add(self, kind: str, seq: int, message: str) -> None:
        self.problems.append(Problem(kind, seq, message))

    def mac_failed(self, event: AuditEvent) -> None:
        run = self.bad_runs[-1] if self.bad_runs else None
        if run is not None and run[1] == event.seq - 1:
            run[1] = event.seq
        else:
            self.bad_runs.append([event.seq, event.seq])
        if len(self.failing) < _MOVE_CANDIDATES:
            self.failing.append(event)


def _walk(session: Session, key: bytes, anchor_seqs: set[int]) -> _Walk:
    walk = _Walk(key=key, anchor_seqs=anchor_seqs)
    statement = (
        select(AuditEvent)
        .order_by(col(AuditEvent.seq), col(AuditEvent.id))
        .execution_options(yield_per=_YIELD_PER)
    )
    for event in session.exec(statement):
        walk.checked += 1
        seq = event.seq
        mac_ok = _same(event.hash, _entry_mac(key, event))
        if seq in anchor_seqs and mac_ok:
            walk.hashes_at_anchors.setdefault(seq, event.hash)
        if seq < 1:
            walk.add(
                INSERTED, seq, f"entry with seq {seq}: no such position (inserted)"
            )
            continue
        if seq == walk.last_seq:
            walk.add(
                INSERTED,
                seq,
                f"entry {seq}: duplicate seq (a second row with this number was "
                "inserted)",
            )
            if mac_ok:  # this one is genuine: the other was the insert
                walk.last_hash, walk.last_ok = event.hash, True
            continue
        gap = seq > walk.last_seq + 1
        if gap:
            walk.add(
                DELETED,
                walk.last_seq + 1,
                _span(
                    walk.last_seq + 1,
                    seq - 1,
                    "entry {} missing (deleted)",
                    "entries {}-{} missing (deleted)",
                ),
            )
        if not mac_ok:
            walk.mac_failed(event)
        else:
            if not gap and walk.last_ok and event.prev_hash != walk.last_hash:
                walk.add(
                    EDITED,
                    seq,
                    f"entry {seq} does not link to entry {seq - 1} (the entry before "
                    "it was replaced)",
                )
            if event.action == HEAD_INVALID_ACTION:
                walk.add(
                    TRUNCATED,
                    seq,
                    f"entry {seq} records that the head did not verify when it was "
                    f"appended (head claimed seq {_claimed_head_seq(event.detail)}): "
                    "newest entries may have been deleted before it",
                )
        walk.last_seq, walk.last_hash, walk.last_ok = seq, event.hash, mac_ok
    return walk


def _claimed_head_seq(detail: str) -> str:
    try:
        return str(json.loads(detail).get("head_seq", "?"))
    except (ValueError, AttributeError):
        return "?"


def _moved(walk: _Walk) -> dict[int, int]:
    """Entries that verify at another position (seq values permuted or shifted):
    stored seq -> the seq they were written at."""
    candidates = {event.seq for event in walk.failing}
    candidates |= {seq + delta for seq in candidates for delta in (-1, 1)}
    moved: dict[int, int] = {}
    for event in walk.failing:
        for seq in sorted(candidates - {event.seq}):
            if seq >= 1 and _same(event.hash, _entry_mac(walk.key, event, seq)):
                moved[event.seq] = seq
                break
    return moved


def _report_mac_failures(walk: _Walk) -> None:
    moved = _moved(walk)
    for first, last in walk.bad_runs:
        run_start = None
        for seq in range(first, last + 2):
            if seq <= last and seq not in moved:
                run_start = seq if run_start is None else run_start
                continue
            if run_start is not None:
                _report_unverified(walk, run_start, seq - 1, moved)
                run_start = None
            if seq in moved:
                walk.add(
                    REORDERED,
                    seq,
                    f"entry stored at seq {seq} was written as seq {moved[seq]} "
                    "(entries reordered or renumbered)",
                )
    walk.problems.sort(key=lambda problem: problem.seq)


def _report_unverified(
    walk: _Walk, first: int, last: int, moved: dict[int, int]
) -> None:
    if moved.get(last + 1) == first:
        # The entries after this run were shifted up by its length to make room.
        walk.add(
            INSERTED,
            first,
            _span(first, last, "entry {} was", "entries {}-{} were")
            + " inserted (MAC does not verify; the entries after it were renumbered)",
        )
        return
    walk.add(
        EDITED,
        first,
        _span(
            first,
            last,
            "entry {}: MAC does not verify (entry edited or forged)",
            "entries {}-{}: MAC does not verify (entries edited or forged)",
        ),
    )


def _check_head(session: Session, walk: _Walk) -> int:
    head = session.get(AuditHead, 1)
    after = walk.last_seq + 1
    if head is None:
        if walk.checked:
            walk.add(
                HEAD_MISSING,
                after,
                "head row missing while the log has entries (newest entries may "
                "have been deleted)",
            )
        return walk.last_seq
    head_hash = head.hash or GENESIS
    if not _same(head.mac, _head_mac(walk.key, head.seq, head_hash)):
        walk.add(
            HEAD_FORGED,
            min(head.seq, walk.last_seq) + 1,
            f"head MAC does not verify (head forged: it claims seq {head.seq}; "
            "newest entries may have been deleted)",
        )
    if head.seq > walk.last_seq:
        walk.add(
            TRUNCATED,
            after,
            _span(
                after,
                head.seq,
                "entry {} missing at the end (newest entry deleted",
                "entries {}-{} missing at the end (newest entries deleted",
            )
            + f"; head is at seq {head.seq})",
        )
    elif head.seq < walk.last_seq:
        walk.add(
            INSERTED,
            head.seq + 1,
            _span(
                head.seq + 1,
                walk.last_seq,
                "entry {} is",
                "entries {}-{} are",
            )
            + f" beyond the head at seq {head.seq} (appended without the key, or "
            "the head was rolled back)",
        )
    elif head_hash != walk.last_hash:
        walk.add(
            HEAD_FORGED,
            head.seq,
            f"head does not match entry {head.seq} (head or newest entry replaced)",
        )
    return head.seq


def verify_chain(
    *,
    session: Session,
    key: bytes | None = None,
    tsa_trust_roots: Sequence[bytes] | None = None,
    system_trust: bool = False,
    zone: tzinfo = UTC,
) -> ChainReport:
    """Check every entry, the head and every anchor; report everything wrong.

    Args:
        session: Open database session (read only).
        key: The audit key; default the process's (configured or from the KEK).
        tsa_trust_roots: Certificates (PEM or DER) that anchor tokens must chain
            to; default the clinic CA stored in the database.
        system_trust: Also trust the operating system's roots (an external TSA).
        zone: Time zone for the times in messages.

    Raises:
        AuditError: ``key`` not given and the process's key is unavailable.
    """
    key = key or _audit_key()
    anchors = session.exec(
        select(AuditAnchor).order_by(col(AuditAnchor.seq), col(AuditAnchor.id))
    ).all()
    walk = _walk(session, key, {anchor.seq for anchor in anchors})
    _report_mac_failures(walk)
    head_seq = _check_head(session, walk)
    checks: list[_AnchorCheck] = []
    if anchors:
        context = _trust_context_factory(session, tsa_trust_roots, system_trust)
        checks = _run(lambda: _check_tokens(anchors, key, context))
    latest: _AnchorCheck | None = None
    for check in checks:
        anchor, when = check.anchor, _fmt(check.time, zone)
        if check.problem:
            walk.add(
                ANCHOR_INVALID,
                anchor.seq,
                f"anchor at seq {anchor.seq} ({when}): {check.problem}",
            )
            continue
        latest = check
        stored = walk.hashes_at_anchors.get(anchor.seq)
        if (
            anchor.seq > head_seq
            or anchor.seq > walk.last_seq
            or (stored is not None and stored != anchor.hash)
        ):
            walk.add(
                ROLLED_BACK,
                min(anchor.seq, walk.last_seq + 1),
                f"log rolled back behind anchor at seq {anchor.seq} ({when})",
            )
    problems = tuple(walk.problems)
    first = min(problems, key=lambda p: p.seq) if problems else None
    return ChainReport(
        checked=walk.checked,
        first_broken_seq=first.seq if first else None,
        reason=first.message if first else "",
        problems=problems,
        head_seq=head_seq,
        anchors=len(anchors),
        latest_anchor_seq=latest.anchor.seq if latest else None,
        latest_anchor_time=latest.time if latest else None,
    )
