"""意愿校验: the doctor's step-up confirmation right before signing.

One ``Confirmation`` row per attempt to sign a set of records, by 短信 (``"sms"``: a
6-digit code to the mobile of the *verified* profile) or 微信扫码 (``"qr"``: a
one-time URL opened on the phone, confirmed by a face check)::

    pending ─ right code / face match ─> confirmed ─ consume ─> used
    pending ─ 5 wrong codes or failed face checks ─> failed
    pending, confirmed ─ cancel_open (实名认证 ended) ─> cancelled
    confirmed past its use window ─ consume ─> expired

``expires_at`` is the deadline of the current phase: while pending, of the code
(5 min) or QR token (2 min) issued last; once confirmed, of the use window
(10 min): the signing step must start by then, or the doctor confirms again.

Binding (NIST SP 800-63B, OWASP ASVS V6): a confirmation belongs to one doctor, the
exact record set and the browser's login session; :func:`consume` checks all three.
Codes, tokens and the session token are stored only as HMAC-SHA256 under ``secret``
(:func:`derive_secret` from the KEK): a plain SHA-256 of a 6-digit code is reversed by
trying all 10**6 codes. A code's MAC also covers its row's id, doctor, session and
records, so a hash copied to another row opens nothing.

Limits: 5 checks per confirmation (a resend does not reset them); one SMS per 60 s
per confirmation *and* per mobile, at most 10 per mobile per hour (``SmsMessage`` is
the counter). SMS log: the full text for the demo provider (the ``/dev/sms``
outbox), the code masked for real gateways (see :mod:`his_portal.adapters.sms`).

Races: each state change is an UPDATE whose WHERE repeats the state it expects, and
the rowcount says who won (two ``consume`` calls cannot both succeed). No database
lock is held while an SMS gateway or face provider is called.

Public functions commit (a counted attempt or a logged refusal must survive the
refusal), except :func:`cancel_open`, which joins the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from his_portal.adapters.face import FaceCheckError, FaceCheckProvider
from his_portal.adapters.sms import SmsProvider, SmsProviderError
from his_portal.models import (
    Confirmation,
    DoctorProfile,
    LockStatus,
    MedicalRecord,
    Patient,
    Role,
    SignStatus,
    SmsMessage,
    User,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.idcard import mask_mobile

__all__ = [
    "CODE_TTL",
    "MAX_ATTEMPTS",
    "MAX_RECORDS",
    "QR_TTL",
    "RESEND_COOLDOWN",
    "SMS_PURPOSE",
    "USE_WINDOW",
    "CodeSent",
    "ConfirmationView",
    "QrIssued",
    "QrView",
    "Started",
    "WillingnessError",
    "cancel_open",
    "check_code",
    "confirm_qr",
    "confirmation_status",
    "consume",
    "derive_secret",
    "describe_qr",
    "new_qr_token",
    "send_code",
    "start",
]

CODE_TTL = timedelta(minutes=5)
QR_TTL = timedelta(minutes=2)
USE_WINDOW = timedelta(minutes=10)
RESEND_COOLDOWN = timedelta(seconds=60)
SMS_PER_HOUR = 10
MAX_ATTEMPTS = 5
MAX_RECORDS = 50  # SDK practice: at most 50 documents per SMS code
SMS_PURPOSE = "willingness"
SMS_TEXT = (
    "【牙医云】您正在签署{count}份病历，验证码{code}，5分钟内有效。如非本人操作请忽略。"
)
MSG_GONE = "意愿校验不存在或已失效，请重新发起"
MSG_MISMATCH = "意愿校验与当前登录不一致，请重新发起"
MSG_FAILED = "错误次数过多，本次意愿校验已失效，请重新发起"
MSG_QR_GONE = "二维码已失效，请在电脑上重新生成"
MSG_REUSED = "该意愿校验已使用，请重新进行意愿校验"
MSG_OWN = "只能签署本人的病历"
_CLOSED = {
    "confirmed": "已完成意愿校验，请继续签署",
    "used": MSG_REUSED,
    "failed": MSG_FAILED,
}
_T = Confirmation.__table__.c


class WillingnessError(Exception):
    """A refused willingness step; ``message`` is shown as is.

    ``retry_after`` (seconds) is set when the refusal is only a matter of waiting.
    """

    def __init__(self, message: str, *, retry_after: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Started:
    """A new confirmation; the dialog shows where the code will go."""

    confirmation_id: int
    method: str
    record_count: int
    mobile_masked: str
    expires_at: datetime


@dataclass(frozen=True)
class CodeSent:
    """An SMS went out; ``resend_in`` seconds until 重新获取 is allowed."""

    mobile_masked: str
    resend_in: int
    expires_at: datetime


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


@dataclass(frozen=True)
class ConfirmationView:
    """What the desktop polls; ``status`` is ``expired`` once the deadline passed."""

    id: int
    method: str
    status: str
    expires_at: datetime
    attempts_left: int


def derive_secret(kek: bytes) -> bytes:
    """The willingness HMAC key, derived from the KEK (never stored)."""
    return hmac.new(kek, b"his-portal willingness", hashlib.sha256).digest()


def _mac(secret: bytes, *parts: object) -> str:
    if len(secret) < 16:
        raise ValueError("意愿校验密钥过短")
    message = "\x1f".join(str(part) for part in parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _session_hash(secret: bytes, token: str) -> str:
    if not token:
        raise WillingnessError("登录已失效，请重新登录")
    return _mac(secret, "session", token)


def _code_hash(secret: bytes, row: Confirmation, code: str) -> str:
    return _mac(
        secret, "code", row.id, row.user_id, row.session_hash, row.records_digest, code
    )


def _record_set(record_ids: Iterable[int]) -> tuple[int, ...]:
    ids = tuple(sorted({int(i) for i in record_ids}))
    if not ids:
        raise WillingnessError("请选择要签署的病历")
    if len(ids) > MAX_RECORDS:
        raise WillingnessError(f"每次最多签署{MAX_RECORDS}份病历")
    return ids


def _digest(ids: tuple[int, ...]) -> str:
    return hashlib.sha256(("records:" + ",".join(map(str, ids))).encode()).hexdigest()


def _audit(session: Session, actor: Actor, action: str, row_id: Any, **detail) -> None:
    target = f"confirmation:{row_id}" if isinstance(row_id, int) else row_id or ""
    record_event(
        session=session, actor=actor, action=action, target=target, detail=detail
    )


def _refuse(
    session: Session, actor: Actor, row_id: Any, reason: str, message: str, **detail
) -> WillingnessError:
    """Log ``willingness.failed`` and commit; the caller raises the result."""
    _audit(session, actor, "willingness.failed", row_id, reason=reason, **detail)
    session.commit()
    return WillingnessError(message)


def _profile(session: Session, user_id: int) -> DoctorProfile | None:
    # Not identity.find_profile: identity imports this module (cancel_open).
    query = select(DoctorProfile).where(DoctorProfile.user_id == user_id)
    return session.exec(query).first()


def _signer(session: Session, user_id: int, role: str = Role.DOCTOR) -> DoctorProfile:
    if role != Role.DOCTOR:
        raise WillingnessError("只有医生可以签署病历")
    profile = _profile(session, user_id)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise WillingnessError("请先在个人中心完成实名认证，再签署病历")
    if not profile.esign_enabled:
        raise WillingnessError("电子签名未开启，请在个人中心 → 个性设置开启电子签名")
    return profile


def _load(
    session: Session, confirmation_id: int, user: CurrentUser, token: str, secret: bytes
) -> tuple[Confirmation, Actor]:
    """The confirmation if it is bound to this doctor and login session."""
    actor = Actor(user.id, user.login_id)
    row = session.get(Confirmation, confirmation_id)
    if row is None:
        raise WillingnessError(MSG_GONE)
    if row.user_id != user.id:
        raise _refuse(session, actor, row.id, "other_doctor", MSG_MISMATCH)
    if not hmac.compare_digest(row.session_hash, _session_hash(secret, token)):
        raise _refuse(session, actor, row.id, "other_session", MSG_MISMATCH)
    return row, actor


def _require_pending(session: Session, actor: Actor, row: Confirmation, method: str):
    if row.method != method:
        raise WillingnessError("意愿校验方式不符，请重新发起")
    if row.status != "pending":
        message = _CLOSED.get(row.status, MSG_GONE)
        raise _refuse(session, actor, row.id, "not_pending", message, status=row.status)


def _update(session: Session, row: Confirmation, *where, **values) -> bool:
    """Conditional UPDATE of ``row``; True (and ``row`` refreshed) if it matched."""
    table = Confirmation.__table__
    query = table.update().where(_T.id == row.id, *where).values(**values)
    won = session.execute(query).rowcount == 1
    if won:
        session.refresh(row)
    return won


def _spend_attempt(session: Session, actor: Actor, row: Confirmation) -> None:
    pending = (_T.status == "pending", _T.attempts < MAX_ATTEMPTS)
    if not _update(session, row, *pending, attempts=_T.attempts + 1):
        session.rollback()
        raise _refuse(session, actor, row.id, "too_many_attempts", MSG_FAILED)
    session.commit()  # counted before the answer is known


def _wrong(session: Session, actor: Actor, row: Confirmation, reason: str, msg: str):
    """A wrong code or failed face check: the last one ends the confirmation."""
    left = MAX_ATTEMPTS - row.attempts
    if left <= 0:
        _update(session, row, _T.status == "pending", status="failed")
        return _refuse(session, actor, row.id, "too_many_attempts", MSG_FAILED)
    return _refuse(session, actor, row.id, reason, f"{msg}，还可尝试{left}次")


def _confirm(
    session: Session, actor: Actor, row: Confirmation, now: datetime, *where, **detail
) -> None:
    confirmed = _update(
        session,
        row,
        _T.status == "pending",
        *where,
        status="confirmed",
        confirmed_at=now,
        expires_at=now + USE_WINDOW,
        code_hash="",  # single use: nothing left to check against
        qr_token_hash="",
    )
    if not confirmed:
        session.rollback()
        raise _refuse(session, actor, row.id, "not_pending", MSG_GONE)
    _audit(session, actor, "willingness.confirmed", row.id, method=row.method, **detail)
    session.commit()


def _view(row: Confirmation, now: datetime) -> ConfirmationView:
    status = row.status
    if status in ("pending", "confirmed") and now >= row.expires_at:
        status = "expired"
    left = max(MAX_ATTEMPTS - row.attempts, 0)
    return ConfirmationView(row.id, row.method, status, row.expires_at, left)


def start(
    session: Session,
    *,
    user: CurrentUser,
    session_token: str,
    record_ids: Iterable[int],
    method: str,
    secret: bytes,
    now: datetime | None = None,
) -> Started:
    """Open a confirmation for the doctor's own unsigned records (commits).

    Raises:
        WillingnessError: Not a verified doctor with 电子签名 on; no, too many,
            someone else's, or already signed records.
    """
    now = now or utcnow()
    actor = Actor(user.id, user.login_id)
    if method not in ("sms", "qr"):
        raise WillingnessError("请选择意愿校验方式")
    profile = _signer(session, user.id, user.role)
    ids = _record_set(record_ids)
    rows = session.exec(select(MedicalRecord).where(col(MedicalRecord.id).in_(ids)))
    records = rows.all()
    if len(records) != len(ids) or any(r.doctor_id != user.id for r in records):
        raise _refuse(session, actor, f"user:{user.id}", "not_own_records", MSG_OWN)
    if any(
        r.sign_status != SignStatus.UNSIGNED or r.lock_status == LockStatus.LOCKED
        for r in records
    ):
        raise WillingnessError("所选病历中有已签名或已锁定的病历，请刷新后重试")
    row = Confirmation(
        user_id=user.id,
        session_hash=_session_hash(secret, session_token),
        records_digest=_digest(ids),
        record_ids=",".join(map(str, ids)),
        method=method,
        created_at=now,
        expires_at=now + (CODE_TTL if method == "sms" else QR_TTL),
    )
    session.add(row)
    session.flush()
    _audit(session, actor, "willingness.started", row.id, method=method, records=ids)
    session.commit()
    mobile = mask_mobile(profile.mobile)
    return Started(row.id, method, len(ids), mobile, row.expires_at)


def _wait(session: Session, row: Confirmation, mobile: str, now: datetime) -> int:
    """Seconds until another SMS may go out (0: now), or raise for the hourly cap."""
    sent = select(SmsMessage.created_at).where(
        SmsMessage.mobile == mobile, SmsMessage.purpose == SMS_PURPOSE
    )
    hour = session.exec(
        select(func.count()).select_from(
            sent.where(SmsMessage.created_at > now - timedelta(hours=1)).subquery()
        )
    ).one()
    if hour >= SMS_PER_HOUR:
        raise WillingnessError("验证码发送次数过多，请1小时后再试", retry_after=3600)
    latest = session.exec(sent.order_by(col(SmsMessage.created_at).desc())).first()
    last = max((t for t in (latest, row.last_sent_at) if t is not None), default=None)
    if last is None:
        return 0
    return max(math.ceil((last + RESEND_COOLDOWN - now).total_seconds()), 0)


def send_code(
    session: Session,
    *,
    confirmation_id: int,
    user: CurrentUser,
    session_token: str,
    sms: SmsProvider,
    secret: bytes,
    now: datetime | None = None,
) -> CodeSent:
    """获取验证码 / 重新获取: a new code to the verified mobile (commits).

    The new code replaces the previous one and restarts the 5 minutes; checks
    already spent stay spent.

    Raises:
        WillingnessError: Binding or state refused, cooldown (``retry_after``),
            hourly cap, or the gateway refused the message.
    """
    now = now or utcnow()
    row, actor = _load(session, confirmation_id, user, session_token, secret)
    _require_pending(session, actor, row, "sms")
    mobile = _signer(session, user.id, user.role).mobile
    wait = _wait(session, row, mobile, now)
    previous = row.last_sent_at
    same = (
        _T.last_sent_at.is_(None) if previous is None else _T.last_sent_at == previous
    )
    if wait or not _update(
        session, row, _T.status == "pending", same, last_sent_at=now
    ):
        session.rollback()
        wait = wait or math.ceil(RESEND_COOLDOWN.total_seconds())
        raise WillingnessError(f"请{wait}秒后再重新获取验证码", retry_after=wait)
    session.commit()  # the cooldown is claimed before the gateway is called
    code = f"{secrets.randbelow(10**6):06d}"
    count = len(row.record_ids.split(","))
    try:
        receipt = sms.send(
            mobile=mobile,
            text=SMS_TEXT.format(count=count, code=code),
            params={"code": code},
        )
    except SmsProviderError as exc:
        _update(session, row, _T.last_sent_at == now, last_sent_at=previous)
        _audit(session, actor, "willingness.sms_failed", row.id, provider=sms.name)
        session.commit()
        raise WillingnessError(exc.message) from exc
    row.code_hash = _code_hash(secret, row, code)
    row.expires_at = now + CODE_TTL
    session.add(row)
    shown = code if receipt.provider == "demo" else "******"
    body = SMS_TEXT.format(count=count, code=shown)
    ref = receipt.reference[:100]
    session.add(
        SmsMessage(
            mobile=mobile,
            body=body,
            purpose=SMS_PURPOSE,
            provider=receipt.provider,
            provider_ref=ref,
            created_at=now,
        )
    )
    masked = mask_mobile(mobile)
    detail = {"mobile": masked, "provider": receipt.provider, "reference": ref}
    _audit(session, actor, "willingness.code_sent", row.id, **detail)
    session.commit()
    cooldown = math.ceil(RESEND_COOLDOWN.total_seconds())
    return CodeSent(masked, cooldown, row.expires_at)


def check_code(
    session: Session,
    *,
    confirmation_id: int,
    user: CurrentUser,
    session_token: str,
    code: str,
    secret: bytes,
    now: datetime | None = None,
) -> ConfirmationView:
    """Confirm with the SMS code (commits); the code works once.

    Raises:
        WillingnessError: Binding or state refused, no or expired code, wrong code
            (the 5th wrong one ends the confirmation).
    """
    now = now or utcnow()
    row, actor = _load(session, confirmation_id, user, session_token, secret)
    _require_pending(session, actor, row, "sms")
    code = (code or "").strip()
    if not re.fullmatch(r"[0-9]{6}", code):
        raise WillingnessError("请输入6位数字验证码")
    if not row.code_hash:
        raise WillingnessError("请先获取验证码")
    if now >= row.expires_at:
        raise _refuse(session, actor, row.id, "expired", "验证码已过期，请重新获取")
    _spend_attempt(session, actor, row)
    if not hmac.compare_digest(row.code_hash, _code_hash(secret, row, code)):
        raise _wrong(session, actor, row, "wrong_code", "验证码错误")
    # The hash in the WHERE: a code replaced meanwhile by a resend no longer counts.
    _confirm(session, actor, row, now, _T.code_hash == row.code_hash, via="sms")
    return _view(row, now)


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
    row, actor = _load(session, confirmation_id, user, session_token, secret)
    _require_pending(session, actor, row, "qr")
    _signer(session, user.id, user.role)
    token = secrets.token_urlsafe(24)
    renewed = bool(row.qr_token_hash)
    token_hash, expires = _mac(secret, "qr", token), now + QR_TTL
    if not _update(
        session,
        row,
        _T.status == "pending",
        qr_token_hash=token_hash,
        expires_at=expires,
    ):
        session.rollback()
        raise WillingnessError(MSG_GONE)
    _audit(session, actor, "willingness.qr_issued", row.id, renewed=renewed)
    session.commit()
    return QrIssued(f"{public_url.rstrip('/')}/confirm/{token}", expires)


def _by_token(session: Session, token: str, secret: bytes) -> Confirmation | None:
    if not token:
        return None
    query = select(Confirmation).where(
        Confirmation.qr_token_hash == _mac(secret, "qr", token),
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
    profile = _profile(session, row.user_id)
    name = profile.name if profile else ""
    status = _view(row, now).status
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
        raise _refuse(session, actor, None, "unknown_token", MSG_QR_GONE)
    user = session.get(User, row.user_id)
    actor = Actor(user.id, user.login_id, actor.ip, actor.user_agent)
    _require_pending(session, actor, row, "qr")
    if now >= row.expires_at:
        raise _refuse(session, actor, row.id, "expired", MSG_QR_GONE)
    profile = _signer(session, user.id, user.role)
    token_hash = row.qr_token_hash
    _spend_attempt(session, actor, row)
    try:
        result = face.verify(
            name=profile.name,
            id_number_masked=profile.id_number_masked,
            evidence=evidence,
        )
    except FaceCheckError as exc:  # no answer: the attempt is given back
        _update(session, row, _T.attempts > 0, attempts=_T.attempts - 1)
        _audit(session, actor, "willingness.face_error", row.id, provider=face.name)
        session.commit()
        raise WillingnessError(exc.message) from exc
    if not result.matched:
        raise _wrong(session, actor, row, "face_mismatch", result.message)
    same_token = _T.qr_token_hash == token_hash  # not replaced meanwhile
    _confirm(session, actor, row, now, same_token, via="face", ref=result.reference)
    return _qr_view(session, row, now)


def confirmation_status(
    session: Session,
    *,
    confirmation_id: int,
    user: CurrentUser,
    session_token: str,
    secret: bytes,
    now: datetime | None = None,
) -> ConfirmationView:
    """Where a confirmation stands (the desktop polls this while the phone works)."""
    now = now or utcnow()
    row, _ = _load(session, confirmation_id, user, session_token, secret)
    session.refresh(row)  # the phone's confirmation came through another session
    return _view(row, now)


def consume(
    session: Session,
    *,
    user: CurrentUser,
    confirmation_id: int,
    session_token: str,
    record_ids: Iterable[int],
    secret: bytes,
    now: datetime | None = None,
) -> Confirmation:
    """Spend a confirmed confirmation on signing exactly its records (commits).

    Returns:
        The confirmation, now ``used``; store its id with each signature.

    Raises:
        WillingnessError: Other doctor, session or record set; not confirmed;
            past the 10-minute use window; already used (also by a concurrent call).
    """
    now = now or utcnow()
    row, actor = _load(session, confirmation_id, user, session_token, secret)
    ids = _record_set(record_ids)
    if not hmac.compare_digest(_digest(ids), row.records_digest):
        message = "所选病历与意愿校验时不一致，请重新进行意愿校验"
        raise _refuse(session, actor, row.id, "other_records", message)
    if row.status == "used" or row.used_at is not None:
        raise _refuse(session, actor, row.id, "reused", MSG_REUSED)
    if row.status != "confirmed":
        message = "尚未完成意愿校验" if row.status == "pending" else MSG_GONE
        raise _refuse(session, actor, row.id, "not_confirmed", message)
    if now >= row.expires_at:
        _update(session, row, _T.status == "confirmed", status="expired")
        message = "意愿校验已超过10分钟有效期，请重新进行意愿校验"
        raise _refuse(session, actor, row.id, "expired", message)
    _signer(session, user.id, user.role)
    unused = (_T.status == "confirmed", _T.used_at.is_(None))
    if not _update(session, row, *unused, status="used", used_at=now):
        session.rollback()  # a concurrent consume won
        raise _refuse(session, actor, row.id, "reused", MSG_REUSED)
    _audit(session, actor, "willingness.used", row.id, records=len(ids))
    session.commit()
    return row


def cancel_open(
    session: Session,
    *,
    user_id: int,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> int:
    """Cancel the doctor's pending and confirmed-unused confirmations (实名认证
    ended). Joins the caller's transaction: does not commit.

    Returns:
        How many were cancelled.
    """
    query = (
        Confirmation.__table__.update()
        .where(
            _T.user_id == user_id,
            _T.status.in_(("pending", "confirmed")),
            _T.used_at.is_(None),
        )
        .values(status="cancelled", code_hash="", qr_token_hash="")
    )
    count = session.execute(query).rowcount
    if count:
        at = (now or utcnow()).isoformat()
        actor = actor or Actor(user_id=user_id)
        target = f"user:{user_id}"
        _audit(session, actor, "willingness.cancelled", target, count=count, at=at)
    return count
