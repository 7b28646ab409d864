"""The integrity check: every stored signed PDF and the audit chain, again.

For each ``SignedDocument`` (superseded versions included),
:func:`~.integrity_documents.check_document`: the file is present under the
private data dir, its SHA-256 is the one recorded at signing, its PAdES level,
and its signature validated offline against the clinic CA only (a B-LTA file by
the archive's long-term validation too). Then :func:`~.audit.verify_chain` checks
the audit log. One ``IntegrityReport`` row holds the result: the failures, how
many files are at each PAdES level and which are below B-LTA; any failure
notifies every active administrator (``Kind.INTEGRITY``).

Documents are read one at a time (the rows ``_YIELD_PER`` at a time, each file
hashed in chunks before it is read whole for pyHanko), so memory does not grow
with the archive. A run that is under way is a report without ``finished_at``;
a second run is refused while one started less than ``STALE_AFTER`` ago (a run
whose worker died stops counting then).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from sqlmodel import Session, col, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import IntegrityReport, Role, SignedDocument, utcnow
from his_portal.services.audit import AuditError, verify_chain
from his_portal.services.auth import CurrentUser
from his_portal.services.integrity_documents import check_document
from his_portal.services.notifications import Kind, notify_admins
from his_portal.services.pki.certificates import ca_certificate_pem
from his_portal.services.signing.pades_level import LABELS, PadesLevel

__all__ = [
    "INTERVAL",
    "JOB_NAME",
    "STALE_AFTER",
    "DocumentFailure",
    "DocumentLevel",
    "IntegrityBusy",
    "IntegrityResult",
    "ReportView",
    "latest_report",
    "level_label",
    "run_check",
    "run_for",
]

JOB_NAME = "integrity-check"
INTERVAL = timedelta(days=1)
STALE_AFTER = timedelta(hours=6)
#: Failures (and files below B-LTA) kept in the report's detail (all are counted).
KEEP_FAILURES = 200
_YIELD_PER = 200


class IntegrityBusy(HisError):
    """A check is already running."""


@dataclass(frozen=True)
class DocumentFailure:
    """One signed PDF that did not pass."""

    document_id: int
    record_id: int
    version: int
    reason: str
    level: str = ""


@dataclass(frozen=True)
class DocumentLevel:
    """One signed PDF that passed below PAdES B-LTA (e.g. B-T from an external TSA)."""

    document_id: int
    record_id: int
    version: int
    level: str


@dataclass(frozen=True)
class IntegrityResult:
    """What one run found."""

    report_id: int
    checked: int
    failed: int
    failures: tuple[DocumentFailure, ...]
    audit_ok: bool
    audit_message: str
    #: The whole run, and the signed PDFs alone (the rest is the audit chain).
    seconds: float
    documents_seconds: float = 0.0
    levels: dict[str, int] = field(default_factory=dict)
    """How many files are at each PAdES level ("" : unreadable)."""
    below_lta: tuple[DocumentLevel, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.audit_ok

    @property
    def ms_per_document(self) -> float:
        """Mean time per signed PDF (hash, read, pyHanko), in milliseconds."""
        if not self.checked:
            return 0.0
        return 1000 * self.documents_seconds / self.checked


@dataclass(frozen=True)
class ReportView:
    """The latest finished report, as the administrator reads it."""

    finished_at: str
    checked: int
    failed: int
    audit_ok: bool
    audit_message: str
    ms_per_document: float
    failures: list[str]
    running: bool
    levels: list[str] = field(default_factory=list)
    """E.g. "PAdES B-LTA（长期验证，含文档时间戳）：110 份"."""
    below_lta: list[str] = field(default_factory=list)


def _claim(session: Session, now: datetime) -> IntegrityReport:
    running = session.exec(
        select(IntegrityReport.id).where(
            col(IntegrityReport.finished_at).is_(None),
            IntegrityReport.started_at > now - STALE_AFTER,
        )
    ).first()
    if running is not None:
        raise IntegrityBusy("完整性检查正在进行中，请稍后查看结果")
    report = IntegrityReport(started_at=now)
    session.add(report)
    session.commit()
    session.refresh(report)
    return report


@dataclass
class _Tally:
    checked: int = 0
    failed: int = 0
    failures: list[DocumentFailure] = field(default_factory=list)
    levels: Counter = field(default_factory=Counter)
    below_lta: list[DocumentLevel] = field(default_factory=list)


def _check_documents(session: Session, base: Path, ca_pem: bytes) -> _Tally:
    columns = select(
        SignedDocument.id,
        SignedDocument.record_id,
        SignedDocument.version,
        SignedDocument.file_name,
        SignedDocument.sha256,
    ).order_by(col(SignedDocument.id))
    tally = _Tally()
    for doc_id, record_id, version, file_name, sha256 in session.exec(
        columns.execution_options(yield_per=_YIELD_PER)
    ):
        tally.checked += 1
        found = check_document(
            file_name=file_name, sha256=sha256, base=base, ca_pem=ca_pem
        )
        tally.levels[found.level] += 1
        if found.reason is None:
            if found.level != PadesLevel.B_LTA and len(tally.below_lta) < KEEP_FAILURES:
                tally.below_lta.append(
                    DocumentLevel(doc_id, record_id, version, found.level)
                )
            continue
        tally.failed += 1
        if len(tally.failures) < KEEP_FAILURES:
            tally.failures.append(
                DocumentFailure(doc_id, record_id, version, found.reason, found.level)
            )
    return tally


def _check_chain(
    session: Session, zone: tzinfo, system_trust: bool
) -> tuple[bool, dict]:
    try:
        chain = verify_chain(session=session, system_trust=system_trust, zone=zone)
    except AuditError as exc:
        return False, {"ok": False, "message": exc.message}
    anchor = chain.latest_anchor_time
    return chain.ok, {
        "ok": chain.ok,
        "entries": chain.checked,
        "first_broken_seq": chain.first_broken_seq,
        "message": chain.reason,
        "latest_anchor_time": anchor.isoformat() if anchor else None,
    }


def _notify(session: Session, result: IntegrityResult, report: IntegrityReport):
    parts = []
    if result.failed:
        parts.append(
            f"{result.failed} 份签名病历未通过校验（共检查 {result.checked} 份）"
        )
    if not result.audit_ok:
        parts.append(f"审计日志链校验失败：{result.audit_message}")
    notify_admins(
        session,
        kind=Kind.INTEGRITY,
        title="完整性检查发现问题",
        body="；".join(parts),
        dedup_key=f"integrity:{report.id}",
    )


def run_check(
    *,
    session: Session,
    data_dir: Path,
    zone: tzinfo,
    system_trust: bool = False,
    now: datetime | None = None,
) -> IntegrityResult:
    """Check every signed PDF and the audit chain; store the report, notify the
    administrators of any failure (commits).

    Args:
        data_dir: The private data dir (signed PDFs under ``signed/``).
        zone: Time zone for the times in messages.
        system_trust: Audit anchors may chain to the system's roots (an external
            TSA).

    Raises:
        IntegrityBusy: Another run is under way.
        PkiError: No clinic CA yet (the report says the check did not finish).
    """
    started = time.perf_counter()
    report = _claim(session, now or utcnow())
    try:
        ca_pem = ca_certificate_pem(session=session)
        tally = _check_documents(session, data_dir / "signed", ca_pem)
        documents_seconds = time.perf_counter() - started
        audit_ok, chain = _check_chain(session, zone, system_trust)
    except Exception:
        # Not left "running" for STALE_AFTER; the error itself goes on up.
        report.finished_at = utcnow()
        report.detail = json.dumps({"error": "检查未完成"}, ensure_ascii=False)
        session.add(report)
        session.commit()
        raise
    seconds = time.perf_counter() - started
    result = IntegrityResult(
        report_id=report.id,
        checked=tally.checked,
        failed=tally.failed,
        failures=tuple(tally.failures),
        audit_ok=audit_ok,
        audit_message=chain.get("message", ""),
        seconds=seconds,
        documents_seconds=documents_seconds,
        levels=dict(tally.levels),
        below_lta=tuple(tally.below_lta),
    )
    report.finished_at = utcnow()
    report.documents_checked, report.documents_failed = tally.checked, tally.failed
    report.audit_ok = audit_ok
    report.detail = json.dumps(
        {
            "failures": [f.__dict__ for f in tally.failures],
            "levels": result.levels,
            "below_lta": [d.__dict__ for d in tally.below_lta],
            "audit": chain,
            "seconds": round(seconds, 3),
            "documents_seconds": round(documents_seconds, 3),
            "ms_per_document": round(result.ms_per_document, 1),
        },
        ensure_ascii=False,
    )
    session.add(report)
    if not result.ok:
        _notify(session, result, report)
    session.commit()
    return result


def run_for(
    *,
    session: Session,
    admin: CurrentUser,
    data_dir: Path,
    zone: tzinfo,
    system_trust: bool = False,
) -> IntegrityResult:
    """立即检查: an administrator's run of :func:`run_check`.

    Raises:
        AccessDenied: ``admin`` is not an administrator.
        IntegrityBusy: Another run is under way.
    """
    if admin.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以运行完整性检查")
    return run_check(
        session=session, data_dir=data_dir, zone=zone, system_trust=system_trust
    )


def level_label(level: str) -> str:
    """A level as the report shows it ("" : the file could not be read; a value
    this version does not know, from an older or newer report, as it was stored)."""
    if not level:
        return "无法读取签名"
    try:
        return LABELS[PadesLevel(level)]
    except ValueError:
        return level


def _failure_lines(detail: dict) -> list[str]:
    return [
        f"病历 {f['record_id']} 第{f['version']}版"
        + (f"（PAdES {f['level']}）" if f.get("level") else "")
        + f"：{f['reason']}"
        for f in detail.get("failures", [])
    ]


def _level_lines(detail: dict) -> list[str]:
    levels = detail.get("levels", {})
    order = [*(level.value for level in reversed(PadesLevel)), ""]
    return [
        f"{level_label(level)}：{levels[level]} 份"
        for level in order
        if level in levels
    ]


def _below_lta_lines(detail: dict) -> list[str]:
    return [
        f"病历 {d['record_id']} 第{d['version']}版：{level_label(d['level'])}"
        for d in detail.get("below_lta", [])
    ]


def latest_report(
    *, session: Session, viewer: CurrentUser, zone: tzinfo, now: datetime | None = None
) -> ReportView | None:
    """The latest finished report, and whether a run is under way (administrators
    only); None before the first run."""
    if viewer.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以查看完整性检查")
    now = now or utcnow()
    running = (
        session.exec(
            select(IntegrityReport.id).where(
                col(IntegrityReport.finished_at).is_(None),
                IntegrityReport.started_at > now - STALE_AFTER,
            )
        ).first()
        is not None
    )
    report = session.exec(
        select(IntegrityReport)
        .where(col(IntegrityReport.finished_at).is_not(None))
        .order_by(col(IntegrityReport.id).desc())
        .limit(1)
    ).first()
    if report is None:
        return None if not running else ReportView("", 0, 0, False, "", 0, [], True)
    detail = json.loads(report.detail or "{}")
    audit = detail.get("audit", {})
    return ReportView(
        finished_at=report.finished_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        checked=report.documents_checked,
        failed=report.documents_failed,
        audit_ok=report.audit_ok,
        audit_message=audit.get("message", detail.get("error", "")),
        ms_per_document=float(detail.get("ms_per_document", 0.0)),
        failures=_failure_lines(detail),
        running=running,
        levels=_level_lines(detail),
        below_lta=_below_lta_lines(detail),
    )
