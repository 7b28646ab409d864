"""The data behind the query figures: the demo chain plus ``count`` generated
records, loaded in chunks (memory stays flat however many records).

Shape (what a chain's database looks like after years of use):

- 24 doctors, 8 per 分院 (the demo's 8 plus 16 generated ones), ``count // 6``
  patients spread over the 分院 (a patient comes back about six times);
- :data:`PER_DAY` visits a day on average across the chain, every day as dense as a
  real one: the records go back ``count / PER_DAY`` days (1M: about 7.8 years),
  weekends a little busier, visits between 08:30 and 20:30 clinic time on whole
  minutes (so equal timestamps happen, as they do);
- 70% signed, minutes to days after the visit (half within the hour, a quarter the
  same evening, the rest one to five days later), never after ``now``; the rest is
  unsigned, so today's unsigned records are 待签名 and older ones 超期未签;
- each signed record has its signed file row (SignedDocument) and its
  ``record.signed`` audit entry, written with INSERT … SELECT.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, func, select

from his_portal.demo.texts import GIVEN, SURNAMES, pinyin_key
from his_portal.models import (
    AuditEvent,
    Clinic,
    MedicalRecord,
    Patient,
    Role,
    SignedDocument,
    SignStatus,
    User,
)

__all__ = ["CHUNK", "PER_DAY", "load_records"]

PER_DAY = 350
CHUNK = 20_000
DOCTORS_PER_CLINIC = 8
OPEN, CLOSE = time(8, 30), time(20, 30)
SIGNED_SHARE = 0.7


def _doctors(session: Session) -> dict[int, list[int]]:
    """Each 分院's doctor ids, topped up to :data:`DOCTORS_PER_CLINIC`."""
    by_clinic: dict[int, list[int]] = {}
    for clinic_id in session.exec(select(Clinic.id).order_by(Clinic.id)).all():
        ids = list(
            session.exec(
                select(User.id).where(
                    User.role == Role.DOCTOR, User.clinic_id == clinic_id
                )
            ).all()
        )
        for number in range(len(ids), DOCTORS_PER_CLINIC):
            user = User(
                login_id=f"bench-doctor-{clinic_id}-{number}",
                display_name=f"医生{clinic_id}{number:02d}",
                role=Role.DOCTOR,
                clinic_id=clinic_id,
                password_hash="-",
            )
            session.add(user)
            session.flush()
            ids.append(user.id)
        by_clinic[clinic_id] = ids
    session.commit()
    return by_clinic


def _patients(
    session: Session, rng: random.Random, clinics: list[int], count: int
) -> dict[int, list[int]]:
    """``count`` patients, round-robin over the 分院; their ids by 分院."""
    names: dict[str, str] = {}
    table = Patient.__table__
    for first in range(0, count, CHUNK):
        rows = []
        for index in range(first, min(first + CHUNK, count)):
            name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))
            if name not in names:
                names[name] = pinyin_key(name)
            rows.append(
                {
                    "record_no": f"B{index:011d}",
                    "name": name,
                    "name_pinyin": names[name],
                    "sex": rng.choice(("male", "female")),
                    "birth_date": date(1950 + index % 68, 1 + index % 12, 1),
                    "phone": "",
                    "clinic_id": clinics[index % len(clinics)],
                }
            )
        session.execute(table.insert(), rows)
    session.commit()
    by_clinic: dict[int, list[int]] = {c: [] for c in clinics}
    for patient_id, clinic_id in session.exec(select(Patient.id, Patient.clinic_id)):
        by_clinic[clinic_id].append(patient_id)
    return by_clinic


def _visits(now: datetime, count: int, rng: random.Random) -> Iterator[datetime]:
    """``count`` visit times, today backwards, about :data:`PER_DAY` a day."""
    zone = now.tzinfo
    day = now.date()
    made = 0
    minutes = (CLOSE.hour * 60 + CLOSE.minute) - (OPEN.hour * 60 + OPEN.minute)
    opening = datetime.combine(day, OPEN, tzinfo=zone)
    while made < count:
        weekend = day.weekday() >= 5
        today = min(count - made, round(PER_DAY * (1.2 if weekend else 0.93)))
        opening = datetime.combine(day, OPEN, tzinfo=zone)
        for _ in range(today):
            moment = opening + timedelta(minutes=rng.randrange(minutes))
            if moment > now:  # later today has not happened yet
                moment = now - timedelta(minutes=rng.randrange(1, 120))
            yield moment.replace(second=0, microsecond=0)
        made += today
        day -= timedelta(days=1)


