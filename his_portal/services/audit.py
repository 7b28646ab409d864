"""Append-only audit log: a keyed MAC chain, a MAC'd head, and RFC 3161 anchors.

The scheme
----------
* Every entry's ``hash`` is ``HMAC-SHA256(audit_key, canonical fields + prev_hash)``
  where ``audit_key = keyvault.mac_key(kek, "audit")``. Plain SHA-256 could be
  recomputed by anyone with write access to the database; the MAC cannot be
  recomputed without the KEK, so an edited, forged, renumbered or moved entry no
  longer verifies.
* The single ``AuditHead`` row holds the newest ``seq`` and ``hash`` and
  ``mac = HMAC(audit_key, "head", seq, hash)``, rewritten in the same transaction as
  every append. Deleting the newest entries and resetting the head to match needs
  a head MAC, i.e. the key. Appends bump the head row first: that write takes the
  lock that serialises concurrent appends on PostgreSQL and SQLite alike.
* An append that finds a head whose MAC does not verify (forged, reset, or missing
  while entries exist) does not launder it by writing a fresh valid MAC: it first
  appends an ``audit.head_invalid`` entry recording what the head claimed, and
  :func:`verify_chain` reports that entry for ever after.
* :func:`anchor_head` gets an RFC 3161 timestamp token over
  ``SHA-256("seq|hash|mac")`` of the head from a TSA (the clinic's own or an
  external one) and stores it in ``AuditAnchor``. :func:`verify_chain` checks each
  token (signature, TSA certificate chain, imprint) and that the anchored entry is
  still in the log with the same hash, so restoring the log *and* the head to an
  older, internally consistent copy is caught against the latest anchor.

What it does not protect against
--------------------------------
* Anyone holding the KEK (a file outside the database) can rewrite the whole log
  with valid MACs, and since the KEK also opens the clinic TSA's key, can mint
  clinic-TSA anchors with any time as well. Anchors from an external TSA
  (``HIS_TSA_URL``) bound that damage in time: history before the latest such
  anchor cannot be rewritten without the rewrite showing, as long as its token
  survives.
* Anchors live in the same database: someone with write access can delete the
  anchor rows together with the entries they cover. Copies of the tokens kept
  outside the database (``anchor-audit`` prints each one it makes) survive that.
  Likewise the default trust root for tokens is the clinic CA certificate stored
  in the database.
* Restoring an older copy of the log and the head (every MAC in it valid) is
  caught only for history covered by an anchor: entries written after the latest
  anchor can vanish that way unnoticed. The window is the anchoring interval, so
  call :func:`anchor_head` often (it costs two reads when nothing changed).
  Wiping the log, the head and the anchors leaves what looks like a fresh install.
* Entries written by the earlier unkeyed scheme (plain SHA-256) do not verify
  under the key; such a log has to be re-sealed deliberately by an operator who
  has checked it, which this module does not do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from his_portal.errors import HisError
from his_portal.models import AuditAnchor, AuditEvent, AuditHead, utcnow
from his_portal.services.pki import keyvault
from his_portal.settings import get_settings

if TYPE_CHECKING:
    from his_portal.adapters.tsa_client import TimestampSource
    from his_portal.services.pki.timestamp_authority import TimestampAuthority

__all__ = [
    "HEAD_INVALID_ACTION",
    "Actor",
    "AuditError",
    "ChainReport",
    "Problem",
    "anchor_head",
    "clinic_tsa",
    "configure",
    "record_event",
    "verify_chain",
]

GENESIS = "0" * 64
#: The entry an append writes before its own when the head did not verify.
HEAD_INVALID_ACTION = "audit.head_invalid"

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


class AuditError(HisError):
    """The audit log cannot be written or anchored; ``message`` is Chinese."""


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    user_id: int | None = None
    login_id: str = ""
    ip: str = ""
    user_agent: str = ""


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


# --- the key ---------------------------------------------------------------------

_key_lock = threading.Lock()
_key: bytes | None = None


def configure(key: bytes | None) -> None:
    """Use ``key`` as this process's audit MAC key (tests, tools).

    Without a call, the key is derived once from the KEK file in the settings
    (``keyvault.mac_key(kek, "audit")``). ``None`` forgets a configured or cached
    key, so the next use loads it from the KEK again.
    """
    global _key
    if key is not None and (not isinstance(key, bytes) or len(key) < 16):
        raise ValueError("audit key must be at least 16 bytes")
    with _key_lock:
        _key = key


def _audit_key() -> bytes:
    global _key
    key = _key
    if key is not None:
        return key
    with _key_lock:
        if _key is None:
            # A failure is not cached: once `cli init` has created the KEK, the
            # next append succeeds.
            try:
                kek = keyvault.load_or_create_kek(get_settings().kek_file, create=False)
                _key = keyvault.mac_key(kek, "audit")
            except keyvault.KekError as exc:
                raise AuditError(
                    f"审计日志密钥不可用，拒绝写入未加密校验的审计记录：{exc.message}"
                ) from exc
        return _key


# --- MACs ------------------------------------------------------------------------


def _mac(key: bytes, payload: list[Any]) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # UTCDateTime returns aware values; be safe anyway
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _entry_mac(key: bytes, event: AuditEvent, seq: int | None = None) -> str:
    """The entry's MAC as written at ``seq`` (default: its stored seq)."""
    return _mac(
        key,
        [
            "entry",
            event.seq if seq is None else seq,
            _iso(event.at),
            event.actor_id,
            event.actor_login,
            event.action,
            event.target,
            event.detail,
            event.ip,
            event.user_agent,
            event.prev_hash,
        ],
    )


