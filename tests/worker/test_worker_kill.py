"""The signing queue survives its workers: the consumer (with its worker
processes) is killed in the middle of a batch, started again, and every record of
the batch ends signed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, func, select

from his_portal.db import make_engine
from his_portal.models import (
    BatchItem,
    Confirmation,
    MedicalRecord,
    Notification,
    SignedDocument,
)
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import batch_items
from his_portal.settings import get_settings
from his_portal.worker import queue as signing_queue
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import DOCTOR, KEK
from tests.services.willingness import willingness_helpers as wh

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 24
DONE_WITHIN = 200  # seconds: the lease (30 s) and the once-a-minute requeue


def _prepare(data_dir: Path) -> tuple[int, list[int]]:
    """A data dir with the KEK, the CA, the demo clinic, 郑程 verified, and a claimed
    batch of his records on the queue (nothing signed yet)."""
    secrets = data_dir / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    (secrets / "kek.bin").write_bytes(KEK)
    os.chmod(secrets / "kek.bin", 0o600)
    engine = make_engine(f"sqlite:///{data_dir / 'his_portal.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        wh.prepared_clinic(session, records=80)
        doctor = user_by_login(session, DOCTOR)
        ids = list(
            session.exec(
                select(MedicalRecord.id)
                .where(MedicalRecord.doctor_id == doctor.id)
                .order_by(MedicalRecord.id)
                .limit(RECORDS)
            ).all()
        )
        started = wh.begin(session, ids=ids)
        sms = wh.Outbox()
        wh.send(session, started, sms)
        wh.check(session, started, sms.code)
        wh.consume(session, started)
        plan = sign_batch.claim(
            session,
            user=doctor,
            confirmation_id=started.confirmation_id,
            session_token=wh.TOKEN,
            secret=wh.SECRET,
            now=NOW,
        )
        batch_items.enqueue_plan(
            session, plan=plan, actor=Actor(doctor.id, DOCTOR, "10.1.2.3", "kill-test")
        )
    engine.dispose()
    # The data dir's own queue file; the messages are made by the app's registry.
    storage = signing_queue._make_huey(
        replace(get_settings(), data_dir=data_dir)
    ).storage
    for _ in range(2):  # one batch job per worker, as the app queues it
        task = signing_queue.sign_batch_items.s(plan.confirmation_id)
        storage.enqueue(signing_queue.huey.serialize_task(task), task.priority)
    return plan.confirmation_id, list(plan.record_ids)


def _consumer(data_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HIS_DATA_DIR": str(data_dir),
        "HIS_SIGN_WORKERS": "2",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HIS_DB_URL", None)
    env.pop("HIS_REDIS_URL", None)
    log = open(data_dir / "consumer.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "his_portal.worker"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )


def _statuses(engine, confirmation_id: int) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(
            select(BatchItem.status, func.count())
            .where(BatchItem.confirmation_id == confirmation_id)
            .group_by(BatchItem.status)
        ).all()
    return dict(rows)


def _wait(engine, confirmation_id: int, done: int, seconds: float, log: Path) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = _statuses(engine, confirmation_id)
        if counts.get("signed", 0) + counts.get("failed", 0) >= done:
            return counts
        time.sleep(0.02)
    pytest.fail(
        f"the batch did not get to {done} done: {counts}\n{log.read_text()[-3000:]}"
    )


def _wait_closed(engine, confirmation_id: int, seconds: float, log: Path) -> None:
    """The batch is closed by its last worker (or, if that one died, within a minute
    by the housekeeping job)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if session.get(Confirmation, confirmation_id).batch_finished_at:
                return
        time.sleep(0.1)
    pytest.fail(f"the batch was never closed\n{log.read_text()[-3000:]}")


def test_a_killed_consumer_leaves_every_record_signed_exactly_once(tmp_path):
    data_dir = tmp_path / "data"
    confirmation_id, record_ids = _prepare(data_dir)
    engine = make_engine(f"sqlite:///{data_dir / 'his_portal.db'}")
    log = data_dir / "consumer.log"
    first = _consumer(data_dir)
    try:
        before = _wait(engine, confirmation_id, 4, 120, log)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert before.get("queued", 0) > 0, f"the kill came too late: {before}"
    second = _consumer(data_dir)
    try:
        after = _wait(engine, confirmation_id, RECORDS, DONE_WITHIN, log)
        _wait_closed(engine, confirmation_id, DONE_WITHIN, log)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert after == {"signed": RECORDS}, log.read_text()[-3000:]
    with Session(engine) as session:
        per_record = dict(
            session.exec(
                select(SignedDocument.record_id, func.count())
                .where(SignedDocument.confirmation_id == confirmation_id)
                .group_by(SignedDocument.record_id)
            ).all()
        )
        assert per_record == {record_id: 1 for record_id in record_ids}
        for record_id in record_ids:
            document = session.exec(
                select(SignedDocument).where(SignedDocument.record_id == record_id)
            ).one()
            assert (data_dir / "signed" / document.file_name).is_file()
        assert session.get(Confirmation, confirmation_id).batch_finished_at is not None
        batch_notices = session.exec(
            select(func.count()).where(Notification.kind == "batch")
        ).one()
        assert batch_notices == 1
        assert verify_chain(session=session, key=None).ok
    engine.dispose()
