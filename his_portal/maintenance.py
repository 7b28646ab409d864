"""Housekeeping the running app does by itself, every few minutes in each worker:
anchor the audit head with a timestamp, sweep files that a crash or a rolled
back transaction left behind, and delete expired signed-file tickets. Each step is
idempotent, so several workers doing it at once is harmless (an unchanged head is
not anchored twice). 签名状态通知 (超期未签, 证书到期) and the daily integrity check
(every signed PDF and the audit chain, ``services/integrity``) run once per
interval across all workers (``jobs.run_if_due``), and so do the daily PKI upkeep
(the OCSP signer renewed before it expires, the CRL re-signed) and the daily
archive-timestamp renewal (``services/signing/archive_renewal``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from his_portal import db, deps
from his_portal.services import audit, file_tickets, integrity, jobs
from his_portal.services.notifications import periodic as notices
from his_portal.services.pki import certificates
from his_portal.services.signing import archive_renewal
from his_portal.services.signing import records as record_signing
from his_portal.services.signing.archive_policy import RenewalPolicy
from his_portal.settings import clinic_zone, get_settings

__all__ = [
    "INTERVAL_SECONDS",
    "run_archive_renewal",
    "run_forever",
    "run_integrity",
    "run_notifications",
    "run_once",
    "run_pki_upkeep",
]

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 300
NOTIFY_INTERVAL = timedelta(minutes=10)
PKI_JOB = "pki.upkeep"


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


def _once_per_interval(name: str, interval: timedelta, job, now) -> dict | None:
    """``job`` if no worker has run ``name`` within ``interval`` (``jobs``)."""
    with db.session() as session:
        return jobs.run_if_due(session, name=name, interval=interval, job=job, now=now)


def run_notifications(now: datetime | None = None) -> dict | None:
    """签名状态通知 (超期未签, 证书到期), once per ``NOTIFY_INTERVAL`` across all
    workers: the counts added, or None when another worker had this interval."""
    hours = get_settings().sign_deadline_hours
    return _once_per_interval(
        notices.JOB_NAME,
        NOTIFY_INTERVAL,
        lambda s: notices.run(s, deadline_hours=hours, zone=clinic_zone(), now=now),
        now,
    )


def run_integrity(now: datetime | None = None) -> dict | None:
    """The integrity check (every signed PDF, the audit chain), once per
    ``integrity.INTERVAL`` across all workers: its summary, or None when another
    worker had this interval."""
    settings = get_settings()

    def job(session) -> dict:
        result = integrity.run_check(
            session=session,
            data_dir=settings.data_dir,
            zone=clinic_zone(),
            system_trust=bool(settings.tsa_url),
        )
        return {
            "report": result.report_id,
            "checked": result.checked,
            "failed": result.failed,
            "audit_ok": result.audit_ok,
            "ms_per_document": round(result.ms_per_document, 1),
        }

    return _once_per_interval(integrity.JOB_NAME, integrity.INTERVAL, job, now)


def run_pki_upkeep(now: datetime | None = None) -> dict | None:
    """Once a day across all workers: renew the OCSP signer (or a TSA certificate
    whose policy is not ``HIS_TSA_POLICY_OID``) when due. The CRL is not signed here:
    each worker re-signs its own cached copy when it is a day old or the revoked set
    changed (``crl_cache``); the job only reports the size of the current one."""
    settings = get_settings()

    def job(session) -> dict:
        at = now or datetime.now(clinic_zone())
        certificates.ensure_authority(
            session=session,
            kek=deps.kek(),
            clinic_name=settings.clinic_name,
            crl_url=deps.crl_url(),
            now=at,
            profile=deps.issuing_profile(),
        )
        session.commit()
        crl = certificates.crl_der(session=session, kek=deps.kek(), now=at)
        return {"crl_bytes": len(crl)}

    return _once_per_interval(PKI_JOB, certificates.UPKEEP_INTERVAL, job, now)


def run_archive_renewal(now: datetime | None = None) -> dict | None:
    """Once a day across all workers: renew the document timestamps of stored
    signed PDFs that are due (``HIS_ARCHIVE_RENEW_DAYS``,
    ``HIS_ARCHIVE_AGEING_ALGORITHMS``): the counts and first failures, or None
    when another worker had this interval."""
    settings = get_settings()

    def job(session) -> dict:
        result = archive_renewal.renew_archive_timestamps(
            session=session,
            kek=deps.kek(),
            data_dir=settings.data_dir,
            policy=RenewalPolicy.from_settings(settings),
            actor=audit.Actor(login_id="system"),
            now=now,
        )
        if result.failed:
            log.warning("archive renewal: %s", result.summary())
        return result.as_dict()

    return _once_per_interval(
        archive_renewal.JOB_NAME, archive_renewal.INTERVAL, job, now
    )


async def _in_background(job, what: str) -> None:
    try:
        await asyncio.to_thread(job)
    except Exception:
        log.exception("%s failed", what)


async def run_forever() -> None:
    """The lifespan task: a round now and then every ``INTERVAL_SECONDS``; a failed
    round is logged and retried next time, it never stops the app."""
    long_jobs = {
        "integrity check": run_integrity,
        "archive renewal": run_archive_renewal,
    }
    running: dict[str, asyncio.Task] = {}
    while True:
        try:
            await asyncio.to_thread(run_once)
        except Exception:
            log.exception("maintenance round failed")
        try:
            await asyncio.to_thread(run_notifications)
        except Exception:
            log.exception("notification round failed")
        try:
            await asyncio.to_thread(run_pki_upkeep)
        except Exception:
            log.exception("PKI upkeep failed")
        # The integrity check and archive renewal can take long: tasks of their
        # own, so that anchoring and the other rounds go on meanwhile; at most one
        # of each at a time per worker.
        for what, job in long_jobs.items():
            if what not in running or running[what].done():
                running[what] = asyncio.create_task(_in_background(job, what))
        await asyncio.sleep(INTERVAL_SECONDS)
