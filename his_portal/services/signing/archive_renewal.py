"""Archive-timestamp renewal: keeping stored B-LTA records verifiable for decades.

A signed record's newest document timestamp (``ETSI.RFC3161``, :mod:`.ltv`) proves
the file and its validation data existed at its time, for as long as that
timestamp itself can be trusted: until its TSA certificate expires, or its digest
or key becomes too weak. Before that happens, renewal appends one incremental
update to the stored PDF, as PAdES B-LTA prescribes (ETSI EN 319 142-1 §5.5):
fresh validation data for the previous timestamp's TSA chain (the CA's CRL and
OCSP responses, in the DSS and in a VRI entry for that timestamp) and a new
document timestamp over the whole file, from the clinic TSA as it is now.

When a file is due: :mod:`.archive_policy`. When the clinic TSA itself is due,
renewing would not help: those files are reported as failed (renew the TSA first).

The renewed file is stored under a new name (the durable writer, then one
transaction moves the row to it); the row's earlier hash and length are kept
(:class:`EarlierSignedFile`), so a copy handed out before still matches its
version (:func:`document_by_hash`). The old file, which the new one begins with,
is left to :func:`records.sweep_orphans`, so a download already under way ends.
Each document is claimed with a conditional UPDATE before any work (a lease, like
:mod:`..jobs`): several workers renew it once.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import pem, x509
from sqlmodel import Session, col, or_, select

from his_portal.errors import HisError
from his_portal.models import EarlierSignedFile, IssuerKey, SignedDocument, utcnow
from his_portal.services.audit import Actor, clinic_tsa, record_event
from his_portal.services.pki import certificates, ocsp
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from his_portal.services.private_files import write_private
from his_portal.services.signing.archive_policy import (
    RenewalPolicy,
    certificate_reason,
    newest_document_timestamp,
    renewal_reason,
)
from his_portal.services.signing.ltv import (
    ValidationMaterial,
    add_long_term_validation,
)
from his_portal.services.signing.pades import SigningError

__all__ = [
    "INTERVAL",
    "JOB_NAME",
    "DocumentOutcome",
    "RenewalResult",
    "document_by_hash",
    "renew_archive_timestamps",
]

log = logging.getLogger(__name__)
JOB_NAME = "signing.archive_renewal"
#: How often the app's maintenance looks for files to renew.
INTERVAL = timedelta(days=1)
#: A claim older than this was left by a worker that died mid-renewal.
CLAIM_LEASE = timedelta(minutes=10)
_PAGE = 500


@dataclass(frozen=True)
class DocumentOutcome:
    document_id: int
    record_id: int
    version: int
    reason: str
    """Why it is (to be) renewed, or why it failed."""

    def line(self) -> str:
        return (
            f"record {self.record_id} version {self.version} "
            f"(document {self.document_id}): {self.reason}"
        )


@dataclass
class RenewalResult:
    """One pass over the stored signed PDFs."""

    dry_run: bool = False
    renewed: list[DocumentOutcome] = field(default_factory=list)
    """Renewed (in a dry run: would be renewed)."""
    failed: list[DocumentOutcome] = field(default_factory=list)
    skipped: int = 0
    """Not due, without a document timestamp, or taken by another worker."""

    def summary(self) -> str:
        done = "(dry run): would renew" if self.dry_run else "renewed"
        return (
            f"Archive timestamps {done} {len(self.renewed)}, "
            f"skipped {self.skipped}, failed {len(self.failed)}."
        )

    def as_dict(self, keep: int = 5) -> dict:
        """For the job's row: the counts and the first failures."""
        return {
            "renewed": len(self.renewed),
            "skipped": self.skipped,
            "failed": len(self.failed),
            "failures": [item.line()[:200] for item in self.failed[:keep]],
        }


def document_by_hash(session: Session, digest: str) -> SignedDocument | None:
    """The signed version whose stored file has, or before an archive renewal
    had, this SHA-256 (验证's lookup)."""
    current = session.exec(
        select(SignedDocument).where(SignedDocument.sha256 == digest)
    ).first()
    if current is not None:
        return current
    return session.exec(
        select(SignedDocument)
        .join(EarlierSignedFile, EarlierSignedFile.document_id == SignedDocument.id)
        .where(EarlierSignedFile.sha256 == digest)
    ).first()


@dataclass(frozen=True)
class _Row:
    id: int
    record_id: int
    version: int
    file_name: str
    sha256: str

    def outcome(self, reason: str) -> DocumentOutcome:
        return DocumentOutcome(self.id, self.record_id, self.version, reason)


