"""验证's report: what the page shows about each signature of an uploaded PDF, in
words a doctor or a patient understands, from pyHanko's validation status."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import x509
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel

from his_portal.models import CertStatus, DoctorCertificate

__all__ = [
    "SignatureCheck",
    "VerificationReport",
    "cert_status",
    "changes",
    "coverage",
    "name_of",
    "reasons",
]

TIME = "%Y-%m-%d %H:%M:%S"
_ACCEPTED = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)

WHOLE_FILE = "是，签名覆盖整个文件"
WHOLE_WITH_LTV = (
    "是，签名覆盖签署时的完整文件；其后仅追加了长期验证数据和文档时间戳（正常）"
)
SIGNED_PART = "否，签名覆盖签署时的完整文件，其后另有追加内容（见签名后的改动）"
ABNORMAL = "否，签名范围异常"


@dataclass(frozen=True)
class SignatureCheck:
    """One signature's verdict and what the page shows about it (display strings)."""

    field_name: str
    valid: bool
    """有效: intact, by a trusted certificate valid at the signing time, trusted
    timestamp, nothing changed after it but long-term validation data."""
    reasons: tuple[str, ...]
    """Why it is 无效 (empty when valid)."""
    signer: str
    issuer: str
    serial: str
    cert_status: str
    signing_time: str
    timestamp: str
    """The trusted time (TSA's genTime), or why there is none."""
    tsa: str
    covers_whole_file: bool
    coverage: str
    """What the signature covers, in words (the B-LTA case reads as normal)."""
    changes: str
    """What changed or was added after signing, in words."""
    level: str
    """The PAdES level in words, e.g. "PAdES B-LTA（长期验证，含文档时间戳）"."""


@dataclass(frozen=True)
class VerificationReport:
    """The uploaded file's report."""

    signatures: tuple[SignatureCheck, ...]
    sha256: str
    size: int
    matched: bool
    """The file (or its signed part) is a signed version stored by this system."""
    match: str
    """The match in words, e.g. "与本系统第2版签署文件一致"."""

    @property
    def all_valid(self) -> bool:
        return all(check.valid for check in self.signatures)


def name_of(cert: x509.Certificate | None, part: str = "subject") -> str:
    if cert is None:
        return ""
    names = getattr(cert, part).native
    return str(names.get("common_name") or names.get("organization_name") or "")


def reasons(status: PdfSignatureStatus, cert: DoctorCertificate | None) -> list[str]:
    found = []
    if not status.intact:
        found.append("签名后文件内容被改动（文档摘要与签名不一致）")
    elif not status.valid:
        found.append("签名值校验失败")
    elif status.revoked:
        found.append("签名时证书已被吊销")
    elif not status.trusted:
        found.append("签名证书不是由本院CA签发或证书链无法验证（不受信任）")
    if cert is not None and cert.revoke_reason in ("key_compromise", "keyCompromise"):
        found.append("签名证书因私钥泄露被吊销")
    stamp = status.timestamp_validity
    if stamp is None:
        found.append("没有可信时间戳")
    elif not (stamp.intact and stamp.valid and stamp.trusted):
        found.append("签名时间戳无效或不受信任")
    covered = status.coverage
    if covered is None or covered < SignatureCoverageLevel.ENTIRE_REVISION:
        found.append("签名范围异常，未覆盖完整的文件版本")
    elif status.modification_level not in _ACCEPTED:
        found.append("签名后文件被追加修改")
    return found


def _only_ltv(status: PdfSignatureStatus, tail_covered: bool) -> bool:
    return (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level == ModificationLevel.LTA_UPDATES
        and tail_covered
    )


def coverage(status: PdfSignatureStatus, *, tail_covered: bool) -> str:
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return WHOLE_FILE
    if _only_ltv(status, tail_covered):
        return WHOLE_WITH_LTV
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        return SIGNED_PART
    return ABNORMAL


def changes(status: PdfSignatureStatus, *, tail_covered: bool) -> str:
    if not status.intact:
        return "已签名的内容被改动"
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return "无（签名覆盖整个文件）"
    if status.coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return "签名范围异常"
    level = status.modification_level
    if level == ModificationLevel.NONE:
        return "签名后文件末尾有追加数据，已签名内容未改动"
    if level == ModificationLevel.LTA_UPDATES and not tail_covered:
        return "签名后追加了长期验证数据，其后文件末尾还有追加数据，已签名内容未改动"
    if level == ModificationLevel.LTA_UPDATES:
        return "签名后仅追加了长期验证数据和文档时间戳（允许）"
    if level == ModificationLevel.FORM_FILLING:
        return "签名后有增量更新：填写了表单或追加了签名"
    if level == ModificationLevel.ANNOTATIONS:
        return "签名后有增量更新：添加或修改了注释"
    return "签名后有增量更新：修改了页面内容或文件结构"


def cert_status(row: DoctorCertificate | None, trusted: bool, zone, now) -> str:
    if row is None:
        return "本院CA签发" if trusted else "非本系统签发的证书"
    if row.status == CertStatus.REVOKED:
        return f"已吊销（{row.revoked_at.astimezone(zone):{TIME}}）"
    until = row.not_after.astimezone(zone).strftime("%Y-%m-%d")
    if now >= row.not_after:
        return f"已过期（有效期至 {until}）"
    return f"有效（有效期至 {until}）"
