"""意愿校验 方式1 短信: a 6-digit code to the mobile of the *verified* profile.

Limits: 5 checks per confirmation (a resend does not reset them); one SMS per 60 s
per confirmation *and* per mobile, at most 10 per mobile per hour (``SmsMessage`` is
the counter). SMS log: the full text for the demo provider (the ``/dev/sms``
outbox), the code masked for real gateways (see :mod:`his_portal.adapters.sms`).

The confirmation itself (binding, states, consume) is :mod:`.willingness`.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from his_portal.adapters.sms import SmsProvider, SmsProviderError
from his_portal.models import Confirmation, SmsMessage, utcnow
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.idcard import mask_mobile
from his_portal.services.willingness import core
from his_portal.services.willingness.core import (
    CODE_TTL,
    ConfirmationView,
    WillingnessError,
)

__all__ = [
    "RESEND_COOLDOWN",
    "SMS_PURPOSE",
    "CodeSent",
    "check_code",
    "send_code",
]

RESEND_COOLDOWN = timedelta(seconds=60)
SMS_PER_HOUR = 10
SMS_PURPOSE = "willingness"
SMS_TEXT = (
    "【牙医云】您正在签署{count}份病历，验证码{code}，"
    f"{int(CODE_TTL.total_seconds() // 60)}分钟内有效。如非本人操作请忽略。"
)
_T = Confirmation.__table__.c


@dataclass(frozen=True)
class CodeSent:
    """An SMS went out; ``resend_in`` seconds until 重新获取 is allowed."""

    mobile_masked: str
    resend_in: int
    expires_at: datetime


def _code_hash(secret: bytes, row: Confirmation, code: str) -> str:
    return core.mac(
        secret, "code", row.id, row.user_id, row.session_hash, row.records_digest, code
    )


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
    row, actor = core.load(session, confirmation_id, user, session_token, secret)
    core.require_pending(session, actor, row, "sms")
    mobile = core.signer(session, user.id, user.role).mobile
    wait = _wait(session, row, mobile, now)
    previous = row.last_sent_at
    same = (
        _T.last_sent_at.is_(None) if previous is None else _T.last_sent_at == previous
    )
    if wait or not core.update(
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
        core.update(session, row, _T.last_sent_at == now, last_sent_at=previous)
        core.audit(session, actor, "willingness.sms_failed", row.id, provider=sms.name)
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
            user_id=user.id,
            body=body,
            purpose=SMS_PURPOSE,
            provider=receipt.provider,
            provider_ref=ref,
            created_at=now,
        )
    )
    masked = mask_mobile(mobile)
    detail = {"mobile": masked, "provider": receipt.provider, "reference": ref}
    core.audit(session, actor, "willingness.code_sent", row.id, **detail)
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
    row, actor = core.load(session, confirmation_id, user, session_token, secret)
    core.require_pending(session, actor, row, "sms")
    code = (code or "").strip()
    if not re.fullmatch(r"[0-9]{6}", code):
        raise WillingnessError("请输入6位数字验证码")
    if not row.code_hash:
        raise WillingnessError("请先获取验证码")
    if now >= row.expires_at:
        raise core.refuse(session, actor, row.id, "expired", "验证码已过期，请重新获取")
    core.spend_attempt(session, actor, row)
    if not hmac.compare_digest(row.code_hash, _code_hash(secret, row, code)):
        raise core.wrong(session, actor, row, "wrong_code", "验证码错误")
    # The hash in the WHERE: a code replaced meanwhile by a resend no longer counts.
    core.confirm(session, actor, row, now, _T.code_hash == row.code_hash, via="sms")
    return core.view(row, now)
