"""验证 handlers, called as an anonymous browser would: the upload streams into the
check, the report and the /verify/<id> page carry no patient data."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from reflex_components_core.core._upload import UploadChunk
from sqlmodel import select

from his_portal import db, deps
from his_portal.models import (
    MedicalRecord,
    Patient,
    SignedDocument,
    SignStatus,
    utcnow,
)
from his_portal.services.audit import Actor
from his_portal.services.seals import store as seals
from his_portal.services.signing import records as record_signing
from his_portal.services.signing import verification, verify_links
from his_portal.services.signing.public_limits import (
    LOOKUPS_PER_WINDOW,
    RATE_LIMITED,
    lookup_limiter,
)
from his_portal.settings import clinic_zone, get_settings
from his_portal.states import verify as verify_states
from his_portal.states.verify import REJECTED, VerifyRecordState, VerifyState
from tests.conftest import user_by_login
from tests.services.signing.test_verification import flip_content_byte
from tests.state.test_states import spy_threads

pytestmark = pytest.mark.usefixtures("app_db")
DOCTOR = "sh-feihuan@8112"


@dataclasses.dataclass(frozen=True)
class Signed:
    verify_id: str
    pdf: bytes
    patient_name: str
    record_no: str
    chief_complaint: str


@pytest.fixture
def signed(zheng_token) -> Signed:
    """One of 郑程's unsigned records, signed now through the services."""
    with db.session() as session:
        doctor = user_by_login(session, DOCTOR)
        actor = Actor(doctor.id, DOCTOR, "127.0.0.1", "pytest")
        seals.set_esign(session=session, user=doctor, enabled=True, actor=actor)
        record = session.exec(
            select(MedicalRecord).where(
                MedicalRecord.doctor_id == doctor.id,
                MedicalRecord.sign_status == SignStatus.UNSIGNED,
            )
        ).first()
        kit = record_signing.load_signer(
            session=session, user=doctor, kek=deps.kek(), now=utcnow()
        )
        settings = get_settings()
        outcome = record_signing.sign_record(
            session=session,
            kit=kit,
            record_id=record.id,
            seal_choice="system",
            method="sms",
            confirmation_id=None,
            data_dir=settings.data_dir,
            amend_days=7,
            zone=clinic_zone(),
            actor=actor,
        )
        assert outcome.ok, outcome.message
        doc = session.exec(
            select(SignedDocument).where(SignedDocument.record_id == record.id)
        ).one()
        patient = session.get(Patient, record.patient_id)
        pdf = (settings.data_dir / "signed" / doc.file_name).read_bytes()
        return Signed(
            doc.verify_id, pdf, patient.name, patient.record_no, record.chief_complaint
        )


def make(state_cls, *, path: str):
    """A public page's state in a browser with nobody logged in."""
    state = state_cls(_reflex_internal_init=True)
    state.router = RouterData.from_router_data(
        {
            "pathname": path,
            "asPath": path,
            "headers": {"origin": "http://localhost:3000", "user-agent": "pytest"},
            "ip": "127.0.0.1",
        }
    )
    return state


@pytest.fixture(autouse=True)
def fresh_limits():
    lookup_limiter.reset()
    yield
    lookup_limiter.reset()


def upload(state: VerifyState, data: bytes, name: str = "病历.pdf") -> None:
    """The background upload handler fed as Reflex's /_upload would feed it."""

    async def run():
        chunks = rx.UploadChunkIterator()
        task = asyncio.ensure_future(VerifyState.handle_upload.fn(state, chunks))
        chunks.set_consumer_task(task)
        for offset in range(0, max(len(data), 1), 65536):
            part = data[offset : offset + 65536]
            await chunks.push(
                UploadChunk(filename=name, offset=offset, content_type="", data=part)
            )
        await chunks.finish()
        await task

    asyncio.run(run())


def shown(state: rx.State) -> str:
    """Every var the browser receives, as one string."""
    return json.dumps(state.dict(), ensure_ascii=False, default=str)


def test_an_anonymous_caller_checks_a_signed_pdf(signed, monkeypatch):
    threads = spy_threads(monkeypatch, verify_states, "check_pdf")
    state = make(VerifyState, path="/verify")
    state.on_load()
    upload(state, signed.pdf)
    assert state.error == "" and state.checked and not state.busy
    assert state.all_valid and state.matched
    assert state.match == "与本系统第1版签署文件一致"
    (signature,) = state.signatures
    assert signature.title == "签名 1：有效" and signature.reasons == []
    assert ["签署者", "郑程"] in signature.rows
    rows = dict(signature.rows)
    assert rows["签名级别"] == "PAdES B-LTA（长期验证，含文档时间戳）"
    assert rows["签名覆盖范围"].startswith("是，签名覆盖签署时的完整文件")
    assert threading.main_thread() not in threads  # checked off the event loop
    text = shown(state)
    for private in (signed.patient_name, signed.record_no, signed.chief_complaint):
        assert private not in text
    assert signed.verify_id not in text


def test_a_tampered_pdf_is_invalid(signed):
    state = make(VerifyState, path="/verify")
    upload(state, flip_content_byte(signed.pdf))
    assert state.checked and not state.all_valid and not state.matched
    assert state.signatures[0].title == "签名 1：无效"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("一个文本文件".encode(), verification.NOT_PDF),
        (b"", verification.EMPTY),
        (b"%PDF-1.7\n" + b"x" * 100, verification.BROKEN),
        (b"%PDF-1.7\n" + b"0" * verification.MAX_PDF_BYTES, verification.TOO_LARGE),
    ],
    ids=["text", "empty", "broken", "huge"],
)
def test_bad_files_show_one_message_and_no_report(data, message):
    state = make(VerifyState, path="/verify")
    upload(state, data)
    assert state.error == message
    assert not state.checked and not state.busy and state.signatures == []


def test_a_websocket_call_without_files_does_nothing():
    state = make(VerifyState, path="/verify")
    for junk in ([], {"files": []}, "x", None, [{"filename": "a.pdf"}]):
        asyncio.run(VerifyState.handle_upload.fn(state, junk))
    assert not state.busy and not state.checked and state.error == ""
    state.rejected([{"file": {"path": "a.txt"}}])
    assert state.error == REJECTED


def test_the_status_page_shows_the_signature_without_patient_data(signed):
    state = make(VerifyRecordState, path=f"/verify/{signed.verify_id}")
    state.on_load()
    assert state.found and state.message == ""
    assert (state.status, state.label) == ("valid", "签名有效")
    labels = dict(state.items)
    assert labels["签署医生"] == "郑程" and labels["病历版本"] == "第1版"
    assert len(labels["签署文件 SHA-256"]) == 64
    text = shown(state)
    for private in (signed.patient_name, signed.record_no, signed.chief_complaint):
        assert private not in text


def test_unknown_ids_get_the_same_answer_as_malformed_ones():
    answers = set()
    for wrong in ("abcdefghijkl", "ABC", "x" * 300, "%27%20OR%201%3D1"):
        state = make(VerifyRecordState, path=f"/verify/{wrong}")
        state.on_load()
        assert not state.found and state.items == []
        answers.add(shown(state))
    assert len(answers) == 1 and verify_links.NOT_FOUND in answers.pop()


def test_lookups_are_limited_per_address(signed):
    for _ in range(LOOKUPS_PER_WINDOW):
        make(VerifyRecordState, path=f"/verify/{signed.verify_id}").on_load()
    state = make(VerifyRecordState, path=f"/verify/{signed.verify_id}")
    state.on_load()
    assert not state.found and state.message == RATE_LIMITED
