"""The chain's 90-day signing history (demo mode, ``cli init`` only: it is slow).

Adds each 分院's manager and the doctors of :mod:`.chain`, makes those doctors real
signers (个人信息 → 实名认证 with the demo registry → certificate from the clinic
CA → 个性签章 or 系统签名 → 电子签名 on), gives them visits over the last ``days``
days, and signs the visits each doctor's :class:`~.chain.Style` says were signed,
through the one real path: 意愿校验 by SMS code, then the batch
(:mod:`his_portal.services.signing.batch`), so every 已签名 record has a real
PAdES PDF.

Times. The story happens in the past, the signing now. The 意愿校验 steps run at the
story's time (their rows and SMS log say when the doctor confirmed), and afterwards
the records' ``signed_at`` / ``amend_until`` and the signed versions' ``signed_at``
are set to the story's signing time, so the dashboards read real durations. Each PDF
keeps the moment it was really made: its signing time, its visible 签署时间 and its
RFC 3161 timestamp all say today (a PDF claiming an earlier signing time next to
a trusted timestamp of today would be a forged document), and the audit log keeps
its real times, with one ``demo.history_loaded`` entry saying what was backdated.

Idempotent: a run that stopped part-way is finished by the next one; once the
branch managers exist (the last step) it changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from his_portal.models import Clinic, MedicalRecord, Patient, User
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser, hash_password, view_of
from his_portal.services.pki.profile import IssuingProfile

from . import signing_story
from .chain import BRANCH_MANAGERS, HISTORY_DOCTORS, HistoryDoctor
from .data import DEMO_ACCOUNTS, SEED, DemoAccount
from .texts import VISITS, random_patient, random_record

__all__ = ["HistoryContext", "HistoryResult", "history_started", "sign_demo_history"]

PATIENTS_PER_CLINIC = 80
#: Records per doctor and working day: electronic signing was rolled out over the
#: 90 days, from 0.05 a day at the start to 0.45 now (each one signed costs ~0.25 s
#: of CPU, and `cli init` must stay short).
FIRST_RATE, LAST_RATE = 0.05, 0.45


@dataclass(frozen=True)
class HistoryContext:
    """What making signers and signing needs from the settings."""

    kek: bytes
    data_dir: Path
    crl_url: str
    zone: ZoneInfo
    profile: IssuingProfile | None = None
    amend_days: int = 7
    cert_valid_days: int = 365
    tsa_url: str = ""


@dataclass(frozen=True)
class HistoryResult:
    """What one run added."""

    records: int
    signed: int


def _find(session: Session, login_id: str) -> User | None:
    return session.exec(select(User).where(User.login_id == login_id)).first()


def _ensure_accounts(session: Session, accounts: tuple[DemoAccount, ...]) -> None:
    clinics = {c.code: c.id for c in session.exec(select(Clinic))}
    for account in accounts:
        if _find(session, account.login_id) is None:
            session.add(
                User(
                    login_id=account.login_id,
                    display_name=account.display_name,
                    role=account.role,
                    clinic_id=clinics[account.clinic_code],
                    password_hash=hash_password(account.password),
                    chain_wide=account.chain_wide,
                )
            )
    session.commit()


def _chain_manager(session: Session) -> User | None:
    """The tutorial's manager, now the chain's (also in a database loaded before
    the chain existed); None if this is not a demo database."""
    login = next(a.login_id for a in DEMO_ACCOUNTS if a.chain_wide)
    manager = _find(session, login)
    if manager is not None and not manager.chain_wide:
        manager.chain_wide = True
        session.add(manager)
        session.commit()
    return manager


def _viewer(session: Session, login_id: str) -> CurrentUser:
    user = _find(session, login_id)
    return view_of(user, session.get(Clinic, user.clinic_id))


def _visits(
    session: Session, doctors: list[CurrentUser], now: datetime, days: int
) -> int:
    """Patients per 分院 and each doctor's visits over ``days`` days (one commit)."""
    rng = random.Random(SEED + 90)
    zone = now.tzinfo
    patients: dict[int, list[int]] = {}
    for clinic in session.exec(select(Clinic).order_by(Clinic.id)):
        ids = list(
            session.exec(select(Patient.id).where(Patient.clinic_id == clinic.id))
        )
        for index in range(len(ids), PATIENTS_PER_CLINIC):
            patient = random_patient(
                rng,
                record_no=f"P120{clinic.code}{30300000 + index * 41:08d}",
                clinic_id=clinic.id,
            )
            session.add(patient)
            session.flush()
            ids.append(patient.id)
        patients[clinic.id] = ids
    added = 0
    for doctor in doctors:
        day_off = rng.randrange(7)
        for offset in range(days - 1, -1, -1):
            day = now.date() - timedelta(days=offset)
            if day.weekday() == day_off or rng.random() < 0.05:
                continue
            rate = LAST_RATE - (LAST_RATE - FIRST_RATE) * offset / max(days - 1, 1)
            if rng.random() < rate:
                at = datetime.combine(
                    day, time(rng.randint(9, 17), rng.randint(0, 59)), tzinfo=zone
                )
                if at >= now:
                    continue
                session.add(
                    random_record(
                        rng,
                        rng.choice(list(VISITS)),
                        patient_id=rng.choice(patients[doctor.clinic_id]),
                        doctor_id=doctor.id,
                        clinic_id=doctor.clinic_id,
                        created_at=at,
                    )
                )
                added += 1
    session.commit()
    return added


def history_started(session: Session) -> bool:
    """Whether a history load began (its doctors exist), finished or not."""
    first = HISTORY_DOCTORS[0].account.login_id
    return _find(session, first) is not None


def sign_demo_history(
    *, session: Session, now: datetime, context: HistoryContext, days: int = 90
) -> HistoryResult | None:
    """Add the chain's people and signing history to a demo database.

    Args:
        session: Database session; this function commits, step by step.
        now: The current time in the clinic's time zone.
        context: Keys, data directory and signing settings.
        days: How far back the visits go.

    Returns:
        What was added, or None when there was nothing to do (not a demo database,
        or the history is complete).
    """
    if _chain_manager(session) is None:
        return None
    if all(_find(session, a.login_id) for a in BRANCH_MANAGERS):
        return None
    _ensure_accounts(session, tuple(d.account for d in HISTORY_DOCTORS))
    doctors: list[tuple[HistoryDoctor, CurrentUser]] = []
    for spec in HISTORY_DOCTORS:
        user = _viewer(session, spec.account.login_id)
        signing_story.make_signer(session, spec, user, context, now)
        doctors.append((spec, user))
    users = [user for _, user in doctors]
    has_visits = session.exec(
        select(MedicalRecord.id).where(
            col(MedicalRecord.doctor_id).in_([u.id for u in users])
        )
    ).first()
    added = 0 if has_visits else _visits(session, users, now, days)
    signed = sum(
        signing_story.sign_planned(session, spec, user, context, now)
        for spec, user in doctors
    )
    record_event(
        session=session,
        actor=Actor(login_id="cli", user_agent=signing_story.AGENT),
        action="demo.history_loaded",
        target="demo",
        detail={
            "records": added,
            "signed": signed,
            "days": days,
            "backdated": "medicalrecord.signed_at/amend_until, "
            "signeddocument.signed_at: the story's signing times",
        },
    )
    session.commit()
    _ensure_accounts(session, BRANCH_MANAGERS)
    return HistoryResult(records=added, signed=signed)
