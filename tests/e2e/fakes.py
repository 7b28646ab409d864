"""The outside world of a production deployment, for the production-configuration
browser tests: the identity check vendor, Aliyun SMS and Tencent FaceID as the local
fakes the adapters are unit-tested against (each checks signatures as the real
service does), and what the clinic's HIS would already hold (a clinic, accounts,
patients, today's records), since demo mode loads none of it.

The fakes run in the test process on 127.0.0.1; :meth:`FakeProviders.env` is what
points the app's real adapters at them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlmodel import Session, create_engine

from his_portal.demo.data import pinyin_key
from his_portal.models import Clinic, MedicalRecord, Patient, Role, Sex, User
from his_portal.services.auth import hash_password
from his_portal.services.identity.idcard import resident_check_digit
from tests.adapters.fake_tencent import (
    RULE_ID,
    SECRET_ID,
    SECRET_KEY,
    FakeTencent,
    text,
)
from tests.adapters.test_identity_providers import KEY, SECRET, FakeVendor
from tests.adapters.test_sms_providers import KEY_ID, KEY_SECRET, FakeAliyun
from tests.fake_server import serve

SMS_SIGN_NAME = "牙医云"
SMS_TEMPLATE_CODE = "SMS_123456789"


class E2ETencent(FakeTencent):
    """Tencent FaceID for a browser that cannot reach Tencent.

    The only deviation from :class:`FakeTencent`: ``DetectAuth`` answers with
    ``Url`` = the request's own ``RedirectUrl``, as if the person had done the face
    check on Tencent's H5 page and been sent back to us. Signatures, RuleId and the
    ``GetDetectInfoEnhanced`` answers are FakeTencent's.

    ``impostor`` (name, ID number), when set, makes the next transactions come out
    as that person's face check instead of the one asked for.
    """

    # Own records, not FakeTencent's (shared by every handler instance).
    sessions: ClassVar[dict[str, tuple[str, str]]] = {}
    scripted: ClassVar[dict[str, dict[str, Any]]] = {}
    requests: ClassVar[list[dict[str, Any]]] = []
    issued: ClassVar[list[str]] = []  # BizTokens, in order
    impostor: ClassVar[tuple[str, str] | None] = None

    def _detect_auth(self, data: dict[str, Any], request_id: str) -> None:
        if data.get("RuleId") != RULE_ID:
            return super()._detect_auth(data, request_id)
        token = str(uuid.uuid4()).upper()
        self.sessions[token] = (data["IdCard"], data["Name"])
        if self.impostor is not None:
            name, id_card = self.impostor
            self.scripted[token] = text(0, "成功", id_card, name)
        self.issued.append(token)
        self._answer({"Url": data["RedirectUrl"], "BizToken": token}, request_id)


@dataclass(frozen=True)
class FakeProviders:
    """Base URLs of the three running fakes."""

    identity: str
    sms: str
    face: str

    def env(self) -> dict[str, str]:
        """The HIS_* variables that choose the real providers and point them here."""
        return {
            "HIS_IDENTITY_PROVIDER": "http",
            "HIS_IDENTITY_URL": f"{self.identity}/verify",
            "HIS_IDENTITY_KEY": KEY,
            "HIS_IDENTITY_SECRET": SECRET,
            "HIS_SMS_PROVIDER": "aliyun",
            "HIS_SMS_ACCESS_KEY_ID": KEY_ID,
            "HIS_SMS_ACCESS_KEY_SECRET": KEY_SECRET,
            "HIS_SMS_SIGN_NAME": SMS_SIGN_NAME,
            "HIS_SMS_TEMPLATE_CODE": SMS_TEMPLATE_CODE,
            "HIS_SMS_ENDPOINT": self.sms,
            "HIS_FACE_PROVIDER": "tencent",
            "HIS_FACE_SECRET_ID": SECRET_ID,
            "HIS_FACE_SECRET_KEY": SECRET_KEY,
            "HIS_FACE_RULE_ID": RULE_ID,
            "HIS_FACE_ENDPOINT": self.face,
            "HIS_FACE_REGION": "ap-shanghai",
        }


@contextmanager
def running() -> Iterator[FakeProviders]:
    """Start the identity vendor, Aliyun and Tencent fakes; stop them afterwards."""
    with ExitStack() as stack:
        yield FakeProviders(
            identity=stack.enter_context(serve(FakeVendor)),
            sms=stack.enter_context(serve(FakeAliyun)),
            face=stack.enter_context(serve(E2ETencent)),
        )


def sms_sent_to(mobile: str) -> list[dict[str, str]]:
    """The SendSms requests (signature verified) Aliyun's fake got for ``mobile``."""
    return [p for p in FakeAliyun.received if p.get("PhoneNumbers") == mobile]


