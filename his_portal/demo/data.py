"""Demo clinic: the chain's 分院, the tutorial's accounts, patients and a month of
generated records at 上海维乐海趣路门诊.

Deterministic for a given load time (fixed random seed); records are placed in the
30 days before it, never after, so that 今日 has work waiting. Loaded only into an
empty database. Fast on purpose (the test fixtures load it): the other 分院's people
and the chain's signed 90-day history are a separate, slower step
(:mod:`his_portal.demo.history`, run by ``cli init``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, func, select

from his_portal.models import (
    Appointment,
    Clinic,
    Patient,
    Role,
    Sex,
    User,
)
from his_portal.services.auth import hash_password

from .texts import VISITS, pinyin_key, random_patient, random_record

__all__ = [
    "CLINICS",
    "CLINIC_NAME",
    "DEMO_ACCOUNTS",
    "DEMO_PASSWORD",
    "DemoAccount",
    "load_demo_data",
    "pinyin_key",
]

CLINIC_NAME = "上海维乐海趣路门诊"
#: The chain's 分院: (name, code); the code ends every login id there.
CLINICS = (
    (CLINIC_NAME, "8112"),
    ("上海维乐徐汇门诊", "8113"),
    ("上海维乐浦东门诊", "8114"),
)
SEED = 20201214
DEMO_PASSWORD = "Demo@2026"


@dataclass(frozen=True)
class DemoAccount:
    login_id: str
    display_name: str
    role: Role
    password: str
    clinic_code: str = "8112"
    #: A manager who sees every 分院 of the chain.
    chain_wide: bool = False


DEMO_ACCOUNTS = (
    DemoAccount("sh-feihuan@8112", "郑程", Role.DOCTOR, DEMO_PASSWORD),
    DemoAccount("sh-wangli@8112", "王莉", Role.DOCTOR, DEMO_PASSWORD),
    DemoAccount(
        "sh-manager@8112", "陈静", Role.MANAGER, DEMO_PASSWORD, chain_wide=True
    ),
    DemoAccount("sh-admin@8112", "系统管理员", Role.ADMIN, DEMO_PASSWORD),
)

# (name, sex, birth date, phone, record_no, visit item, title, chief complaint, doctor)
TUTORIAL_RECORDS = (
    (
        "刘作榛",
        Sex.MALE,
        date(1985, 3, 2),
        "13816720431",
        "P120111201801313",
        "检查",
        "口腔检查",
        "左下后牙咀嚼时疼痛一周",
        "郑程",
        time(14, 43),
    ),
    (
        "郭少青",
        Sex.FEMALE,
        date(1990, 7, 19),
        "13917284560",
        "P120111190005083",
        "美学修复",
        "美学修复",
        "上前牙变色影响美观，要求改善",
        "郑程",
        time(14, 42),
    ),
    (
        "张三",
        Sex.MALE,
        date(2002, 6, 1),
        "13611112222",
        "P111220000601",
        "正畸",
        "啦啦啦啦 医疗许可",
        "牙列不齐, 咬合不适",
        "王莉",
        time(10, 5),
    ),
)


def _visit_time(day: date, at: time, now: datetime, rng: random.Random) -> datetime:
    """``at`` on ``day`` in the clinic's zone, moved back before ``now`` if later
    (but not before the day's start: a record of today stays on today)."""
    moment = datetime.combine(day, at, tzinfo=now.tzinfo)
    if moment < now:
        return moment
    start_of_day = datetime.combine(day, time.min, tzinfo=now.tzinfo)
    return max(now - timedelta(minutes=rng.randint(1, 90)), start_of_day)


def load_demo_data(*, session: Session, now: datetime, records: int = 300) -> bool:
    """Fill an empty database with the demo clinic. Returns False if it held users.

    Args:
        session: Database session; this function commits.
        now: The current time in the clinic's time zone; records span the 30 days
            before it.
        records: How many generated records besides the tutorial's.
    """
    today = now.date()
    if session.exec(select(func.count()).select_from(User)).one():
        return False
    rng = random.Random(SEED)
    clinics = {code: Clinic(name=name, code=code) for name, code in CLINICS}
    session.add_all(clinics.values())
    session.flush()
    clinic = clinics["8112"]
    users = {}
    for account in DEMO_ACCOUNTS:
        user = User(
            login_id=account.login_id,
            display_name=account.display_name,
            role=account.role,
            clinic_id=clinics[account.clinic_code].id,
            password_hash=hash_password(account.password),
            chain_wide=account.chain_wide,
        )
        session.add(user)
        users[account.display_name] = user
    session.flush()
    doctors = [u for u in users.values() if u.role == Role.DOCTOR]

    for (
        name,
        sex,
        born,
        phone,
        record_no,
        item,
        title,
        complaint,
        doctor,
        at,
    ) in TUTORIAL_RECORDS:
        patient = Patient(
            record_no=record_no,
            name=name,
            name_pinyin=pinyin_key(name),
            sex=sex,
            birth_date=born,
            phone=phone,
            clinic_id=clinic.id,
        )
        session.add(patient)
        session.flush()
        session.add(
            random_record(
                rng,
                item,
                patient_id=patient.id,
                doctor_id=users[doctor].id,
                clinic_id=clinic.id,
                title=title,
                chief_complaint=complaint,
                created_at=_visit_time(today, at, now, rng),
            )
        )

    patients = []
    for index in range(120):
        patient = random_patient(
            rng, record_no=f"P1201112{20200000 + index * 37:08d}", clinic_id=clinic.id
        )
        session.add(patient)
        patients.append(patient)
    session.flush()

    for offset in range(-3, 4):  # 今日预约: a few bookings a day around today
        for doctor in doctors:
            for _ in range(rng.randint(2, 5)):
                day = today + timedelta(days=offset)
                at = datetime.combine(
                    day,
                    time(rng.randint(9, 18), rng.choice((0, 30))),
                    tzinfo=now.tzinfo,
                )
                status = (
                    "booked"
                    if at > now
                    else rng.choice(("arrived", "arrived", "missed"))
                )
                session.add(
                    Appointment(
                        patient_id=rng.choice(patients).id,
                        doctor_id=doctor.id,
                        clinic_id=clinic.id,
                        scheduled_at=at,
                        visit_item=rng.choice(list(VISITS)),
                        status=status,
                    )
                )

    for _ in range(records):
        day = today - timedelta(days=rng.randint(0, 29))
        at = time(rng.randint(9, 19), rng.randint(0, 59))
        session.add(
            random_record(
                rng,
                rng.choice(list(VISITS)),
                patient_id=rng.choice(patients).id,
                doctor_id=rng.choice(doctors).id,
                clinic_id=clinic.id,
                created_at=_visit_time(day, at, now, rng),
            )
        )
    session.commit()
    return True
