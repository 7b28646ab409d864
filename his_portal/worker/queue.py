"""The signing queue and its jobs (see the package docstring)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from huey import RedisHuey, SqliteHuey, crontab
from sqlmodel import Session

from his_portal import db, deps
from his_portal.models import utcnow
from his_portal.services.auth import CurrentUser
from his_portal.services.signing import batch_items
from his_portal.services.signing import records as record_signing
from his_portal.services.signing.records import SignerKit
from his_portal.settings import Settings, clinic_zone, get_settings

__all__ = ["enqueue", "huey", "requeue_stalled", "sign_batch_items", "sign_item"]

log = logging.getLogger(__name__)
QUEUE_NAME = "his-portal-signing"
#: A worker keeps a doctor's decrypted key this long for the next records of the
#: batch; every record still re-checks certificate, 实名认证 and 电子签名 itself.
KIT_SECONDS = 120
_KITS_MAX = 8


def _make_huey(settings: Settings):
    if settings.redis_url:
        return RedisHuey(QUEUE_NAME, url=settings.redis_url, results=False)
    # No fsync: the queue only wakes workers. What must survive a crash or a
    # power cut is the BatchItem table in the app's database; a job lost with the
    # queue is queued again from it by requeue_stalled.
    return SqliteHuey(
        QUEUE_NAME,
        filename=str(settings.data_dir / "signing-queue.db"),
        results=False,
        fsync=False,
    )


huey = _make_huey(get_settings())
_kits: OrderedDict[int, tuple[float, SignerKit]] = OrderedDict()
_kits_lock = threading.Lock()


def _signer(session: Session, user: CurrentUser) -> SignerKit:
    """The doctor's signer, loaded once per batch in this worker process."""
    now = time.monotonic()
    with _kits_lock:
        cached = _kits.get(user.id)
        if cached is not None and now - cached[0] < KIT_SECONDS:
            return cached[1]
    kit = record_signing.load_signer(
        session=session,
        user=user,
        kek=deps.kek(),
        now=utcnow(),
        tsa_url=get_settings().tsa_url,
    )
    with _kits_lock:
        _kits[user.id] = (now, kit)
        while len(_kits) > _KITS_MAX:
            _kits.popitem(last=False)
    return kit


def _signing() -> dict:
    settings = get_settings()
    return {
        "signer": _signer,
        "data_dir": settings.data_dir,
        "amend_days": settings.amend_days,
        "zone": clinic_zone(),
    }


@huey.task(retries=3, retry_delay=2)
def sign_batch_items(confirmation_id: int) -> None:
    """Sign a batch's queued items, one after another, until none is left to take
    (each worker runs one of these per batch)."""
    with db.session() as session:
        batch_items.run_batch(session, confirmation_id=confirmation_id, **_signing())


@huey.task(retries=3, retry_delay=2)
def sign_item(item_id: int) -> None:
    """Sign one batch item (nothing happens if it is done or another worker has it)."""
    with db.session() as session:
        batch_items.run_item(session, item_id=item_id, **_signing())


@huey.periodic_task(crontab(minute="*"))
def requeue_stalled() -> None:
    """Queue again what a dead worker was holding; close what it left unclosed."""
    with db.session() as session:
        for item_id in batch_items.stalled(session):
            log.warning("signing item %s stalled; queued again", item_id)
            sign_item(item_id)
        if batch_items.finish_settled(session):
            log.warning("closed a signing batch whose last worker died")


def enqueue(confirmation_id: int, items: int) -> None:
    """Put a claimed batch of ``items`` records on the queue: one job for each
    worker of this machine, as many as there are records at most."""
    for _ in range(min(items, get_settings().sign_workers)):
        sign_batch_items(confirmation_id)
