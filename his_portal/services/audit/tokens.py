"""Checking anchor tokens: signature, TSA chain and imprint, with pyHanko."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import cms, pem, x509
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from sqlmodel import Session

from his_portal.models import AuditAnchor
from his_portal.services.audit.anchors import _imprint_data
from his_portal.services.audit.chain import _head_mac
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import PkiError


def _trust_context_factory(
    session: Session, roots: Sequence[bytes] | None, system_trust: bool
) -> Callable[[datetime], Any]:
    if roots is None:
        try:
            roots = [certificates.ca_certificate_pem(session=session)]
        except PkiError:
            roots = []
    certs = []
    for data in roots:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        certs.append(x509.Certificate.load(der))

    def make(moment: datetime) -> ValidationContext:
        trust = {"extra_trust_roots": certs} if system_trust else {"trust_roots": certs}
        return ValidationContext(
            **trust, allow_fetching=False, revocation_mode="soft-fail", moment=moment
        )

    return make


@dataclass(frozen=True)
class _AnchorCheck:
    anchor: AuditAnchor
    time: datetime | None
    problem: str = ""


async def _check_tokens(
    anchors: Sequence[AuditAnchor], key: bytes, context: Callable[[datetime], Any]
) -> list[_AnchorCheck]:
    results = []
    for anchor in anchors:
        try:
            info = cms.ContentInfo.load(base64.b64decode(anchor.token, validate=True))
            signed_data = info["content"]
            tst_info = signed_data["encap_content_info"]["content"].parsed
            gen_time = tst_info["gen_time"].native
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            results.append(_AnchorCheck(anchor, None, "timestamp token unreadable"))
            continue
        data = _imprint_data(
            anchor.seq, anchor.hash, _head_mac(key, anchor.seq, anchor.hash)
        )
        try:
            kwargs = await validate_tst_signed_data(
                signed_data,
                context(gen_time),
                lambda algorithm, data=data: hashlib.new(algorithm, data).digest(),
            )
            status = TimestampSignatureStatus(**kwargs)
        except (SignatureValidationError, ValueError, TypeError, KeyError) as exc:
            problem = f"timestamp token does not verify ({exc})"
            results.append(_AnchorCheck(anchor, gen_time, problem))
            continue
        if not status.intact:
            problem = "token does not cover this seq and hash (anchor row altered)"
        elif not status.valid:
            problem = "TSA signature does not verify"
        elif not status.trusted:
            problem = f"TSA certificate not trusted ({status.trust_problem_indic})"
        else:
            problem = ""
        results.append(_AnchorCheck(anchor, gen_time, problem))
    return results


def _run(make_coroutine: Callable[[], Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    # Called from async code (an event handler): pyHanko's validator wants its own
    # loop, so give it one in a worker thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()