def _documents(session: Session):
    """Every signed version, a page at a time (no cursor held across commits)."""
    after = 0
    while True:
        page = session.exec(
            select(
                SignedDocument.id,
                SignedDocument.record_id,
                SignedDocument.version,
                SignedDocument.file_name,
                SignedDocument.sha256,
            )
            .where(col(SignedDocument.id) > after)
            .order_by(col(SignedDocument.id))
            .limit(_PAGE)
        ).all()
        if not page:
            return
        yield from (_Row(*columns) for columns in page)
        after = page[-1][0]


@dataclass
class _Renewer:
    """One pass's shared parts: the clinic TSA, the files, the claim's time."""

    session: Session
    kek: bytes
    base: Path
    policy: RenewalPolicy
    now: datetime
    actor: Actor
    tsa: TimestampAuthority | None = None
    _tsa_pem: bytes = b""

    def clinic(self) -> tuple[TimestampAuthority, bytes]:
        """The clinic TSA (loaded once) and its certificate."""
        if not self._tsa_pem:
            row = self.session.exec(
                select(IssuerKey).where(IssuerKey.purpose == certificates.TSA)
            ).first()
            if row is None:
                raise SigningError("本院时间戳服务尚未创建，请先运行初始化")
            self._tsa_pem = row.cert_pem.encode()
            self.tsa = self.tsa or clinic_tsa(self.session, self.kek)
        return self.tsa, self._tsa_pem

    def blocked(self) -> str:
        """Why renewing with the clinic TSA would not help ("" if it would)."""
        _, tsa_pem = self.clinic()
        cert = x509.Certificate.load(pem.unarmor(tsa_pem)[2])
        reason = certificate_reason(cert, self.policy, self.now)
        if not reason:
            return ""
        return f"本院时间戳服务也需更新（{reason}），请先更新时间戳服务证书"

    def material(self, previous: x509.Certificate) -> ValidationMaterial:
        """The previous TSA's and the clinic TSA's chains with today's CRL and
        OCSP responses (the clinic TSA's for the new timestamp's validators)."""
        _, tsa_pem = self.clinic()
        tsas = list(dict.fromkeys([pem.armor("CERTIFICATE", previous.dump()), tsa_pem]))
        return ValidationMaterial(
            certificates=[*tsas, certificates.ca_certificate_pem(session=self.session)],
            crls=[
                certificates.crl_der(session=self.session, kek=self.kek, now=self.now)
            ],
            ocsp_responses=[
                ocsp.response_for(
                    session=self.session, kek=self.kek, cert_pem=item, now=self.now
                )
                for item in tsas
            ],
        )

    def _update(self, row: _Row, *conditions, **values) -> int:
        table = SignedDocument.__table__
        return self.session.execute(
            table.update().where(table.c.id == row.id, *conditions).values(**values)
        ).rowcount

    def claim(self, row: _Row) -> bool:
        claimed_at = SignedDocument.__table__.c.renewal_claimed_at
        taken = self._update(
            row,
            SignedDocument.__table__.c.sha256 == row.sha256,
            or_(claimed_at.is_(None), claimed_at < self.now - CLAIM_LEASE),
            renewal_claimed_at=self.now,
        )
        self.session.commit()
        return taken == 1

    def release(self, row: _Row) -> None:
        claimed_at = SignedDocument.__table__.c.renewal_claimed_at
        self._update(row, claimed_at == self.now, renewal_claimed_at=None)
        self.session.commit()

    def renewed_pdf(self, pdf: bytes, *, force: bool) -> bytes:
        """The file plus fresh validation data and a new document timestamp."""
        facts = newest_document_timestamp(pdf)
        if facts is None:
            raise SigningError("文件的最后一个签名不是文档时间戳")
        tsa, _ = self.clinic()
        renewed = add_long_term_validation(
            pdf, material=self.material(facts.tsa_cert), tsa=tsa
        )
        fresh = newest_document_timestamp(renewed) if renewed.startswith(pdf) else None
        if fresh is None:
            raise SigningError("续期结果不是在原文件后追加的文档时间戳")
        still = renewal_reason(fresh, self.policy, self.now)
        if still and not force:
            raise SigningError(f"新的文档时间戳仍需续期：{still}")
        return renewed

    def store(self, row: _Row, pdf: bytes, renewed: bytes, reason: str) -> bool:
        """Write the renewed file and move the row to it, with its earlier hash
        and an audit entry, in one transaction; False (nothing changed) when the
        claim was lost meanwhile."""
        digest = hashlib.sha256(renewed).hexdigest()
        file_name = f"{row.record_id}/v{row.version}-{uuid.uuid4().hex}.pdf"
        path = self.base / file_name
        write_private(path, renewed)
        columns = SignedDocument.__table__.c
        try:
            moved = self._update(
                row,
                columns.sha256 == row.sha256,
                columns.renewal_claimed_at == self.now,
                file_name=file_name,
                sha256=digest,
                renewal_claimed_at=None,
            )
            if moved == 1:
                self.session.add(
                    EarlierSignedFile(
                        document_id=row.id,
                        sha256=row.sha256,
                        size=len(pdf),
                        replaced_at=self.now,
                    )
                )
                record_event(
                    session=self.session,
                    actor=self.actor,
                    action="record.archive_timestamp_renewed",
                    target=f"record:{row.record_id}",
                    detail={
                        "version": row.version,
                        "document": row.id,
                        "old_sha256": row.sha256,
                        "pdf_sha256": digest,
                        "reason": reason,
                    },
                )
                self.session.commit()
                return True
        except BaseException:
            self.session.rollback()
            path.unlink(missing_ok=True)
            raise
        self.session.rollback()
        path.unlink(missing_ok=True)
        return False

    def renew(self, row: _Row, reason: str, *, force: bool) -> bool:
        """Renew one claimed-then-checked file: True when renewed, False when
        another worker has it.

        Raises:
            Exception: Whatever went wrong; the claim is released first and the
                stored file and row are as they were.
        """
        if not self.claim(row):
            return False
        try:
            pdf = (self.base / row.file_name).read_bytes()
            if hashlib.sha256(pdf).hexdigest() != row.sha256:
                raise SigningError("文件内容与记录的SHA-256不符，未续期")
            return self.store(row, pdf, self.renewed_pdf(pdf, force=force), reason)
        except BaseException:
            self.session.rollback()
            self.release(row)
            raise


