"""Housekeeping the running app does by itself, every few minutes in each worker:
anchor the audit head with a timestamp, sweep files that a crash or a rolled
back transaction left behind, and delete expired signed-file tickets. Each step is
idempotent, so several workers doing it at once is harmless (an unchanged head is
not anchored twice)."""

from __future__ import annotations

import asyncio
import logging

from his_portal import db, deps
from his_portal.services import audit, file_tickets
from his_portal.services.signing import records as record_signing
from his_portal.settings import get_settings

__all__ = ["INTERVAL_SECONDS", "run_forever", "run_once"]

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 300


def run_once() -> tuple[bool, int]:
    """One round: (whether the head was anchored, how many orphans were removed)."""
    settings = get_settings()
    with db.session() as session:
        tsa = deps.audit_tsa(session)
        anchored = audit.anchor_head(session=session, tsa=tsa) is not None
        session.commit()
        swept = record_signing.sweep_orphans(
            session=session, data_dir=settings.data_dir
        )
        file_tickets.sweep(session=session)
    return anchored, swept


async def run_forever() -> None:
    """The lifespan task: a round now and then every ``INTERVAL_SECONDS``; a failed
    round is logged and retried next time, it never stops the app."""
    while True:
        try:
            await asyncio.to_thread(run_once)
        except Exception:
            log.exception("maintenance round failed")
        await asyncio.sleep(INTERVAL_SECONDS)
