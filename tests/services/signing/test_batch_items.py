"""A batch as queued items: every record signed exactly once, whatever the workers
do (race, die holding an item, die after signing), and only the doctor sees it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import (
    BatchItem,
    Confirmation,
    Notification,
    SignedDocument,
)
from his_portal.services.audit import Actor
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import batch_items
from his_portal.services.signing import records as record_signing
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.identity.identity_helpers import DOCTOR, KEK
from tests.services.willingness import willingness_helpers as wh
from tests.services.willingness.willingness_helpers import (
    confirmed_by_sms,
    consume,
    doctor,
)

T = NOW + timedelta(minutes=1)
ACTOR = Actor(login_id=DOCTOR, ip="10.0.0.8", user_agent="test-browser")


def claimed(session) -> tuple[sign_batch.BatchPlan, list[int]]:
    started = confirmed_by_sms(session)
    consume(session, started, now=T)
    plan = sign_batch.claim(
        session,
        user=doctor(session),
        confirmation_id=started.confirmation_id,
        session_token=wh.TOKEN,
        secret=wh.SECRET,
        now=T,
    )
    return plan, batch_items.enqueue_plan(session, plan=plan, actor=ACTOR)


def signer(session, user):
    return record_signing.load_signer(session=session, user=user, kek=KEK, now=T)


def run(session, item_id, tmp_path, now=T, **kwargs):
    return batch_items.run_item(
        session,
        item_id=item_id,
        signer=kwargs.pop("signer", signer),
        now=now,
        data_dir=tmp_path,
        amend_days=7,
        zone=ZONE,
        **kwargs,
    )


def documents(session, record_id) -> int:
    query = select(func.count()).where(SignedDocument.record_id == record_id)
    return session.exec(query).one()


def test_each_item_is_signed_once_and_the_batch_closes_once(db, tmp_path):
    plan, item_ids = claimed(db)
    assert [run(db, item_id, tmp_path) for item_id in item_ids] == [True] * 3
    assert [run(db, item_id, tmp_path) for item_id in item_ids] == [False] * 3
    assert all(documents(db, record_id) == 1 for record_id in plan.record_ids)
    shown = batch_items.progress(
        db, user=doctor(db), confirmation_id=plan.confirmation_id
    )
    assert (shown.total, shown.signed, shown.failed, shown.finished) == (3, 3, 0, True)
    assert all(item.label and item.status == "signed" for item in shown.items)
    row = db.get(Confirmation, plan.confirmation_id)
    assert row.batch_finished_at is not None and row.batch_ip == "10.0.0.8"
    notices = db.exec(select(Notification).where(Notification.kind == "batch")).all()
    assert len(notices) == 1


def in_two_workers(engine, job) -> list:
    """``job(session)`` in two threads at once, each with its own connection (a
    database file, as worker processes have); their results."""
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with Session(engine) as session:
            barrier.wait()
            results.append(job(session))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_workers_on_one_item_sign_it_once(file_engine, tmp_path):
    with Session(file_engine) as session:
        plan, item_ids = claimed(session)
    results = in_two_workers(file_engine, lambda s: run(s, item_ids[0], tmp_path))
    assert sorted(results) == [False, True]
    with Session(file_engine) as session:
        assert documents(session, plan.record_ids[0]) == 1


def run_batch(session, confirmation_id, tmp_path):
    return batch_items.run_batch(
        session,
        confirmation_id=confirmation_id,
        signer=signer,
        clock=lambda: T,
        data_dir=tmp_path,
        amend_days=7,
        zone=ZONE,
    )


def test_the_batch_job_signs_every_item_in_order_and_closes_the_batch(db, tmp_path):
    plan, _ = claimed(db)
    assert run_batch(db, plan.confirmation_id, tmp_path) == 3
    assert run_batch(db, plan.confirmation_id, tmp_path) == 0
    signed = db.exec(select(SignedDocument.record_id).order_by(SignedDocument.id)).all()
    assert signed == list(plan.record_ids)
    assert db.get(Confirmation, plan.confirmation_id).batch_finished_at is not None


def test_two_workers_on_one_batch_share_it_and_sign_each_record_once(
    file_engine, tmp_path
):
    with Session(file_engine) as session:
        plan, _ = claimed(session)
    handled = in_two_workers(
        file_engine, lambda s: run_batch(s, plan.confirmation_id, tmp_path)
    )
    assert sum(handled) == 3
    with Session(file_engine) as session:
        assert [documents(session, r) for r in plan.record_ids] == [1, 1, 1]
        notices = session.exec(
            select(Notification).where(Notification.kind == "batch")
        ).all()
        assert len(notices) == 1


def test_an_item_whose_worker_died_is_taken_again_after_the_lease(db, tmp_path):
    plan, item_ids = claimed(db)
    assert batch_items._take(db, item_ids[0], T)  # a worker took it, then died
    assert not run(db, item_ids[0], tmp_path)  # still leased
    assert batch_items.stalled(db, now=T + batch_items.LEASE / 2) == []
    later = T + batch_items.LEASE + timedelta(seconds=1)
    assert batch_items.stalled(db, now=later) == item_ids  # the batch went quiet too
    assert run(db, item_ids[0], tmp_path, now=later)
    assert documents(db, plan.record_ids[0]) == 1
    assert db.get(BatchItem, item_ids[0]).attempts == 2


def test_a_job_lost_before_its_item_was_taken_is_queued_again(db, tmp_path):
    """A worker died between taking the job off the queue and taking the item: once
    the batch has been quiet for a lease, its untaken items are queued again."""
    _, item_ids = claimed(db)
    assert run(db, item_ids[0], tmp_path)
    assert batch_items.stalled(db, now=T + batch_items.LEASE / 2) == []
    quiet = T + batch_items.LEASE + timedelta(seconds=1)
    assert batch_items.stalled(db, now=quiet) == item_ids[1:]


def test_a_worker_that_died_after_signing_leaves_the_item_signed(db, tmp_path):
    """The item is settled in the signature's own transaction: a worker killed right
    after it leaves nothing to redo, and the housekeeping closes the batch."""
    plan, item_ids = claimed(db)

    def sign_then_die(session, **kwargs):
        sign_batch.sign_one(session, **kwargs)
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        run(db, item_ids[0], tmp_path, sign_one=sign_then_die)
    later = T + batch_items.LEASE * 2
    assert item_ids[0] not in batch_items.stalled(db, now=later)
    assert not run(db, item_ids[0], tmp_path, now=later)  # nothing left to do
    assert db.get(BatchItem, item_ids[0]).status == "signed"
    assert documents(db, plan.record_ids[0]) == 1


def test_a_failed_signature_leaves_the_item_queued_and_the_record_open(db, tmp_path):
    """Both or neither: when the signing transaction does not commit, the item is
    not marked signed either."""
    plan, item_ids = claimed(db)

    def settle_then_fail(session, **kwargs):
        kwargs["on_signed"](session)
        session.rollback()
        return record_signing.SignOutcome(plan.record_ids[0], "", "", False, "失败")

    assert run(db, item_ids[0], tmp_path, sign_one=settle_then_fail)
    item = db.get(BatchItem, item_ids[0])
    assert (item.status, item.reason) == ("failed", "失败")
    assert documents(db, plan.record_ids[0]) == 0


def test_a_batch_whose_last_worker_died_before_closing_it_is_closed_once(db, tmp_path):
    plan, item_ids = claimed(db)

    def die_before_closing(session, _plan, _actor):
        raise SystemExit("killed")

    for item_id in item_ids[:-1]:
        run(db, item_id, tmp_path)
    finish = batch_items._finish_if_last
    batch_items._finish_if_last = die_before_closing
    try:
        with pytest.raises(SystemExit):
            run(db, item_ids[-1], tmp_path)
    finally:
        batch_items._finish_if_last = finish
    assert db.get(Confirmation, plan.confirmation_id).batch_finished_at is None
    assert batch_items.finish_settled(db) == 1
    assert batch_items.finish_settled(db) == 0
    notices = db.exec(select(Notification).where(Notification.kind == "batch")).all()
    assert len(notices) == 1


def test_a_signer_that_cannot_load_fails_each_record_with_its_reason(db, tmp_path):
    plan, item_ids = claimed(db)

    def refused(session, user):
        raise HisError("数字证书无效或已过期，请重新实名认证")

    for item_id in item_ids:
        run(db, item_id, tmp_path, signer=refused)
    shown = batch_items.progress(
        db, user=doctor(db), confirmation_id=plan.confirmation_id
    )
    assert shown.finished and shown.failed == 3
    assert {item.reason for item in shown.items} == {
        "数字证书无效或已过期，请重新实名认证"
    }


def test_stop_leaves_taken_items_alone_and_only_the_doctor_may(db, tmp_path):
    plan, item_ids = claimed(db)
    assert batch_items._take(db, item_ids[0], T)
    other = user_by_login(db, wh.OTHER_DOCTOR)
    with pytest.raises(AccessDenied):
        batch_items.cancel_queued(db, user=other, confirmation_id=plan.confirmation_id)
    with pytest.raises(AccessDenied):
        batch_items.progress(db, user=other, confirmation_id=plan.confirmation_id)
    assert (
        batch_items.cancel_queued(
            db, user=doctor(db), confirmation_id=plan.confirmation_id
        )
        == 2
    )
    # The worker holding the first item died; once the lease is over it is signed.
    later = T + batch_items.LEASE * 2
    assert batch_items.stalled(db, now=later) == [item_ids[0]]
    assert run(db, item_ids[0], tmp_path, now=later)
    shown = batch_items.progress(
        db, user=doctor(db), confirmation_id=plan.confirmation_id
    )
    assert (shown.signed, shown.failed, shown.finished) == (1, 2, True)
    assert {i.reason for i in shown.items if i.status == "failed"} == {
        batch_items.STOPPED
    }


def test_latest_batch_is_the_doctors_own_recent_one(db):
    plan, _ = claimed(db)
    me = doctor(db)
    assert batch_items.latest_batch(db, user=me, within=timedelta(days=3650)) == (
        plan.confirmation_id
    )
    other = user_by_login(db, wh.OTHER_DOCTOR)
    assert batch_items.latest_batch(db, user=other, within=timedelta(days=3650)) is None
