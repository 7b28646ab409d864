"""意愿校验 方式2 微信扫码: a one-time URL opened on the phone, confirmed by a
face check (``/confirm/<token>``, no login on the phone).

A token lives 2 minutes; 重新生成 replaces it. The confirmation itself (binding,
states, consume) is :mod:`.willingness`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from his_portal.adapters.face import FaceCheckError, FaceCheckProvider
from his_portal.models import Confirmation, MedicalRecord, Patient, User, utcnow
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser
from his_portal.services.willingness import (
    MSG_GONE,
    QR_TTL,
    WillingnessError,
    audit,
    confirm,
    load,
    mac,
    profile_of,
    refuse,
    require_pending,
    signer,
    spend_attempt,
    update,
    view,
    wrong,
)

__all__ = [
    "QrIssued",
    "QrView",
    "confirm_qr",
    "describe_qr",
    "new_qr_token",
]

MSG_QR_GONE = "二维码已失效，请在电脑上重新生成"
_T = Confirmation.__table__.c


@dataclass(frozen=True)
class QrIssued:
    """The URL to draw as a QR code (the token is inside it) and its deadline."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class QrView:
    """What the phone shows before and after confirming."""

    doctor_name: str
    record_count: int
    record_nos: tuple[str, ...]  # 病历号 per record, in record order
    status: str
    expires_at: datetime


def new_qr_token(
    session: Session,
    *,
    confirmation_id: int,
    user: CurrentUser,
    session_token: str,
    public_url: str,
    secret: bytes,
    now: datetime | None = None,
) -> QrIssued:
    """生成二维码 / 重新生成: a fresh 2-minute token; the old one stops working.

    Raises:
        WillingnessError: Binding or state refused.
    """
    now = now or utcnow()
    row, actor = load(session, confirmation_id, user, session_token, secret)
    require_pending(session, actor, row, "qr")
    signer(session, user.id, user.role)
    token = secrets.token_urlsafe(24)
    renewed = bool(row.qr_token_hash)
    token_hash, expires = mac(secret, "qr", token), now + QR_TTL
    if not update(
        session,
        row,
        _T.status == "pending",
        qr_token_hash=token_hash,
        expires_at=expires,
    ):
        session.rollback()
        raise WillingnessError(MSG_GONE)
    audit(session, actor, "willingness.qr_issued", row.id, renewed=renewed)
    session.commit()
    return QrIssued(f"{public_url.rstrip('/')}/confirm/{token}", expires)


def _by_token(session: Session, token: str, secret: bytes) -> Confirmation | None:
    if not token:
        return None
    query = select(Confirmation).where(
        Confirmation.qr_token_hash == mac(secret, "qr", token),
        Confirmation.method == "qr",
    )
    return session.exec(query).first()


def _qr_view(session: Session, row: Confirmation, now: datetime) -> QrView:
    ids = [int(i) for i in row.record_ids.split(",")]
    numbers = session.exec(
        select(Patient.record_no)
        .join(MedicalRecord, col(MedicalRecord.patient_id) == Patient.id)
        .where(col(MedicalRecord.id).in_(ids))
        .order_by(MedicalRecord.id)
    ).all()
    profile = profile_of(session, row.user_id)
    name = profile.name if profile else ""
    status = view(row, now).status
    return QrView(name, len(ids), tuple(numbers), status, row.expires_at)


def describe_qr(
    session: Session, *, token: str, secret: bytes, now: datetime | None = None
) -> QrView:
    """What the phone shows: doctor, number of records, their 病历号.

    Raises:
        WillingnessError: Unknown, replaced, used or expired token.
    """
    now = now or utcnow()
    row = _by_token(session, token, secret)
    if row is None or row.status != "pending" or now >= row.expires_at:
        raise WillingnessError(MSG_QR_GONE)
    return _qr_view(session, row, now)


def confirm_qr(
    session: Session,
    *,
    token: str,
    face: FaceCheckProvider,
    evidence: str,
    secret: bytes,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> QrView:
    """The phone confirms with a face check (commits); the token works once.

    Args:
        actor: The phone's address for the audit log; the doctor is filled in.

    Raises:
        WillingnessError: Unknown, replaced or expired token; face check failed
            (the confirmation stays pending until the 5th failure) or unavailable.
    """
    now = now or utcnow()
    row = _by_token(session, token, secret)
    actor = actor or Actor()
    if row is None:
        raise refuse(session, actor, None, "unknown_token", MSG_QR_GONE)
    user = session.get(User, row.user_id)
    actor = Actor(user.id, user.login_id, actor.ip, actor.user_agent)
    require_pending(session, actor, row, "qr")
    if now >= row.expires_at:
        raise refuse(session, actor, row.id, "expired", MSG_QR_GONE)
    profile = signer(session, user.id, user.role)
    token_hash = row.qr_token_hash
    spend_attempt(session, actor, row)
    try:
        result = face.verify(
            name=profile.name,
            id_number_masked=profile.id_number_masked,
            evidence=evidence,
        )
    except FaceCheckError as exc:  # no answer: the attempt is given back
        update(session, row, _T.attempts > 0, attempts=_T.attempts - 1)
        audit(session, actor, "willingness.face_error", row.id, provider=face.name)
        session.commit()
        raise WillingnessError(exc.message) from exc
    if not result.matched:
        raise wrong(session, actor, row, "face_mismatch", result.message)
    same_token = _T.qr_token_hash == token_hash  # not replaced meanwhile
    confirm(session, actor, row, now, same_token, via="face", ref=result.reference)
    return _qr_view(session, row, now)
