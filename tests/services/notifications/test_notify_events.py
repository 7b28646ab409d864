"""The actions notify by themselves: a batch's result, 实名认证 解除, seal changes."""

from __future__ import annotations

from sqlmodel import select

from his_portal.models import Confirmation, MedicalRecord, Patient
from his_portal.services.audit import Actor
from his_portal.services.identity import verification
from his_portal.services.notifications import Kind
from his_portal.services.seals import store as seals
from his_portal.services.signing import batch
from his_portal.services.signing.records import SignOutcome
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import save, verify
from tests.services.notifications.notify_helpers import DOCTOR, notes_of
from tests.services.seals.test_seals import png


def _records(session, doctor_id: int, count: int) -> list[tuple[int, str]]:
    return list(
        session.exec(
            select(MedicalRecord.id, Patient.record_no)
            .join(Patient, Patient.id == MedicalRecord.patient_id)
            .where(MedicalRecord.doctor_id == doctor_id)
            .order_by(MedicalRecord.id)
            .limit(count)
        ).all()
    )


def _claimed_batch(session, doctor_id: int, record_ids: tuple[int, ...]) -> int:
    """A confirmation whose batch has started and not finished (what finish closes)."""
    confirmation = Confirmation(
        user_id=doctor_id,
        session_hash="",
        records_digest="",
        record_ids=",".join(map(str, record_ids)),
        method="sms",
        expires_at=NOW,
        status="used",
        batch_started_at=NOW,
    )
    session.add(confirmation)
    session.commit()
    return confirmation.id


def test_a_finished_batch_tells_the_doctor_its_counts_and_reasons_once(demo):
    doctor = user_by_login(demo, DOCTOR)
    (ok_id, _), (bad_id, bad_no), (missing_id, _) = _records(demo, doctor.id, 3)
    ids = (ok_id, bad_id, missing_id)
    confirmation_id = _claimed_batch(demo, doctor.id, ids)
    plan = batch.BatchPlan(confirmation_id, doctor.id, ids, "sms", "system")
    outcomes = [
        SignOutcome(ok_id, "", "", True, ""),
        SignOutcome(bad_id, "", "", False, "证书已吊销"),
    ]
    actor = Actor(doctor.id, DOCTOR)
    batch.finish(demo, plan=plan, outcomes=outcomes, actor=actor, now=NOW)
    batch.finish(demo, plan=plan, outcomes=outcomes, actor=actor, now=NOW)
    (note,) = notes_of(demo, doctor.id)
    assert note.kind == Kind.BATCH and note.dedup_key == f"batch:{confirmation_id}"
    assert note.title == "批量签名完成：已签署1份，失败2份"
    assert note.body == f"失败原因：{bad_no}：证书已吊销"
    assert note.record_id is None


def test_a_one_record_batch_points_at_its_record(demo):
    doctor = user_by_login(demo, DOCTOR)
    ((record_id, _),) = _records(demo, doctor.id, 1)
    confirmation_id = _claimed_batch(demo, doctor.id, (record_id,))
    plan = batch.BatchPlan(confirmation_id, doctor.id, (record_id,), "sms", "system")
    outcome = SignOutcome(record_id, "", "", True, "")
    batch.finish(demo, plan=plan, outcomes=[outcome], actor=Actor(doctor.id), now=NOW)
    (note,) = notes_of(demo, doctor.id)
    assert note.title == "批量签名完成：已签署1份，失败0份"
    assert (note.body, note.record_id) == ("全部签署成功。", record_id)


def test_revoking_verification_notifies_with_the_serial(clinic):
    save(clinic)
    verify(clinic)
    doctor = user_by_login(clinic, DOCTOR)
    verification.revoke_verification(
        session=clinic, user=doctor, actor=Actor(doctor.id, DOCTOR), now=NOW
    )
    (note,) = notes_of(clinic, doctor.id)
    assert note.kind == Kind.VERIFICATION_REVOKED and note.title == "实名认证已解除"
    assert "数字证书（序列号 " in note.body and "电子签名已关闭" in note.body


def test_saving_replacing_and_deleting_a_seal_notify(clinic, tmp_path):
    save(clinic)
    verify(clinic)
    doctor = user_by_login(clinic, DOCTOR)
    actor = Actor(doctor.id, DOCTOR)
    for _ in range(2):
        seals.save_seal(
            session=clinic,
            user=doctor,
            png=png(),
            source="photo",
            data_dir=tmp_path,
            actor=actor,
        )
    seals.delete_seal(session=clinic, user=doctor, actor=actor)
    notes = notes_of(clinic, doctor.id)
    assert [n.title for n in notes] == [
        "个性签章已更新",
        "个性签章已更新",
        "个性签章已删除",
    ]
    assert {n.kind for n in notes} == {Kind.SEAL_CHANGED}
    assert notes[-1].body.startswith("今后签署将使用系统签名。")
