"""The integrity check: good files pass; a missing file, a changed byte and a broken
audit chain are reported, stored, and sent to the administrators."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from his_portal.errors import AccessDenied
from his_portal.models import (
    AuditEvent,
    IntegrityReport,
    MedicalRecord,
    Notification,
    SignedDocument,
    User,
)
from his_portal.services import integrity
from his_portal.services.signing.ltv import ValidationMaterial, add_long_term_validation
from his_portal.services.signing.pades_level import LABELS, PadesLevel
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.signing.test_ltv import signed_revision
from tests.services.signing.test_record_signing import (  # noqa: F401 (fixture)
    DOCTOR,
    T,
    kit,
    ready,
    sign,
)
from tests.services.signing.test_verification import pinned_kit

B_LTA = "PAdES B-LTA（长期验证，含文档时间戳）"


def run(session, tmp_path, now=None):
    return integrity.run_check(session=session, data_dir=tmp_path, zone=ZONE, now=now)


@pytest.fixture
def signed(ready, tmp_path):  # noqa: F811 (the imported fixture)
    """Three records of 郑程 signed, their PDFs under ``tmp_path``."""
    doctor = user_by_login(ready, DOCTOR)
    ids = ready.exec(
        select(MedicalRecord.id)
        .where(MedicalRecord.doctor_id == doctor.id)
        .order_by(MedicalRecord.id)
        .limit(3)
    ).all()
    for record_id in ids:  # the TSA on the test's clock, as the CA is
        assert sign(ready, record_id, tmp_path, signer=pinned_kit(ready)).ok
    return ready


def documents(session) -> list[SignedDocument]:
    return list(session.exec(select(SignedDocument).order_by(SignedDocument.id)))


def admin_notices(session) -> list[Notification]:
    admin = user_by_login(session, "sh-admin@8112")
    return list(
        session.exec(select(Notification).where(Notification.user_id == admin.id))
    )


def test_good_files_and_an_intact_chain_pass(signed, tmp_path):
    result = run(signed, tmp_path)
    assert (result.checked, result.failed, result.audit_ok) == (3, 0, True)
    assert result.ok and result.failures == ()
    report = signed.get(IntegrityReport, result.report_id)
    assert report.finished_at is not None and report.documents_checked == 3
    assert report.audit_ok and json.loads(report.detail)["failures"] == []
    assert admin_notices(signed) == []
    view = integrity.latest_report(
        session=signed, viewer=user_by_login(signed, "sh-admin@8112"), zone=ZONE
    )
    assert (view.checked, view.failed, view.audit_ok, view.running) == (
        3,
        0,
        True,
        False,
    )
    assert result.levels == {"B-LTA": 3} and result.below_lta == ()
    assert view.levels == [f"{B_LTA}：3 份"] and view.below_lta == []


def replace_file(session, tmp_path, doc: SignedDocument, pdf: bytes) -> None:
    """The stored file becomes ``pdf``, its recorded hash too (only the signature
    check can tell)."""
    (tmp_path / "signed" / doc.file_name).write_bytes(pdf)
    doc.sha256 = hashlib.sha256(pdf).hexdigest()
    session.add(doc)
    session.commit()


def test_each_files_level_is_reported_and_a_b_t_file_passes(signed, tmp_path):
    doc = documents(signed)[0]
    pdf = (tmp_path / "signed" / doc.file_name).read_bytes()
    replace_file(signed, tmp_path, doc, signed_revision(pdf))
    result = run(signed, tmp_path)
    assert result.ok and result.levels == {"B-LTA": 2, "B-T": 1}
    assert [(d.document_id, d.level) for d in result.below_lta] == [(doc.id, "B-T")]
    view = integrity.latest_report(
        session=signed, viewer=user_by_login(signed, "sh-admin@8112"), zone=ZONE
    )
    assert view.levels == [f"{B_LTA}：2 份", "PAdES B-T（含签名时间戳）：1 份"]
    assert view.below_lta == [f"病历 {doc.record_id} 第1版：PAdES B-T（含签名时间戳）"]


def test_a_b_lta_claim_must_pass_long_term_validation(signed, tmp_path):
    """A DSS with the signer's OCSP response but nothing for the TSA's certificate,
    then a document timestamp: B-LTA in structure, and pyHanko's plain validation
    (soft-fail) passes it; offline long-term validation cannot, and says so."""
    doc = documents(signed)[0]
    pdf = signed_revision((tmp_path / "signed" / doc.file_name).read_bytes())
    signer = kit(signed)
    thin = add_long_term_validation(
        pdf,
        material=ValidationMaterial(
            certificates=[signer.cert_pem, *signer.chain_pems, *signer.tsa_chain_pems],
            ocsp_responses=[signer.signer_ocsp(signed, T)],
        ),
        tsa=signer.tsa,
    )
    replace_file(signed, tmp_path, doc, thin)
    result = run(signed, tmp_path)
    [failure] = result.failures
    assert failure.document_id == doc.id and failure.level == "B-LTA"
    assert failure.reason.startswith("长期验证（B-LTA）未通过：INDETERMINATE")
    assert result.levels == {"B-LTA": 3}
    view = integrity.latest_report(
        session=signed, viewer=user_by_login(signed, "sh-admin@8112"), zone=ZONE
    )
    assert view.failures == [
        f"病历 {doc.record_id} 第1版（PAdES B-LTA）：{failure.reason}"
    ]


def test_missing_file_changed_byte_and_broken_chain_are_reported(signed, tmp_path):
    first, second, _third = documents(signed)
    (tmp_path / "signed" / first.file_name).unlink()
    path = tmp_path / "signed" / second.file_name
    pdf = bytearray(path.read_bytes())
    position = pdf.index(b"/MediaBox")
    pdf[position + 1] ^= 0x01
    path.write_bytes(bytes(pdf))
    victim = signed.exec(select(AuditEvent).order_by(AuditEvent.seq)).first()
    signed.execute(
        sa.update(AuditEvent)
        .where(AuditEvent.id == victim.id)
        .values(detail='{"edited": true}')
    )
    signed.commit()

    result = run(signed, tmp_path)
    assert (result.checked, result.failed, result.audit_ok) == (3, 2, False)
    reasons = {f.document_id: f.reason for f in result.failures}
    assert reasons[first.id] == "文件缺失"
    assert "SHA-256" in reasons[second.id]
    assert str(victim.seq) in result.audit_message
    report = signed.get(IntegrityReport, result.report_id)
    assert (report.documents_failed, report.audit_ok) == (2, False)
    stored = json.loads(report.detail)
    assert {f["document_id"] for f in stored["failures"]} == {first.id, second.id}
    assert stored["audit"]["first_broken_seq"] == victim.seq
    [notice] = admin_notices(signed)
    assert notice.kind == "integrity" and "2 份签名病历" in notice.body
    assert "审计日志链校验失败" in notice.body
    # The next day's run notifies again (a new report), never twice for one.
    run(signed, tmp_path, now=NOW + timedelta(days=1))
    assert len(admin_notices(signed)) == 2


def test_a_changed_byte_whose_hash_was_updated_fails_the_signature(signed, tmp_path):
    doc = documents(signed)[0]
    path = tmp_path / "signed" / doc.file_name
    pdf = bytearray(path.read_bytes())
    position = pdf.index(b"/MediaBox")
    pdf[position + 1] ^= 0x01
    path.write_bytes(bytes(pdf))
    doc.sha256 = hashlib.sha256(bytes(pdf)).hexdigest()
    signed.add(doc)
    signed.commit()
    result = run(signed, tmp_path)
    assert result.failed == 1
    assert "签名后内容被改动" in result.failures[0].reason


def test_a_second_run_is_refused_while_one_runs(signed, tmp_path):
    signed.add(IntegrityReport(started_at=NOW))
    signed.commit()
    with pytest.raises(integrity.IntegrityBusy):
        run(signed, tmp_path, now=NOW + timedelta(minutes=5))
    admin = user_by_login(signed, "sh-admin@8112")
    view = integrity.latest_report(
        session=signed, viewer=admin, zone=ZONE, now=NOW + timedelta(minutes=5)
    )
    assert view.running
    # A run whose worker died stops counting after STALE_AFTER.
    later = NOW + integrity.STALE_AFTER + timedelta(minutes=1)
    assert run(signed, tmp_path, now=later).checked == 3


def test_only_administrators_run_or_read_the_check(signed, tmp_path):
    for login in ("sh-feihuan@8112", "sh-manager@8112"):
        user = user_by_login(signed, login)
        with pytest.raises(AccessDenied):
            integrity.run_for(session=signed, admin=user, data_dir=tmp_path, zone=ZONE)
        with pytest.raises(AccessDenied):
            integrity.latest_report(session=signed, viewer=user, zone=ZONE)
    assert signed.exec(select(IntegrityReport)).all() == []
    assert signed.exec(select(User).where(User.role == "admin")).first() is not None


def test_a_stored_level_this_version_does_not_know_is_shown_as_stored() -> None:
    assert integrity.level_label(PadesLevel.B_LTA.value) == LABELS[PadesLevel.B_LTA]
    assert integrity.level_label("") == "无法读取签名"
    assert integrity.level_label("PAdES-E-LTA") == "PAdES-E-LTA"
