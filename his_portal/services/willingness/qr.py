"""意愿校验 方式2 微信扫码: a one-time URL opened on the phone, confirmed by a
face check (``/confirm/<token>``, no login on the phone).

A token lives 2 minutes; 重新生成 replaces it. On the phone, 开始人脸识别
(:func:`begin_face`) asks the face provider for a transaction bound to the doctor's
*verified* name and ID number and gives the phone the provider's page (5 minutes
from then); back from it, :func:`confirm_qr` asks the provider for the result of
*that stored* transaction and checks it against the same identity. The phone never
says who it is or which transaction to use. The confirmation itself (binding,
states, consume) is :mod:`.willingness`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from his_portal.adapters.face import FaceCheckError, FaceCheckProvider
from his_portal.models import Confirmation, MedicalRecord, Patient, User, utcnow
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.profile import ID_PURPOSE
from his_portal.services.pki.keyvault import decrypt_field
from his_portal.services.willingness.core import (
    MSG_GONE,
    QR_TTL,
    WillingnessError,
    audit,
    confirm,
    load,
    mac,
    profile_of,
    record_ids_of,
    refuse,
    require_pending,
    signer,
    spend_attempt,
    update,
    view,
    wrong,
)

__all__ = [
    "FACE_TTL",
    "QrIssued",
    "QrView",
    "begin_face",
    "confirm_qr",
    "describe_qr",
    "new_qr_token",
]

MSG_QR_GONE = "二维码已失效，请在电脑上重新生成"
MSG_NO_FACE = "未配置人脸核身服务，请使用短信验证码方式"
FACE_TTL = timedelta(minutes=5)
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
    face_started: bool = False  # 开始人脸识别 was pressed (the provider has a ref)


def new_qr_token(
    session: Session,
    *,
    confirmation_id: int,
    user: CurrentUser,
    session_token: str,
    face: FaceCheckProvider | None,
    public_url: str,
    secret: bytes,
    now: datetime | None = None,
) -> QrIssued:
    """生成二维码 / 重新生成: a fresh 2-minute token; the old one stops working.

    Raises:
        WillingnessError: No face provider configured; binding or state refused.
    """
    now = now or utcnow()
    if face is None:
        raise WillingnessError(MSG_NO_FACE)
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
        face_ref="",
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
    ids = record_ids_of(row)
    numbers = session.exec(
        select(Patient.record_no)
        .join(MedicalRecord, col(MedicalRecord.patient_id) == Patient.id)
        .where(col(MedicalRecord.id).in_(ids))
        .order_by(MedicalRecord.id)
    ).all()
    profile = profile_of(session, row.user_id)
    name = profile.name if profile else ""
    status = view(row, now).status
    started = bool(row.face_ref)
    return QrView(name, len(ids), tuple(numbers), status, row.expires_at, started)


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


def _pending_by_token(
    session: Session, token: str, secret: bytes, actor: Actor, now: datetime
) -> tuple[Confirmation, Actor]:
    row = _by_token(session, token, secret)
    if row is None:
        raise refuse(session, actor, None, "unknown_token", MSG_QR_GONE)
    user = session.get(User, row.user_id)
    actor = Actor(user.id, user.login_id, actor.ip, actor.user_agent)
    require_pending(session, actor, row, "qr")
    if now >= row.expires_at:
        raise refuse(session, actor, row.id, "expired", MSG_QR_GONE)
    return row, actor


def _identity(session: Session, row: Confirmation, kek: bytes) -> tuple[str, str]:
    """The doctor's verified name and full ID number, for the provider only."""
    user = session.get(User, row.user_id)
    profile = signer(session, user.id, user.role)
    return profile.name, decrypt_field(
        profile.id_number_enc, kek=kek, purpose=ID_PURPOSE
    )


def begin_face(
    session: Session,
    *,
    token: str,
    face: FaceCheckProvider | None,
    return_url: str,
    secret: bytes,
    kek: bytes,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> str:
    """开始人脸识别 on the phone: a provider transaction for the verified doctor.

    Returns:
        The provider's page for the phone ("" when the demo provider simulates it
        on our own page).

    Raises:
        WillingnessError: Unknown, replaced or expired token; no face provider;
            the provider could not start.
    """
    now = now or utcnow()
    if face is None:
        raise WillingnessError(MSG_NO_FACE)
    row, actor = _pending_by_token(session, token, secret, actor or Actor(), now)
    name, id_number = _identity(session, row, kek)
    token_hash = row.qr_token_hash
    session.commit()  # no transaction is held while the provider answers
    try:
        started = face.begin(name=name, id_number=id_number, return_url=return_url)
    except FaceCheckError as exc:
        audit(session, actor, "willingness.face_error", row.id, provider=face.name)
        session.commit()
        raise WillingnessError(exc.message) from exc
    if not update(
        session,
        row,
        _T.status == "pending",
        _T.qr_token_hash == token_hash,
        face_ref=started.ref[:128],
        expires_at=now + FACE_TTL,
    ):
        session.rollback()
        raise WillingnessError(MSG_QR_GONE)
    audit(session, actor, "willingness.face_started", row.id, provider=face.name)
    session.commit()
    return started.url


def _give_back(
    session: Session, actor: Actor, row: Confirmation, action: str, provider: str
) -> None:
    """Undo the attempt counted for a face check that gave no verdict (commits)."""
    update(session, row, _T.attempts > 0, attempts=_T.attempts - 1)
    audit(session, actor, action, row.id, provider=provider)
    session.commit()


def confirm_qr(
    session: Session,
    *,
    token: str,
    face: FaceCheckProvider | None,
    secret: bytes,
    kek: bytes,
    evidence: str = "",
    actor: Actor | None = None,
    now: datetime | None = None,
) -> QrView:
    """Back from the face check: confirm if the provider says the stored transaction
    matched the verified doctor (commits); the token works once.

    Args:
        evidence: Only the demo provider reads it (the simulated result).
        actor: The phone's address for the audit log; the doctor is filled in.

    Raises:
        WillingnessError: Unknown, replaced or expired token; face check not
            started, failed (the confirmation stays pending until the 5th failure)
            or unavailable.
    """
    now = now or utcnow()
    if face is None:
        raise WillingnessError(MSG_NO_FACE)
    row, actor = _pending_by_token(session, token, secret, actor or Actor(), now)
    if not row.face_ref:
        raise WillingnessError("请先点击开始人脸识别")
    name, id_number = _identity(session, row, kek)
    token_hash, ref = row.qr_token_hash, row.face_ref
    spend_attempt(session, actor, row)
    try:
        result = face.result(
            ref=ref, name=name, id_number=id_number, evidence=str(evidence)[:64]
        )
    except FaceCheckError as exc:  # no answer: the attempt is given back
        _give_back(session, actor, row, "willingness.face_error", face.name)
        raise WillingnessError(exc.message) from exc
    if not result.finished:  # e.g. the phone came back early: not a failure
        _give_back(session, actor, row, "willingness.face_unfinished", face.name)
        raise WillingnessError(result.message)
    if not result.matched:
        raise wrong(session, actor, row, "face_mismatch", result.message)
    same = (_T.qr_token_hash == token_hash, _T.face_ref == ref)
    confirm(session, actor, row, now, *same, via="face", ref=result.reference)
    return _qr_view(session, row, now)