def last_sms_code(mobile: str) -> str:
    """The ``code`` of the latest template sent to ``mobile``, as the phone shows it."""
    [*_, latest] = sms_sent_to(mobile)
    return json.loads(latest["TemplateParam"])["code"]


def face_requests(action: str) -> list[dict[str, Any]]:
    """The bodies of the ``action`` calls the Tencent fake accepted, in order."""
    return [r["body"] for r in E2ETencent.requests if r["action"] == action]


# --- what the HIS holds ---------------------------------------------------------------


def _resident_id(first17: str) -> str:
    return first17 + resident_check_digit(first17)


CLINIC_NAME = "上海维乐徐汇滨江门诊"
CLINIC_CODE = "9021"
PASSWORD = "Prod#Pass2026"
DOCTOR_LOGIN = "xh-zhoumin@9021"
DOCTOR_NAME = "周敏"
DOCTOR_ID = _resident_id("31010419880617312")
DOCTOR_MOBILE = "13912345678"
MANAGER_LOGIN = "xh-manager@9021"
MANAGER_NAME = "孙丽"
# Someone else's face check, for the Tencent fake to answer with (impostor).
OTHER_PERSON = ("张伟", _resident_id("31011519790203451"))


@dataclass(frozen=True)
class SeededPatient:
    name: str
    record_no: str
    sex: Sex
    birth_date: date
    visit_item: str
    title: str
    chief_complaint: str
    diagnosis: str


PATIENTS = (
    SeededPatient(
        "陆晓峰",
        "P902120240001",
        Sex.MALE,
        date(1979, 4, 12),
        "补牙",
        "充填治疗",
        "右上后牙冷热刺激酸痛两周",
        "16中龋",
    ),
    SeededPatient(
        "顾雨婷",
        "P902120240002",
        Sex.FEMALE,
        date(1994, 9, 3),
        "根管治疗",
        "根管治疗",
        "左下后牙夜间自发痛三天",
        "36急性牙髓炎",
    ),
    SeededPatient(
        "蒋浩然",
        "P902120240003",
        Sex.MALE,
        date(2001, 1, 27),
        "洁牙",
        "洁治",
        "刷牙时牙龈出血",
        "慢性牙龈炎",
    ),
)


def seed_clinic(db_url: str, *, zone: ZoneInfo) -> None:
    """Insert the clinic, a doctor, a manager, 3 patients and 3 unsigned records of
    the doctor created today (clinic time, a few minutes apart, never before the
    day's start), as the HIS would have them."""
    now = datetime.now(zone)
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=zone)
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            clinic = Clinic(name=CLINIC_NAME, code=CLINIC_CODE)
            session.add(clinic)
            session.flush()
            doctor = User(
                login_id=DOCTOR_LOGIN,
                display_name=DOCTOR_NAME,
                role=Role.DOCTOR,
                clinic_id=clinic.id,
                password_hash=hash_password(PASSWORD),
            )
            manager = User(
                login_id=MANAGER_LOGIN,
                display_name=MANAGER_NAME,
                role=Role.MANAGER,
                clinic_id=clinic.id,
                password_hash=hash_password(PASSWORD),
            )
            session.add_all([doctor, manager])
            session.flush()
            for number, seeded in enumerate(PATIENTS):
                patient = Patient(
                    record_no=seeded.record_no,
                    name=seeded.name,
                    name_pinyin=pinyin_key(seeded.name),
                    sex=seeded.sex,
                    birth_date=seeded.birth_date,
                    phone=f"1381234{number:04d}",
                    clinic_id=clinic.id,
                )
                session.add(patient)
                session.flush()
                created = max(now - timedelta(minutes=10 * (number + 1)), start_of_day)
                session.add(
                    MedicalRecord(
                        patient_id=patient.id,
                        doctor_id=doctor.id,
                        clinic_id=clinic.id,
                        visit_item=seeded.visit_item,
                        title=seeded.title,
                        created_at=created,
                        chief_complaint=seeded.chief_complaint,
                        present_illness="患者自述症状持续，未经治疗。",
                        past_history="否认系统性疾病史，否认药物过敏史。",
                        examination="探诊(+)，叩诊(±)，牙龈轻度红肿。",
                        diagnosis=seeded.diagnosis,
                        treatment_plan="对症治疗，定期复查。",
                        treatment="口腔卫生宣教。",
                        advice="如有不适及时复诊。",
                    )
                )
            session.commit()
    finally:
        engine.dispose()