def _head_mac(key: bytes, seq: int, hash_: str) -> str:
    return _mac(key, ["head", seq, hash_])


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- appending -------------------------------------------------------------------


def _ensure_head(session: Session, key: bytes) -> None:
    if session.get(AuditHead, 1) is not None:
        return
    last = session.exec(
        select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    if last is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS, mac=_head_mac(key, 0, GENESIS))
    else:
        # Entries but no head: it was deleted. Continue after the newest entry with
        # an unverifiable head, so the next append records that (never re-MAC it).
        head = AuditHead(id=1, seq=last.seq, hash=last.hash, mac="")
    try:
        # Two first appends may race to create the row: the loser's insert fails
        # inside the savepoint, and it goes on with the winner's row.
        with session.begin_nested():
            session.add(head)
    except IntegrityError:
        pass


def _write(
    session: Session,
    head: AuditHead,
    key: bytes,
    *,
    actor: Actor,
    action: str,
    target: str,
    detail: dict[str, Any] | None,
) -> AuditEvent:
    event = AuditEvent(
        seq=head.seq,
        at=utcnow(),
        actor_id=actor.user_id,
        actor_login=actor.login_id[:64],
        action=action,
        target=target,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:255],
        prev_hash=head.hash or GENESIS,
        hash="",
    )
    event.hash = _entry_mac(key, event)
    head.hash = event.hash
    head.mac = _head_mac(key, head.seq, head.hash)
    session.add(event)
    session.add(head)
    session.flush()
    return event


