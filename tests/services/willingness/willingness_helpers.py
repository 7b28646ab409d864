"""Shared helpers for the willingness tests (core, SMS, QR)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, select

from his_portal.adapters.sms import SmsProviderError, SmsReceipt
from his_portal.demo.data import load_demo_data
from his_portal.models import AuditEvent, Confirmation, MedicalRecord
from his_portal.services.audit import Actor
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import mac_key
from his_portal.services.seals import store as seals
from his_portal.services.willingness import core as w
from his_portal.services.willingness import sms as ws
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import (
    CRL_URL,
    DOCTOR,
    KEK,
    save,
    verify,
)

SECRET = mac_key(KEK, "willingness")
TOKEN = "login-token-of-the-doctor-browser"
OTHER_TOKEN = "login-token-of-another-browser"
OTHER_DOCTOR = "sh-wangli@8112"


@dataclass
class Outbox:
    """A gateway double that keeps what it was asked to send."""

    name: str = "fake"
    fail: str = ""
    sent: list[tuple[str, str, dict]] = field(default_factory=list)

    def send(self, *, mobile, text, params):
        if self.fail:
            raise SmsProviderError(self.fail)
        self.sent.append((mobile, text, dict(params)))
        return SmsReceipt(provider=self.name, reference=f"ref-{len(self.sent)}")

    @property
    def code(self) -> str:
        return self.sent[-1][2]["code"]


def prepare(session: Session) -> None:
    """郑程 verified with 电子签名 on."""
    save(session)
    verify(session)
    doctor = user_by_login(session, DOCTOR)
    actor = Actor(doctor.id, DOCTOR)
    seals.set_esign(session=session, user=doctor, enabled=True, actor=actor, now=NOW)


def prepared_clinic(session: Session, records: int) -> None:
    """A fresh database: the demo clinic, its CA and TSA, 郑程 ready to sign."""
    load_demo_data(session=session, now=NOW, records=records)
    certificates.ensure_authority(
        session=session,
        kek=KEK,
        clinic_name="上海维乐海趣路门诊",
        crl_url=CRL_URL,
        now=NOW,
    )
    session.commit()
    prepare(session)


def doctor(session):
    return user_by_login(session, DOCTOR)


def record_ids(session, login=DOCTOR, count=3):
    user = user_by_login(session, login)
    query = select(MedicalRecord.id).where(MedicalRecord.doctor_id == user.id)
    return list(session.exec(query.order_by(MedicalRecord.id)).all()[:count])


def begin(session, method="sms", ids=None, token=TOKEN, now=NOW):
    return w.start(
        session,
        user=doctor(session),
        session_token=token,
        record_ids=ids if ids is not None else record_ids(session),
        method=method,
        secret=SECRET,
        now=now,
    )


def send(session, started, sms, now=NOW, token=TOKEN):
    return ws.send_code(
        session,
        confirmation_id=started.confirmation_id,
        user=doctor(session),
        session_token=token,
        sms=sms,
        secret=SECRET,
        now=now,
    )


def check(session, started, code, now=NOW, token=TOKEN, user=None):
    return ws.check_code(
        session,
        confirmation_id=started.confirmation_id,
        user=user or doctor(session),
        session_token=token,
        code=code,
        secret=SECRET,
        now=now,
    )


def consume(session, started, now=NOW, token=TOKEN, user=None, seal="system"):
    return w.consume(
        session,
        user=user or doctor(session),
        confirmation_id=started.confirmation_id,
        session_token=token,
        seal_choice=seal,
        secret=SECRET,
        now=now,
    )


def confirmed_by_sms(session, now=NOW):
    started, sms = begin(session, now=now), Outbox()
    send(session, started, sms, now=now)
    check(session, started, sms.code, now=now)
    return started


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def failures(session) -> list[dict]:
    query = select(AuditEvent).where(AuditEvent.action == "willingness.failed")
    return [json.loads(e.detail) for e in session.exec(query.order_by(AuditEvent.seq))]


def row(session, started) -> Confirmation:
    return session.get(Confirmation, started.confirmation_id, populate_existing=True)
