"""A claimed batch as durable work: one ``BatchItem`` per record, signed by jobs on
the signing queue (:mod:`his_portal.worker`), any number of workers at once.

A batch is queued as one job per worker (:func:`run_batch`): each takes the next
item in order until none is left, so the workers share the batch without a queue
message per record; a single item is queued again on its own (:func:`run_item`).

Exactly once, whatever crashes: a worker takes an item by a conditional UPDATE that
sets a lease (``claimed_at``); signing itself claims the record row in the same
transaction that stores the PDF's hash (:func:`records.sign_record`), so a second
worker on the same item cannot sign it again; a worker that died holding an item
leaves it to be taken again when the lease runs out (:func:`stalled`). The item's
outcome is written only while it is still queued, and the last item to finish
closes the batch (:func:`batch.finish`, itself conditional) once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import (
    BatchItem,
    Clinic,
    Confirmation,
    MedicalRecord,
    Patient,
    SignedDocument,
    User,
    utcnow,
)
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser, view_of
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing.records import SignerKit, SignOutcome

__all__ = [
    "LEASE",
    "STOPPED",
    "BatchProgress",
    "ItemResult",
    "cancel_queued",
    "enqueue_plan",
    "finish_settled",
    "latest_batch",
    "progress",
    "run_batch",
    "run_item",
    "stalled",
]

#: How long a worker may hold an item; signing one record takes well under a second.
LEASE = timedelta(seconds=30)
STOPPED = "已停止，未签署"
_I = BatchItem.__table__.c


@dataclass(frozen=True)
class ItemResult:
    label: str
    status: str  # queued | signed | failed
    reason: str


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands, for the doctor's progress bar (their own batch only)."""

    confirmation_id: int
    total: int
    signed: int
    failed: int
    finished: bool
    items: tuple[ItemResult, ...]

    @property
    def done(self) -> int:
        return self.signed + self.failed


def enqueue_plan(
    session: Session, *, plan: sign_batch.BatchPlan, actor: Actor
) -> list[int]:
    """Write the claimed batch's items (commits) and return their ids, in order."""
    rows = session.exec(
        select(MedicalRecord.id, Patient.name, Patient.record_no)
        .join(Patient, Patient.id == MedicalRecord.patient_id)
        .where(col(MedicalRecord.id).in_(plan.record_ids))
    ).all()
    labels = {record_id: f"{name} {number}" for record_id, name, number in rows}
    session.execute(
        sa.update(Confirmation)
        .where(Confirmation.id == plan.confirmation_id)
        .values(batch_ip=actor.ip[:64], batch_user_agent=actor.user_agent[:255])
    )
    items = [
        BatchItem(
            confirmation_id=plan.confirmation_id,
            record_id=record_id,
            position=position,
            label=labels.get(record_id, str(record_id))[:100],
        )
        for position, record_id in enumerate(plan.record_ids)
    ]
    session.add_all(items)
    session.commit()
    return [item.id for item in items]


def _takeable(now: datetime) -> sa.ColumnElement[bool]:
    """Queued, and no worker holds it (never taken, or its lease ran out)."""
    return sa.and_(
        _I.status == "queued",
        sa.or_(_I.claimed_at.is_(None), _I.claimed_at < now - LEASE),
    )


def _take(session: Session, item_id: int, now: datetime) -> bool:
    taken = session.execute(
        sa.update(BatchItem)
        .where(_I.id == item_id, _takeable(now))
        .values(claimed_at=now, attempts=_I.attempts + 1)
    ).rowcount
    session.commit()
    return taken == 1


def _plan_and_actor(
    session: Session, confirmation_id: int
) -> tuple[sign_batch.BatchPlan, Actor, User]:
    row = session.get(Confirmation, confirmation_id)
    user = session.get(User, row.user_id)
    ids = tuple(int(i) for i in row.record_ids.split(",") if i)
    plan = sign_batch.BatchPlan(row.id, row.user_id, ids, row.method, row.seal_choice)
    actor = Actor(user.id, user.login_id, row.batch_ip, row.batch_user_agent)
    return plan, actor, user


@dataclass(frozen=True)
class _Batch:
    """What every item of a claimed batch shares (fixed once it is claimed)."""

    plan: sign_batch.BatchPlan
    actor: Actor
    signer: CurrentUser

    @classmethod
    def load(cls, session: Session, confirmation_id: int) -> _Batch:
        plan, actor, user = _plan_and_actor(session, confirmation_id)
        return cls(plan, actor, view_of(user, session.get(Clinic, user.clinic_id)))


