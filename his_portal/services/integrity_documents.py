"""The integrity check of one stored signed PDF: present, the SHA-256 recorded at
signing, its PAdES level, and its signature validated offline against the clinic
CA only.

pyHanko validates the signature (intact, valid, trusted, a trusted timestamp) now
or, failing that, as of its trusted timestamp's time (a certificate that expired
or was revoked since does not make an earlier signature invalid). A file whose
structure is B-LTA must then also pass the long-term validation an archive would
run (:func:`~.archive_validation.validate_archived`: nothing fetched, the
revocation data embedded at signing speaking for the signing time), so the level
the report states is real; a B-T or B-LT file must have nothing but validation
data after its signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from his_portal.services.signing.archive_validation import validate_archived
from his_portal.services.signing.pades_level import PadesLevel
from his_portal.services.signing.validation import (
    ValidationError,
    validate_with_pyhanko,
)

__all__ = ["DocumentCheck", "check_document"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DocumentCheck:
    """One stored signed PDF's result."""

    level: str
    """Its PAdES level ("B-LTA", …), "" when the file could not be read."""
    reason: str | None
    """Why it fails, None when it passes."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _archive_problem(pdf: bytes, ca_pem: bytes) -> str | None:
    try:
        archive = validate_archived(pdf, trust_roots_pem=[ca_pem])
    except ValidationError as exc:
        return f"长期验证（B-LTA）无法校验：{exc.message}"
    if not archive.passed:
        return f"长期验证（B-LTA）未通过：{archive.indication}"
    return None


def _signature_problems(pdf: bytes, ca_pem: bytes) -> tuple[str, list[str]]:
    """The level ("" : unreadable) and what is wrong with the signature."""
    try:
        report = validate_with_pyhanko(pdf, trust_roots_pem=[ca_pem])
        if not report.ok and report.timestamp_valid and report.timestamp_time:
            # Valid as of its trusted timestamp (the certificate may have expired
            # or been revoked since: the signature was made while it was valid).
            report = validate_with_pyhanko(
                pdf, trust_roots_pem=[ca_pem], moment=report.timestamp_time
            )
    except ValidationError as exc:
        return "", [f"签名无法校验：{exc.message}"]
    archived = report.level == PadesLevel.B_LTA
    problems = [
        text
        for ok, text in (
            (report.intact, "签名后内容被改动"),
            (report.valid, "签名值无效"),
            (report.trusted, "签名证书不受本院CA信任"),
            (report.timestamp_valid, "时间戳无效"),
            (
                report.archived
                if archived
                else report.covers_whole_file or report.lta_updates_only,
                "签名后追加了内容",
            ),
        )
        if not ok
    ]
    if archived and not problems:
        problems += filter(None, [_archive_problem(pdf, ca_pem)])
    return report.level.value, problems


def check_document(
    *, file_name: str, sha256: str, base: Path, ca_pem: bytes
) -> DocumentCheck:
    """One stored signed PDF's level, and why it fails (None when it passes).

    Args:
        file_name: ``SignedDocument.file_name``, relative to ``base``.
        sha256: The hash recorded at signing.
        base: The signed-PDF directory (``$HIS_DATA_DIR/signed``).
        ca_pem: The clinic CA, the only trust root.
    """
    path = (base / file_name).resolve()
    if not path.is_relative_to(base.resolve()):
        return DocumentCheck("", "文件路径不在签名文件目录内")
    if not path.is_file():
        return DocumentCheck("", "文件缺失")
    if _sha256(path) != sha256:
        return DocumentCheck("", "文件内容与签署时的SHA-256不符")
    level, problems = _signature_problems(path.read_bytes(), ca_pem)
    return DocumentCheck(level, "；".join(problems) or None)
