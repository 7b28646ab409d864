"""验证 (public, no login): checking an uploaded signed PDF, and the status page
behind the QR code in every signed PDF's footer (``/verify/<id>``).

The upload streams into memory (Reflex's chunked upload; never a temporary file)
and is checked in a worker thread; the upload guard (:mod:`his_portal.upload_guard`)
has already refused bodies over the size limit and addresses over the rate limit.
What reaches the browser are display strings about signatures and certificates,
never a patient's data.
"""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from his_portal import db, deps
from his_portal.errors import HisError
from his_portal.services.signing import verification, verify_links
from his_portal.services.signing.public_limits import RATE_LIMITED, lookup_limiter
from his_portal.settings import clinic_zone

UPLOAD_ID = "verify-upload"
REJECTED = "请选择一个不超过20MB的PDF文件"


@dataclasses.dataclass
class SignatureView:
    """One signature as the page shows it."""

    title: str = ""
    valid: bool = False
    reasons: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    """(项目, 结果) rows."""


def _view(number: int, check: verification.SignatureCheck) -> SignatureView:
    items = [
        ["签署者", check.signer or "—"],
        ["证书颁发者", check.issuer or "—"],
        ["证书序列号", check.serial or "—"],
        ["证书状态", check.cert_status or "—"],
        ["签名时间（签署方声明）", check.signing_time or "—"],
        ["时间戳时间（可信时间）", check.timestamp or "—"],
        ["时间戳机构", check.tsa or "—"],
        ["签名级别", check.level or "—"],
        ["签名覆盖范围", check.coverage or "—"],
        ["签名后的改动", check.changes or "—"],
    ]
    verdict = "有效" if check.valid else "无效"
    return SignatureView(
        title=f"签名 {number}：{verdict}",
        valid=check.valid,
        reasons=list(check.reasons),
        rows=items,
    )


async def read_upload(chunks: rx.UploadChunkIterator) -> tuple[bytes, str]:
    """The first uploaded file, in memory, at most the size limit.

    Raises:
        verification.VerificationError: Over the size limit.
    """
    data, name = bytearray(), None
    async for chunk in chunks:
        name = chunk.filename if name is None else name
        if chunk.filename != name:
            continue  # one file per check; the page sends only one
        data += chunk.data
        if len(data) > verification.MAX_PDF_BYTES:
            raise verification.VerificationError(verification.TOO_LARGE)
    return bytes(data), name or ""


def check_pdf(data: bytes) -> verification.VerificationReport:
    """Check an uploaded PDF (blocking: run it in a thread)."""
    with db.session() as session:
        return verification.verify_pdf(
            session=session, data=data, kek=deps.kek(), zone=clinic_zone()
        )


class VerifyState(rx.State):
    """/verify: upload a signed PDF, see every signature's verdict."""

    busy: bool = False
    error: str = ""
    checked: bool = False
    file_name: str = ""
    all_valid: bool = False
    matched: bool = False
    match: str = ""
    sha256: str = ""
    signatures: list[SignatureView] = []

    @rx.event
    def on_load(self):
        self.busy, self.error, self.checked, self.signatures = False, "", False, []

    @rx.event
    def rejected(self, files: list[dict]):
        """The browser refused the file (not a PDF, too large, several files)."""
        self.error = REJECTED

    @rx.event(background=True)
    async def handle_upload(self, chunks: rx.UploadChunkIterator):
        if not isinstance(chunks, rx.UploadChunkIterator):
            return  # a websocket call: files come only through /_upload
        async with self:
            self.busy, self.error, self.checked, self.signatures = True, "", False, []
        try:
            data, name = await read_upload(chunks)
            report = await asyncio.to_thread(check_pdf, data)
        except HisError as exc:
            async with self:
                self.busy, self.error = False, exc.message
            return
        async with self:
            self.busy, self.checked, self.file_name = False, True, name
            self.all_valid, self.matched = report.all_valid, report.matched
            self.match, self.sha256 = report.match, report.sha256
            self.signatures = [
                _view(n, check) for n, check in enumerate(report.signatures, 1)
            ]


class VerifyRecordState(rx.State):
    """/verify/<id>: the status of the signed record version behind a QR code."""

    found: bool = False
    message: str = ""
    status: str = ""
    label: str = ""
    note: str = ""
    items: list[list[str]] = []

    def _verify_id(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    @rx.event
    def on_load(self):
        self.found, self.items = False, []
        if not lookup_limiter.allow(self.router.session.client_ip):
            self.message = RATE_LIMITED
            return
        try:
            with db.session() as session:
                view = verify_links.record_signature_status(
                    session=session, verify_id=self._verify_id(), zone=clinic_zone()
                )
        except HisError as exc:
            self.message = exc.message
            return
        self.found, self.message = True, ""
        self.status, self.label, self.note = view.status, view.label, view.note
        self.items = [
            ["签署医生", view.signer_name],
            ["门诊", view.clinic_name],
            ["签署时间", view.signed_at],
            ["病历版本", f"第{view.version}版"],
            ["证书序列号", view.cert_serial],
            ["证书状态", view.cert_status],
            ["签署文件 SHA-256", view.sha256],
        ]