def run_item(
    session: Session,
    *,
    item_id: int,
    signer: Callable[[Session, CurrentUser], SignerKit],
    sign_one: Callable[..., SignOutcome] = sign_batch.sign_one,
    now: datetime | None = None,
    **signing,
) -> bool:
    """One item's job: sign its record if this worker gets the item.

    Args:
        session: Open database session.
        item_id: The item.
        signer: Loads (or reuses) the doctor's :class:`SignerKit`; its
            :class:`HisError` becomes the item's failure.
        sign_one: The signing step (the batch's; replaceable in tests).
        now: The clock for the lease and the signature (default: now).
        signing: ``data_dir``, ``amend_days``, ``zone`` for :func:`batch.sign_one`.

    Returns:
        Whether this call handled the item (False: done already, or another
        worker holds it).
    """
    item = session.get(BatchItem, item_id)
    if item is None:
        return False
    batch = _Batch.load(session, item.confirmation_id)
    return _run(session, batch, item.id, item.record_id, signer, sign_one, now, signing)


def run_batch(
    session: Session,
    *,
    confirmation_id: int,
    signer: Callable[[Session, CurrentUser], SignerKit],
    sign_one: Callable[..., SignOutcome] = sign_batch.sign_one,
    clock: Callable[[], datetime] = utcnow,
    **signing,
) -> int:
    """A batch's job (one per worker): take its next queued item, in order, and
    sign it, until none is left to take. Arguments as :func:`run_item`; ``clock``
    gives each item's ``now``.

    Returns:
        How many items this call handled.
    """
    batch, handled = None, 0
    while True:
        now = clock()
        row = session.exec(
            select(BatchItem.id, BatchItem.record_id)
            .where(BatchItem.confirmation_id == confirmation_id, _takeable(now))
            .order_by(col(BatchItem.position))
            .limit(1)
        ).first()
        if row is None:
            return handled
        batch = batch or _Batch.load(session, confirmation_id)
        handled += _run(session, batch, *row, signer, sign_one, now, signing)


def _run(
    session: Session,
    batch: _Batch,
    item_id: int,
    record_id: int,
    signer: Callable[[Session, CurrentUser], SignerKit],
    sign_one: Callable[..., SignOutcome],
    now: datetime | None,
    signing: dict,
) -> bool:
    now = now or utcnow()
    if not _take(session, item_id, now):
        return False
    plan, actor = batch.plan, batch.actor
    try:
        kit = signer(session, batch.signer)
    except HisError as exc:
        outcome = SignOutcome(record_id, "", "", False, exc.message)
    else:
        outcome = sign_one(
            session,
            plan=plan,
            kit=kit,
            record_id=record_id,
            actor=actor,
            now=now,
            on_signed=lambda tx: tx.execute(_settled(item_id, "signed", "", now)),
            **signing,
        )
    if not outcome.ok:  # a signed item was settled with its signature
        ok = _signed_by(session, record_id, plan.confirmation_id)
        status, reason = ("signed", "") if ok else ("failed", outcome.message)
        session.execute(_settled(item_id, status, reason, now))
        session.commit()
    _finish_if_last(session, plan, actor)
    return True


def _signed_by(session: Session, record_id: int, confirmation_id: int) -> bool:
    """Signed under this confirmation already (a retry of a job that had signed)."""
    query = select(SignedDocument.id).where(
        SignedDocument.record_id == record_id,
        SignedDocument.confirmation_id == confirmation_id,
    )
    return session.exec(query).first() is not None


def _settled(item_id: int, status: str, reason: str, now) -> sa.Update:
    """The item's outcome; written only while it is still queued (once)."""
    return (
        sa.update(BatchItem)
        .where(_I.id == item_id, _I.status == "queued")
        .values(status=status, reason=reason[:200], finished_at=now)
    )


def _finish_if_last(session: Session, plan: sign_batch.BatchPlan, actor: Actor) -> None:
    waiting = session.exec(
        select(BatchItem.id)
        .where(
            BatchItem.confirmation_id == plan.confirmation_id,
            BatchItem.status == "queued",
        )
        .limit(1)
    ).first()
    if waiting is not None:  # the common case: one indexed probe, not the batch
        return
    row = session.get(Confirmation, plan.confirmation_id)
    if row.batch_finished_at is not None:
        return
    items = session.exec(
        select(BatchItem).where(BatchItem.confirmation_id == plan.confirmation_id)
    ).all()
    outcomes = [
        SignOutcome(i.record_id, "", i.label, i.status == "signed", i.reason)
        for i in sorted(items, key=lambda i: i.position)
    ]
    sign_batch.finish(session, plan=plan, outcomes=outcomes, actor=actor)


