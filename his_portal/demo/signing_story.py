"""A history doctor's part of the demo history: becoming a signer, and signing
the visits their style says were signed, each sitting one real 意愿校验 + batch.

See :mod:`.history` for what is backdated and what keeps its real time.
"""

from __future__ import annotations

import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session, col, select

from his_portal.adapters.identity_check import DemoIdentityProvider
from his_portal.adapters.sms import SmsReceipt
from his_portal.models import (
    MedicalRecord,
    SignedDocument,
    SignStatus,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser
from his_portal.services.identity import profile as identity
from his_portal.services.identity import verification
from his_portal.services.identity.idcard import resident_check_digit
from his_portal.services.pki.keyvault import mac_key
from his_portal.services.seals import store as seals
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import records as record_signing
from his_portal.services.willingness import core as willingness
from his_portal.services.willingness import sms as willingness_sms
from his_portal.settings import PROJECT_ROOT

from .chain import HISTORY_DOCTORS, HistoryDoctor, Style

__all__ = ["make_signer", "planned_signing", "sign_planned", "sittings"]

AGENT = "demo history (cli init)"
FONT = PROJECT_ROOT / "assets" / "fonts" / "wqy-microhei.ttf"
#: Signatures planned this close together are one sitting (one 批量签名).
SITTING_GAP = timedelta(minutes=20)
#: Seconds between two records of one batch.
PER_RECORD = timedelta(seconds=4)


@dataclass
class _Phone:
    """The history doctor's phone: receives the code, which the doctor types."""

    name: str = field(default="demo", init=False)
    code: str = ""

    def send(self, *, mobile: str, text: str, params) -> SmsReceipt:
        self.code = params["code"]
        return SmsReceipt(provider=self.name, reference=f"demo-{uuid.uuid4().hex[:16]}")


def _id_number(spec: HistoryDoctor) -> str:
    index = HISTORY_DOCTORS.index(spec)
    first17 = f"310104{spec.born:%Y%m%d}{20 + index:02d}{1 if spec.male else 2}"
    return first17 + resident_check_digit(first17)


def _handwritten(name: str) -> bytes:
    """A 个性签章 as a photo of a pen signature would come out: slanted blue ink on
    transparency."""
    font = ImageFont.truetype(str(FONT), 120)
    left, top, right, bottom = font.getbbox(name)
    image = Image.new("RGBA", (right - left + 120, bottom - top + 60))
    ImageDraw.Draw(image).text(
        (60 - left, 30 - top), name, font=font, fill=(24, 40, 120, 255)
    )
    slant = 0.3
    image = image.transform(
        image.size,
        Image.Transform.AFFINE,
        (1, slant, -slant * image.height / 2, 0, 1, 0),
        resample=Image.Resampling.BICUBIC,
    ).rotate(5, resample=Image.Resampling.BICUBIC, expand=True)
    image = image.crop(image.getbbox())
    image.thumbnail(seals.MAX_SEAL_SIZE)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_signer(session: Session, spec: HistoryDoctor, user: CurrentUser, context, now):
    """个人信息, 实名认证 (certificate), seal and 电子签名, each unless already done."""
    actor = Actor(user.id, user.login_id, user_agent=AGENT)
    profile = identity.find_profile(session, user.id)
    if profile is None:
        identity.save_profile(
            session=session,
            user=user,
            data=identity.ProfileInput(
                name=user.display_name,
                id_type="resident",
                id_number=_id_number(spec),
                email=f"{user.login_id.split('@')[0]}@example.com",
                mobile=spec.mobile,
                address="上海市",
            ),
            kek=context.kek,
            actor=actor,
            now=now,
        )
        profile = identity.find_profile(session, user.id)
    if profile.verification_status != VerificationStatus.VERIFIED:
        verification.verify(
            session=session,
            user=user,
            provider=DemoIdentityProvider(today=now.date()),
            context=verification.IssueContext(
                kek=context.kek,
                clinic_name=user.clinic_name,
                valid_days=context.cert_valid_days,
                crl_url=context.crl_url,
                actor=actor,
                profile=context.profile,
            ),
            now=now,
        )
    if (
        spec.seal == "personal"
        and seals.current_seal(session=session, user_id=user.id) is None
    ):
        seals.save_seal(
            session=session,
            user=user,
            png=_handwritten(user.display_name),
            source="demo",
            data_dir=context.data_dir,
            actor=actor,
        )
    if not identity.find_profile(session, user.id).esign_enabled:
        seals.set_esign(session=session, user=user, enabled=True, actor=actor, now=now)


def _days_later(visit: datetime, days: int, rng: random.Random) -> datetime:
    """A working-hours moment ``days`` days after the visit, past the 24 h."""
    minute = rng.randint(8 * 60 + 30, 21 * 60 + 30)
    moment = datetime.combine(
        visit.date() + timedelta(days=days), time(minute // 60, minute % 60)
    ).replace(tzinfo=visit.tzinfo)
    return moment if moment - visit > timedelta(hours=24) else moment + timedelta(1)


def planned_signing(record: MedicalRecord, style: Style, zone) -> datetime | None:
    """When the story has the doctor sign ``record`` (None: never). The same record
    always gets the same answer."""
    rng = random.Random(f"demo-sign:{record.id}")
    visit = record.created_at.astimezone(zone)
    evening = datetime.combine(visit.date(), time(19), tzinfo=zone)
    pick = rng.random()
    for share, when in (
        (style.prompt, lambda: visit + timedelta(minutes=rng.randint(4, 80))),
        (style.evening, lambda: evening + timedelta(minutes=rng.randint(0, 150))),
        (style.late, lambda: _days_later(visit, rng.randint(1, 2), rng)),
        (style.very_late, lambda: _days_later(visit, rng.randint(3, 6), rng)),
    ):
        if pick < share:
            return when()
        pick -= share
    return None


def sittings(planned: list[tuple[datetime, int]]) -> list[tuple[datetime, list[int]]]:
    """Planned signatures, in time order, grouped into sittings: each at the time of
    its last signature, the next one more than :data:`SITTING_GAP` later."""
    groups: list[tuple[datetime, list[int]]] = []
    for at, record_id in sorted(planned):
        if (
            groups
            and at <= groups[-1][0] + SITTING_GAP
            and len(groups[-1][1]) < willingness.MAX_RECORDS
        ):
            groups[-1] = (at, [*groups[-1][1], record_id])
        else:
            groups.append((at, [record_id]))
    return groups


def _backdate(session: Session, ids: list[int], at: datetime, amend_days: int):
    records = MedicalRecord.__table__
    docs = SignedDocument.__table__
    for index, record_id in enumerate(sorted(ids)):
        signed_at = at + index * PER_RECORD
        session.execute(
            records.update()
            .where(records.c.id == record_id)
            .values(signed_at=signed_at, amend_until=signed_at + timedelta(amend_days))
        )
        session.execute(
            docs.update()
            .where(docs.c.record_id == record_id, docs.c.superseded_at.is_(None))
            .values(signed_at=signed_at)
        )
    session.commit()


def _sitting(session, spec, user, kit, ids, at, context) -> int:
    """One 批量签名 at ``at``: SMS 意愿校验, 签署, the batch; how many it signed."""
    secret = mac_key(context.kek, "willingness")
    token = f"demo-history:{user.login_id}"
    bound = {"user": user, "session_token": token, "secret": secret}
    begin = at - timedelta(minutes=2)
    started = willingness.start(
        session, record_ids=ids, method="sms", now=begin, **bound
    )
    phone = _Phone()
    willingness_sms.send_code(
        session,
        confirmation_id=started.confirmation_id,
        sms=phone,
        now=begin,
        **bound,
    )
    willingness_sms.check_code(
        session,
        confirmation_id=started.confirmation_id,
        code=phone.code,
        now=begin + timedelta(seconds=40),
        **bound,
    )
    spend = at - timedelta(seconds=20)
    willingness.consume(
        session,
        confirmation_id=started.confirmation_id,
        seal_choice=spec.seal,
        now=spend,
        **bound,
    )
    plan = sign_batch.claim(
        session, confirmation_id=started.confirmation_id, now=spend, **bound
    )
    actor = Actor(user.id, user.login_id, user_agent=AGENT)
    outcomes = [
        sign_batch.sign_one(
            session,
            plan=plan,
            kit=kit,
            record_id=record_id,
            data_dir=context.data_dir,
            amend_days=context.amend_days,
            zone=context.zone,
            actor=actor,
        )
        for record_id in plan.record_ids
    ]
    sign_batch.finish(
        session,
        plan=plan,
        outcomes=outcomes,
        actor=actor,
        now=at + len(ids) * PER_RECORD,
    )
    signed = [outcome.record_id for outcome in outcomes if outcome.ok]
    _backdate(session, signed, at, context.amend_days)
    return len(signed)


def sign_planned(
    session: Session, spec: HistoryDoctor, user: CurrentUser, context, now
) -> int:
    """Sign the doctor's unsigned records whose planned signing time has come;
    returns how many were signed."""
    unsigned = session.exec(
        select(MedicalRecord)
        .where(
            MedicalRecord.doctor_id == user.id,
            MedicalRecord.sign_status == SignStatus.UNSIGNED,
        )
        .order_by(col(MedicalRecord.id))
    ).all()
    planned = [
        (at, record.id)
        for record in unsigned
        if (at := planned_signing(record, spec.style, context.zone)) is not None
        and at <= now
    ]
    if not planned:
        return 0
    kit = record_signing.load_signer(
        session=session,
        user=user,
        kek=context.kek,
        now=utcnow(),
        tsa_url=context.tsa_url,
    )
    return sum(
        _sitting(session, spec, user, kit, ids, at, context)
        for at, ids in sittings(planned)
    )
