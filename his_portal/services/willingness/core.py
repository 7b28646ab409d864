"""意愿校验: the doctor's step-up confirmation right before signing.

One ``Confirmation`` row per attempt to sign a set of records, by 短信 (``"sms"``: a
6-digit code to the mobile of the *verified* profile, see
:mod:`his_portal.services.willingness.sms`) or 微信扫码 (``"qr"``: a one-time URL
opened on the phone, confirmed by a face check, see
:mod:`his_portal.services.willingness.qr`)::

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
(``keyvault.mac_key(kek, "willingness")``): a plain SHA-256 of a 6-digit code is
reversed by trying all 10**6 codes. A code's MAC also covers its row's id, doctor,
session and records, so a hash copied to another row opens nothing.

Races: each state change is an UPDATE whose WHERE repeats the state it expects, and
the rowcount says who won (two ``consume`` calls cannot both succeed). No database
lock is held while an SMS gateway or face provider is called.

Public functions commit (a counted attempt or a logged refusal must survive the
refusal), except :func:`.cancel.cancel_open`, which joins the caller's transaction.

Internal, for willingness_sms / willingness_qr (not in ``__all__``): ``mac``,
``audit``, ``refuse``, ``profile_of``, ``signer``, ``load``, ``require_pending``,
``update``, ``spend_attempt``, ``wrong``, ``confirm``, ``view``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from his_portal.errors import HisError
from his_portal.models import (
    Confirmation,
    DoctorProfile,
    LockStatus,
    MedicalRecord,
    Role,
    SignStatus,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.idcard import mask_mobile

__all__ = [
    "CODE_TTL",
    "MAX_ATTEMPTS",
    "MAX_RECORDS",
    "QR_TTL",
    "USE_WINDOW",
    "ConfirmationView",
    "Started",
    "WillingnessError",
    "confirmation_status",
    "consume",
    "record_ids_of",
    "start",
]

CODE_TTL = timedelta(minutes=5)
QR_TTL = timedelta(minutes=2)
USE_WINDOW = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_RECORDS = 50  # SDK practice: at most 50 documents per SMS code
MSG_GONE = "意愿校验不存在或已失效，请重新发起"
MSG_MISMATCH = "意愿校验与当前登录不一致，请重新发起"
MSG_FAILED = "错误次数过多，本次意愿校验已失效，请重新发起"
MSG_REUSED = "该意愿校验已使用，请重新进行意愿校验"
MSG_OWN = "只能签署本人的病历"
_CLOSED = {
    "confirmed": "已完成意愿校验，请继续签署",
    "used": MSG_REUSED,
    "failed": MSG_FAILED,
}
_T = Confirmation.__table__.c


class WillingnessError(HisError):
    """A refused willingness step; ``message`` is shown as is.

    ``retry_after`` (seconds) is set when the refusal is only a matter of waiting.
    """


@dataclass(frozen=True)
class Started:
    """A new confirmation; the dialog shows where the code will go."""

    confirmation_id: int
    method: str
    record_count: int
    mobile_masked: str
    expires_at: datetime


@dataclass(frozen=True)
class ConfirmationView:
    """What the desktop polls; ``status`` is ``expired`` once the deadline passed."""

    id: int
    method: str
    status: str
    expires_at: datetime
    attempts_left: int


def mac(secret: bytes, *parts: object) -> str:
    if len(secret) < 16:
        raise ValueError("willingness secret too short (a programming error)")
    message = "\x1f".join(str(part) for part in parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _session_hash(secret: bytes, token: str) -> str:
    if not token:
        raise WillingnessError("登录已失效，请重新登录")
    return mac(secret, "session", token)


def _record_set(record_ids: Iterable[int]) -> tuple[int, ...]:
    if not isinstance(record_ids, list | tuple | set | frozenset) or not all(
        type(i) is int and 0 < i < 2**62 for i in record_ids
    ):
        raise WillingnessError("请选择要签署的病历")
    if len(record_ids) > 10 * MAX_RECORDS:
        raise WillingnessError(f"每次最多签署{MAX_RECORDS}份病历")
    ids = tuple(sorted(set(record_ids)))
    if not ids:
        raise WillingnessError("请选择要签署的病历")
    if len(ids) > MAX_RECORDS:
        raise WillingnessError(f"每次最多签署{MAX_RECORDS}份病历")
    return ids


def _digest(ids: tuple[int, ...]) -> str:
    return hashlib.sha256(("records:" + ",".join(map(str, ids))).encode()).hexdigest()


def audit(session: Session, actor: Actor, action: str, row_id: Any, **detail) -> None:
    target = f"confirmation:{row_id}" if isinstance(row_id, int) else row_id or ""
    record_event(
        session=session, actor=actor, action=action, target=target, detail=detail
    )


def refuse(
    session: Session, actor: Actor, row_id: Any, reason: str, message: str, **detail
) -> WillingnessError:
    """Log ``willingness.failed`` and commit; the caller raises the result."""
    audit(session, actor, "willingness.failed", row_id, reason=reason, **detail)
    session.commit()
    return WillingnessError(message)


def profile_of(session: Session, user_id: int) -> DoctorProfile | None:
    # Not identity.find_profile: identity imports willingness (cancel_open).
    query = select(DoctorProfile).where(DoctorProfile.user_id == user_id)
    return session.exec(query).first()


def signer(session: Session, user_id: int, role: str = Role.DOCTOR) -> DoctorProfile:
    if role != Role.DOCTOR:
        raise WillingnessError("只有医生可以签署病历")
    profile = profile_of(session, user_id)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise WillingnessError("请先在个人中心完成实名认证，再签署病历")
    if not profile.esign_enabled:
        raise WillingnessError("电子签名未开启，请在个人中心 → 个性设置开启电子签名")
    return profile


def load(
    session: Session, confirmation_id: int, user: CurrentUser, token: str, secret: bytes
) -> tuple[Confirmation, Actor]:
    """The confirmation if it is bound to this doctor and login session."""
    actor = Actor(user.id, user.login_id)
    row = session.get(Confirmation, confirmation_id)
    if row is None:
        raise WillingnessError(MSG_GONE)
    if row.user_id != user.id:
        raise refuse(session, actor, row.id, "other_doctor", MSG_MISMATCH)
    if not hmac.compare_digest(row.session_hash, _session_hash(secret, token)):
        raise refuse(session, actor, row.id, "other_session", MSG_MISMATCH)
    return row, actor


def require_pending(session: Session, actor: Actor, row: Confirmation, method: str):
    if row.method != method:
        raise WillingnessError("意愿校验方式不符，请重新发起")
    if row.status != "pending":
        message = _CLOSED.get(row.status, MSG_GONE)
        raise refuse(session, actor, row.id, "not_pending", message, status=row.status)


def update(session: Session, row: Confirmation, *where, **values) -> bool:
    """Conditional UPDATE of ``row``; True (and ``row`` refreshed) if it matched."""
    table = Confirmation.__table__
    query = table.update().where(_T.id == row.id, *where).values(**values)
    won = session.execute(query).rowcount == 1
    if won:
        session.refresh(row)
    return won


def spend_attempt(session: Session, actor: Actor, row: Confirmation) -> None:
    pending = (_T.status == "pending", _T.attempts < MAX_ATTEMPTS)
    if not update(session, row, *pending, attempts=_T.attempts + 1):
        session.rollback()
        raise refuse(session, actor, row.id, "too_many_attempts", MSG_FAILED)
    session.commit()  # counted before the answer is known


def wrong(session: Session, actor: Actor, row: Confirmation, reason: str, msg: str):
    """A wrong code or failed face check: the last one ends the confirmation."""
    left = MAX_ATTEMPTS - row.attempts
    if left <= 0:
        update(session, row, _T.status == "pending", status="failed")
        return refuse(session, actor, row.id, "too_many_attempts", MSG_FAILED)
    return refuse(session, actor, row.id, reason, f"{msg}，还可尝试{left}次")


def confirm(
    session: Session, actor: Actor, row: Confirmation, now: datetime, *where, **detail
) -> None:
    confirmed = update(
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
        raise refuse(session, actor, row.id, "not_pending", MSG_GONE)
    audit(session, actor, "willingness.confirmed", row.id, method=row.method, **detail)
    session.commit()


def view(row: Confirmation, now: datetime) -> ConfirmationView:
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
    profile = signer(session, user.id, user.role)
    ids = _record_set(record_ids)
    rows = session.exec(select(MedicalRecord).where(col(MedicalRecord.id).in_(ids)))
    records = rows.all()
    if len(records) != len(ids) or any(r.doctor_id != user.id for r in records):
        raise refuse(session, actor, f"user:{user.id}", "not_own_records", MSG_OWN)
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
    audit(session, actor, "willingness.started", row.id, method=method, records=ids)
    session.commit()
    mobile = mask_mobile(profile.mobile)
    return Started(row.id, method, len(ids), mobile, row.expires_at)


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
    row, _ = load(session, confirmation_id, user, session_token, secret)
    session.refresh(row)  # the phone's confirmation came through another session
    return view(row, now)


def consume(
    session: Session,
    *,
    user: CurrentUser,
    confirmation_id: int,
    session_token: str,
    seal_choice: str,
    secret: bytes,
    now: datetime | None = None,
) -> Confirmation:
    """签署: spend a confirmed confirmation on signing its own records (commits).

    The records are the ones the confirmation was started for (never a list from
    the browser); ``seal_choice`` (``personal``/``system``) is kept on the row, and
    the batch (:mod:`.sign_batch`) signs with it.

    Returns:
        The confirmation, now ``used``; its id goes with each signature.

    Raises:
        WillingnessError: Other doctor or session; not confirmed; past the
            10-minute use window; already used (also by a concurrent call); an
            unknown seal choice.
    """
    now = now or utcnow()
    row, actor = load(session, confirmation_id, user, session_token, secret)
    if seal_choice not in ("personal", "system"):
        raise WillingnessError("请选择签章")
    if not hmac.compare_digest(_digest(record_ids_of(row)), row.records_digest):
        raise refuse(session, actor, row.id, "records_altered", MSG_GONE)
    if row.status == "used" or row.used_at is not None:
        raise refuse(session, actor, row.id, "reused", MSG_REUSED)
    if row.status != "confirmed":
        message = "尚未完成意愿校验" if row.status == "pending" else MSG_GONE
        raise refuse(session, actor, row.id, "not_confirmed", message)
    if now >= row.expires_at:
        update(session, row, _T.status == "confirmed", status="expired")
        minutes = int(USE_WINDOW.total_seconds() // 60)
        message = f"意愿校验已超过{minutes}分钟有效期，请重新进行意愿校验"
        raise refuse(session, actor, row.id, "expired", message)
    signer(session, user.id, user.role)
    unused = (_T.status == "confirmed", _T.used_at.is_(None))
    if not update(
        session, row, *unused, status="used", used_at=now, seal_choice=seal_choice
    ):
        session.rollback()  # a concurrent consume won
        raise refuse(session, actor, row.id, "reused", MSG_REUSED)
    records = len(record_ids_of(row))
    audit(session, actor, "willingness.used", row.id, records=records, seal=seal_choice)
    session.commit()
    return row


def record_ids_of(row: Confirmation) -> tuple[int, ...]:
    """The records a confirmation covers, in id order."""
    return tuple(int(i) for i in row.record_ids.split(",") if i)