def record_event(
    *,
    session: Session,
    actor: Actor,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (committed with the change it logs).

    Args:
        session: Open database session; the caller commits.
        actor: Who acted.
        action: Dotted event name, e.g. ``auth.login_failed``.
        target: What was acted on, e.g. ``record:42``.
        detail: JSON-serialisable facts about the event.

    Returns:
        The new, flushed event.

    Raises:
        AuditError: The audit key is unavailable (KEK missing); nothing is written.
    """
    key = _audit_key()
    _ensure_head(session, key)
    table = AuditHead.__table__
    # Taking the head's row lock first serialises appends; until commit, this
    # transaction owns the head.
    session.execute(table.update().where(table.c.id == 1).values(seq=table.c.seq + 1))
    head = session.get(AuditHead, 1, populate_existing=True)
    claimed_seq, claimed_hash = head.seq - 1, head.hash or GENESIS
    if not _same(head.mac, _head_mac(key, claimed_seq, claimed_hash)):
        # Do not extend (and so launder) a head nobody with the key wrote: record
        # what it claimed, continuing after the newest entry actually present.
        newest = session.exec(
            select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
        ).first()
        head.seq = newest.seq + 1 if newest else 1
        claimed = {
            "head_seq": claimed_seq,
            "head_hash": head.hash,
            "head_mac": head.mac,
            "newest_seq": newest.seq if newest else 0,
        }
        head.hash = newest.hash if newest else GENESIS
        _write(
            session,
            head,
            key,
            actor=Actor(login_id="system"),
            action=HEAD_INVALID_ACTION,
            target="audit:head",
            detail=claimed,
        )
        head.seq += 1
    return _write(
        session, head, key, actor=actor, action=action, target=target, detail=detail
    )


# --- anchoring -------------------------------------------------------------------


def _imprint_data(seq: int, hash_: str, mac: str) -> bytes:
    return f"{seq}|{hash_}|{mac}".encode()


def clinic_tsa(session: Session, kek: bytes) -> TimestampAuthority:
    """The clinic's built-in TSA, as record signing builds it.

    Raises:
        keyvault.PkiError: No clinic CA yet (``cli init``), or the KEK does not
            open the TSA key.
    """
    from his_portal.services.pki import certificates
    from his_portal.services.pki.timestamp_authority import TimestampAuthority

    ca = certificates.load_authority(session=session, kek=kek)
    tsa = certificates.load_authority(
        session=session, kek=kek, purpose=certificates.TSA
    )
    return TimestampAuthority(
        cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca.cert_pem]
    )


def anchor_head(
    *,
    session: Session,
    tsa: TimestampSource,
    now: datetime | None = None,
    key: bytes | None = None,
) -> AuditAnchor | None:
    """Timestamp the current head with ``tsa`` and store the token (caller commits).

    Cheap when nothing changed: two primary-key / indexed reads, no TSA call.

    Args:
        session: Open database session.
        tsa: Anything with ``timestamp(request_der) -> response_der``: the clinic's
            :class:`~.pki.timestamp_authority.TimestampAuthority` (see
            :func:`clinic_tsa`) or an external
            :class:`~his_portal.adapters.tsa_client.HttpTimestampSource`.
        now: Our clock for ``AuditAnchor.at`` (the token carries the TSA's time).
        key: The audit key; default the process's.

    Returns:
        The new anchor, or None when the log is empty or the head has not moved
        since the latest anchor.

    Raises:
        AuditError: The head does not verify (it is not anchored), or the TSA
            failed or answered something else.
    """
    from his_portal.adapters.tsa_client import (
        TsaProviderError,
        build_request,
        token_from_response,
    )

    head = session.get(AuditHead, 1)
    if head is None or head.seq <= 0:
        return None
    latest = session.exec(
        select(AuditAnchor).order_by(col(AuditAnchor.id).desc()).limit(1)
    ).first()
    if latest is not None and latest.seq == head.seq and latest.hash == head.hash:
        return None
    key = key or _audit_key()
    newest = session.exec(select(AuditEvent).where(AuditEvent.seq == head.seq)).first()
    if (
        not _same(head.mac, _head_mac(key, head.seq, head.hash))
        or newest is None
        or newest.hash != head.hash
        or not _same(newest.hash, _entry_mac(key, newest))
    ):
        raise AuditError(
            "审计日志头部校验失败，不予加盖时间戳，请运行 verify-audit 检查"
        )
    request, _nonce = build_request(_imprint_data(head.seq, head.hash, head.mac))
    try:
        token = token_from_response(tsa.timestamp(request), request_der=request)
    except TsaProviderError as exc:
        raise AuditError(f"审计日志加盖时间戳失败：{exc.message}") from exc
    anchor = AuditAnchor(
        seq=head.seq,
        hash=head.hash,
        at=now or utcnow(),
        token=base64.b64encode(token.dump()).decode("ascii"),
    )
    session.add(anchor)
    session.flush()
    return anchor


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


def _trust_context_factory(
    session: Session, roots: Sequence[bytes] | None, system_trust: bool
) -> Callable[[datetime], Any]:
    from asn1crypto import pem, x509
    from pyhanko_certvalidator import ValidationContext

    if roots is None:
        from his_portal.services.pki import certificates
        from his_portal.services.pki.keyvault import PkiError

        try:
            roots = [certificates.ca_certificate_pem(session=session)]
        except PkiError:
            roots = []
    certs = []
    for data in roots:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        certs.append(x509.Certificate.load(der))

    def make(moment: datetime) -> ValidationContext:
        trust = {"extra_trust_roots": certs} if system_trust else {"trust_roots": certs}
        return ValidationContext(
            **trust, allow_fetching=False, revocation_mode="soft-fail", moment=moment
        )

    return make


@dataclass(frozen=True)
class _AnchorCheck:
    anchor: AuditAnchor
    time: datetime | None
    problem: str = ""


async def _check_tokens(
    anchors: Sequence[AuditAnchor], key: bytes, context: Callable[[datetime], Any]
) -> list[_AnchorCheck]:
    from asn1crypto import cms
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    results = []
    for anchor in anchors:
        try:
            info = cms.ContentInfo.load(base64.b64decode(anchor.token, validate=True))
            signed_data = info["content"]
            tst_info = signed_data["encap_content_info"]["content"].parsed
            gen_time = tst_info["gen_time"].native
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            results.append(_AnchorCheck(anchor, None, "timestamp token unreadable"))
            continue
        data = _imprint_data(
            anchor.seq, anchor.hash, _head_mac(key, anchor.seq, anchor.hash)
        )
        try:
            kwargs = await validate_tst_signed_data(
                signed_data,
                context(gen_time),
                lambda algorithm, data=data: hashlib.new(algorithm, data).digest(),
            )
            status = TimestampSignatureStatus(**kwargs)
        except (SignatureValidationError, ValueError, TypeError, KeyError) as exc:
            problem = f"timestamp token does not verify ({exc})"
            results.append(_AnchorCheck(anchor, gen_time, problem))
            continue
        if not status.intact:
            problem = "token does not cover this seq and hash (anchor row altered)"
        elif not status.valid:
            problem = "TSA signature does not verify"
        elif not status.trusted:
            problem = f"TSA certificate not trusted ({status.trust_problem_indic})"
        else:
            problem = ""
        results.append(_AnchorCheck(anchor, gen_time, problem))
    return results


def _run(make_coroutine: Callable[[], Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    # Called from async code (an event handler): pyHanko's validator wants its own
    # loop, so give it one in a worker thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


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