def renew_archive_timestamps(
    *,
    session: Session,
    kek: bytes,
    data_dir: Path,
    policy: RenewalPolicy,
    actor: Actor,
    now: datetime | None = None,
    force: bool = False,
    dry_run: bool = False,
    tsa: TimestampAuthority | None = None,
) -> RenewalResult:
    """Renew every stored signed PDF whose newest document timestamp is due.

    Args:
        session: Commits per document (claim, then the renewal).
        kek: Opens the CA, OCSP signer and TSA keys.
        data_dir: ``HIS_DATA_DIR`` (the files are under ``signed/``).
        policy: When a timestamp is due.
        actor: Named in the audit entries.
        now: The renewal's time (claims, CRL, OCSP); default now.
        force: Renew every file that has a document timestamp, due or not.
        dry_run: Only list what would be renewed; nothing is written.
        tsa: The timestamp source; default the clinic TSA (tests pin its clock).

    Returns:
        What was renewed, what failed and why, how many were skipped. A failure
        on one file leaves that file and its row as they were.
    """
    renewer = _Renewer(
        session=session,
        kek=kek,
        base=data_dir / "signed",
        policy=policy,
        now=now or utcnow(),
        actor=actor,
        tsa=tsa,
    )
    result = RenewalResult(dry_run=dry_run)
    blocked: str | None = None
    for row in _documents(session):
        try:
            facts = newest_document_timestamp(
                (renewer.base / row.file_name).read_bytes()
            )
        except FileNotFoundError:
            result.failed.append(row.outcome("文件缺失"))
            continue
        except SigningError as exc:
            result.failed.append(row.outcome(exc.message))
            continue
        reason = ""
        if facts is not None:
            reason = "强制续期" if force else renewal_reason(facts, policy, renewer.now)
        if not reason:
            result.skipped += 1
            continue
        if dry_run:
            result.renewed.append(row.outcome(reason))
            continue
        try:
            if blocked is None:
                blocked = "" if force else renewer.blocked()
            if blocked:
                result.failed.append(row.outcome(blocked))
            elif renewer.renew(row, reason, force=force):
                result.renewed.append(row.outcome(reason))
            else:
                result.skipped += 1
        except Exception as exc:  # one file's failure must not stop the others
            log.warning("archive renewal of document %s failed: %r", row.id, exc)
            message = exc.message if isinstance(exc, HisError) else repr(exc)
            result.failed.append(row.outcome(message))
    return result