def _signing_delay(rng: random.Random) -> timedelta:
    roll = rng.random()
    if roll < 0.5:
        return timedelta(minutes=rng.randint(3, 60))
    if roll < 0.75:
        return timedelta(minutes=rng.randint(60, 12 * 60))
    return timedelta(minutes=rng.randint(24 * 60, 5 * 24 * 60))


def _record_rows(
    now: datetime,
    count: int,
    doctors: dict[int, list[int]],
    patients: dict[int, list[int]],
    rng: random.Random,
) -> Iterator[dict]:
    clinics = list(doctors)
    for created in _visits(now, count, rng):
        clinic_id = rng.choice(clinics)
        doctor_id = rng.choice(doctors[clinic_id])
        signed_at = created + _signing_delay(rng)
        signed = rng.random() < SIGNED_SHARE and signed_at <= now
        yield {
            "patient_id": rng.choice(patients[clinic_id]),
            "doctor_id": doctor_id,
            "clinic_id": clinic_id,
            "visit_item": "检查",
            "title": "口腔检查",
            "created_at": created,
            "chief_complaint": "定期口腔检查",
            "sign_status": SignStatus.SIGNED if signed else SignStatus.UNSIGNED,
            "lock_status": "locked" if signed else "open",
            "version": 1,
            "signed_at": signed_at if signed else None,
            "signer_id": doctor_id if signed else None,
        }


def _hex_of(column, dialect: str):
    """A 64-hex-digit text made of ``column`` (a stand-in SHA-256)."""
    if dialect == "postgresql":
        return func.lpad(func.to_hex(column), 64, "0")
    return func.printf("%064x", column)


def _signed_rows(session: Session) -> None:
    """A SignedDocument and a ``record.signed`` audit entry per signed record."""
    dialect = session.get_bind().dialect.name
    R = MedicalRecord
    signed = R.sign_status == SignStatus.SIGNED
    documents = select(
        R.id,
        sa.literal(1),
        sa.literal("bench/") + sa.cast(R.id, sa.String) + sa.literal(".pdf"),
        _hex_of(R.id, dialect),
        sa.literal(""),
        sa.literal("system"),
        sa.literal("sms"),
        R.doctor_id,
        R.signed_at,
    ).where(signed)
    table = SignedDocument.__table__
    columns = ["record_id", "version", "file_name", "sha256", "cert_serial"]
    columns += ["seal_kind", "method", "signer_id", "signed_at"]
    session.execute(table.insert().from_select(columns, documents))
    last = session.exec(select(func.coalesce(func.max(AuditEvent.seq), 0))).one()
    target = sa.literal("record:") + sa.cast(R.id, sa.String)
    entries = (
        select(
            R.id + last,
            R.signed_at,
            R.doctor_id,
            User.login_id,
            sa.literal("record.signed"),
            target,
            sa.literal(""),
            sa.literal(""),
            sa.literal(""),
            sa.literal("-"),
            _hex_of(R.id, dialect),
        )
        .join(User, User.id == R.doctor_id)
        .where(signed)
    )
    columns = ["seq", "at", "actor_id", "actor_login", "action", "target", "detail"]
    columns += ["ip", "user_agent", "prev_hash", "hash"]
    session.execute(AuditEvent.__table__.insert().from_select(columns, entries))
    session.commit()


def load_records(session: Session, *, now: datetime, count: int) -> None:
    """Add ``count`` records (and their patients, doctors, signed files and audit
    entries) to a database holding the demo chain."""
    rng = random.Random(7)
    doctors = _doctors(session)
    patients = _patients(session, rng, list(doctors), max(count // 6, 100))
    rows = _record_rows(now, count, doctors, patients, rng)
    table = MedicalRecord.__table__
    while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
        session.execute(table.insert(), chunk)
        session.commit()
    _signed_rows(session)
    session.execute(sa.text("ANALYZE"))
    session.commit()
