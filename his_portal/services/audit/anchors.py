"""Anchoring the head with an RFC 3161 timestamp token."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlmodel import Session, col, select

from his_portal.adapters.tsa_client import (
    TimestampSource,
    TsaProviderError,
    build_request,
    token_from_response,
)
from his_portal.models import AuditAnchor, AuditEvent, AuditHead, utcnow
from his_portal.services.audit.chain import (
    AuditError,
    _audit_key,
    _entry_mac,
    _head_mac,
    _same,
)
from his_portal.services.pki import certificates
from his_portal.services.pki.timestamp_authority import TimestampAuthority

# --- anchoring -------------------------------------------------------------------


def _imprint_data(seq: int, hash_: str, mac: str) -> bytes:
    return f"{seq}|{hash_}|{mac}".encode()


def clinic_tsa(session: Session, kek: bytes) -> TimestampAuthority:
    """The clinic's built-in TSA, as record signing builds it.

    Raises:
        keyvault.PkiError: No clinic CA yet (``cli init``), or the KEK does not
            open the TSA key.
    """
    ca = certificates.load_authority(session=session, kek=kek)
    tsa = certificates.load_authority(
        session=session, kek=kek, purpose=certificates.TSA
    )
    return TimestampAuthority(
        cert_pem=tsa.cert_pem, key=tsa.key, ca_chain_pems=[ca.cert_pem]
    )


def anchor_head(
    *,
    session: Session,
    tsa: TimestampSource,
    now: datetime | None = None,
    key: bytes | None = None,
) -> AuditAnchor | None:
    """Timestamp the current head with ``tsa`` and store the token (caller commits).

    Cheap when nothing changed: two primary-key / indexed reads, no TSA call.

    Args:
        session: Open database session.
        tsa: Anything with ``timestamp(request_der) -> response_der``: the clinic's
            :class:`~.pki.timestamp_authority.TimestampAuthority` (see
            :func:`clinic_tsa`) or an external
            :class:`~his_portal.adapters.tsa_client.HttpTimestampSource`.
        now: Our clock for ``AuditAnchor.at`` (the token carries the TSA's time).
        key: The audit key; default the process's.

    Returns:
        The new anchor, or None when the log is empty or the head has not moved
        since the latest anchor.

    Raises:
        AuditError: The head does not verify (it is not anchored), or the TSA
            failed or answered something else.
    """
    head = session.get(AuditHead, 1)
    if head is None or head.seq <= 0:
        return None
    latest = session.exec(
        select(AuditAnchor).order_by(col(AuditAnchor.id).desc()).limit(1)
    ).first()
    if latest is not None and latest.seq == head.seq and latest.hash == head.hash:
        return None
    key = key or _audit_key()
    newest = session.exec(select(AuditEvent).where(AuditEvent.seq == head.seq)).first()
    if (
        not _same(head.mac, _head_mac(key, head.seq, head.hash))
        or newest is None
        or newest.hash != head.hash
        or not _same(newest.hash, _entry_mac(key, newest))
    ):
        raise AuditError(
            "审计日志头部校验失败，不予加盖时间戳，请运行 verify-audit 检查"
        )
    request, _nonce = build_request(_imprint_data(head.seq, head.hash, head.mac))
    try:
        token = token_from_response(tsa.timestamp(request), request_der=request)
    except TsaProviderError as exc:
        raise AuditError(f"审计日志加盖时间戳失败：{exc.message}") from exc
    anchor = AuditAnchor(
        seq=head.seq,
        hash=head.hash,
        at=now or utcnow(),
        token=base64.b64encode(token.dump()).decode("ascii"),
    )
    session.add(anchor)
    session.flush()
    return anchor