def finish_settled(session: Session) -> int:
    """Close the batches whose items are all done but that nobody closed (the worker
    of the last item died before it could). Returns how many were closed."""
    open_batches = session.exec(
        select(Confirmation.id).where(
            col(Confirmation.batch_started_at).is_not(None),
            col(Confirmation.batch_finished_at).is_(None),
        )
    ).all()
    closed = 0
    for confirmation_id in open_batches:
        plan, actor, _ = _plan_and_actor(session, confirmation_id)
        _finish_if_last(session, plan, actor)
        closed += (
            session.get(Confirmation, confirmation_id).batch_finished_at is not None
        )
    return closed


def _own_batch(session: Session, user, confirmation_id: int) -> Confirmation:
    row = session.get(Confirmation, confirmation_id)
    if row is None or row.user_id != user.id or row.batch_started_at is None:
        raise AccessDenied("没有这次签署")
    return row


def cancel_queued(session: Session, *, user, confirmation_id: int) -> int:
    """停止: the doctor's records not yet taken by a worker are not signed (commits).

    Returns:
        How many items were stopped.
    """
    _own_batch(session, user, confirmation_id)
    stopped = session.execute(
        sa.update(BatchItem)
        .where(
            _I.confirmation_id == confirmation_id,
            _I.status == "queued",
            _I.claimed_at.is_(None),
        )
        .values(status="failed", reason=STOPPED, finished_at=utcnow())
    ).rowcount
    session.commit()
    if stopped:
        plan, actor, _ = _plan_and_actor(session, confirmation_id)
        _finish_if_last(session, plan, actor)
    return stopped


def progress(session: Session, *, user, confirmation_id: int) -> BatchProgress:
    """The doctor's own batch: counts and each record's result, in order."""
    row = _own_batch(session, user, confirmation_id)
    items = session.exec(
        select(BatchItem)
        .where(BatchItem.confirmation_id == confirmation_id)
        .order_by(col(BatchItem.position))
    ).all()
    return BatchProgress(
        confirmation_id=confirmation_id,
        total=len(items),
        signed=sum(1 for i in items if i.status == "signed"),
        failed=sum(1 for i in items if i.status == "failed"),
        finished=row.batch_finished_at is not None,
        items=tuple(ItemResult(i.label, i.status, i.reason) for i in items),
    )


def latest_batch(session: Session, *, user, within: timedelta) -> int | None:
    """The doctor's newest batch started within ``within`` (a reloaded page shows
    its progress), or None."""
    return session.exec(
        select(Confirmation.id)
        .where(
            Confirmation.user_id == user.id,
            col(Confirmation.batch_started_at) >= utcnow() - within,
        )
        .order_by(col(Confirmation.batch_started_at).desc())
        .limit(1)
    ).first()


def stalled(session: Session, *, now: datetime | None = None) -> list[int]:
    """Items to queue again (commits): those a worker took and never finished (it
    died), and the untaken ones of a batch where nothing has happened for a lease
    (a worker died between taking the job off the queue and taking the item). A
    duplicate job is harmless: it finds its item taken or done."""
    now = now or utcnow()
    stale = now - LEASE
    queued = session.exec(
        select(BatchItem.id, BatchItem.confirmation_id, BatchItem.claimed_at).where(
            BatchItem.status == "queued"
        )
    ).all()
    if not queued:
        return []
    batches = {confirmation_id for _, confirmation_id, _ in queued}
    quiet = _quiet_batches(session, batches, stale)
    ids = [
        item_id
        for item_id, confirmation_id, claimed_at in queued
        if (claimed_at is not None and claimed_at < stale)
        or (claimed_at is None and confirmation_id in quiet)
    ]
    if ids:
        session.execute(
            sa.update(BatchItem)
            .where(
                col(BatchItem.id).in_(ids),
                sa.or_(_I.claimed_at.is_(None), _I.claimed_at < stale),
            )
            .values(claimed_at=None)
        )
        session.commit()
    return ids


def _quiet_batches(session: Session, batches: set[int], stale: datetime) -> set[int]:
    """The batches among ``batches`` that started, and last had an item taken or
    finished, before ``stale``."""
    latest = sa.type_coerce(
        func.max(func.coalesce(_I.finished_at, _I.claimed_at)), _I.finished_at.type
    )
    rows = session.exec(
        select(Confirmation.id, Confirmation.batch_started_at, latest)
        .join(BatchItem, BatchItem.confirmation_id == Confirmation.id)
        .where(col(Confirmation.id).in_(batches))
        .group_by(Confirmation.id, Confirmation.batch_started_at)
    ).all()
    return {
        confirmation_id
        for confirmation_id, started, last in rows
        if started is not None and started < stale and (last is None or last < stale)
    }
