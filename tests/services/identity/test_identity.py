"""个人信息 → 一键实名认证 → 证书 → 解除, with the demo provider and a real CA."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from sqlmodel import select

from his_portal.adapters.identity_check import (
    DEMO_MISMATCH_ID,
    DEMO_ZHENG_ID,
    DemoIdentityProvider,
    IdentityProviderError,
    IdentityResult,
)
from his_portal.errors import AccessDenied
from his_portal.models import AuditEvent, DoctorCertificate, DoctorProfile
from his_portal.services.audit import Actor, verify_chain
from his_portal.services.identity import profile as identity
from his_portal.services.identity import verification
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import KekError, decrypt_field
from tests.conftest import NOW, user_by_login
from tests.services.identity.identity_helpers import (
    CRL_URL,
    DOCTOR,
    GOOD,
    KEK,
    context,
    save,
    verify,
)


def test_profile_is_saved_with_the_id_number_encrypted_and_masked(clinic):
    view = save(clinic)
    assert view.id_number_masked == "3101**********0014"
    assert view.mobile_masked == "138****8000" and view.complete
    row = clinic.exec(select(DoctorProfile)).one()
    assert DEMO_ZHENG_ID not in row.id_number_enc
    assert decrypt_field(row.id_number_enc, kek=KEK, purpose=identity.ID_PURPOSE) == (
        DEMO_ZHENG_ID
    )
    with pytest.raises(KekError):
        decrypt_field(row.id_number_enc, kek=bytes(32), purpose=identity.ID_PURPOSE)


def test_invalid_fields_get_a_message_each_and_nothing_is_saved(clinic):
    bad = identity.ProfileInput(
        name="",
        id_type="resident",
        id_number="310101198503120015",
        email="not-an-email",
        mobile="12345",
        address="",
    )
    with pytest.raises(identity.ProfileInvalid) as err:
        save(clinic, bad)
    assert set(err.value.errors) == {"name", "id_number", "email", "mobile"}
    assert "校验位" in err.value.errors["id_number"]
    assert clinic.exec(select(DoctorProfile)).first() is None


def test_blank_id_number_keeps_the_stored_one(clinic):
    save(clinic)
    view = save(
        clinic,
        identity.ProfileInput(
            **{**GOOD.__dict__, "id_number": "", "address": "上海市徐汇区"}
        ),
    )
    assert view.id_number_masked == "3101**********0014"
    assert view.address == "上海市徐汇区"


def test_verification_issues_a_certificate_openssl_accepts(clinic, tmp_path):
    save(clinic)
    view = verify(clinic)
    assert view.status == "verified" and view.verified_via.startswith("demo:")
    cert_row = certificates.active_certificate(
        session=clinic, user_id=user_by_login(clinic, DOCTOR).id
    )
    cert = x509.load_pem_x509_certificate(cert_row.cert_pem.encode())
    assert (
        cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "郑程"
    )
    assert DEMO_ZHENG_ID not in cert_row.cert_pem and DEMO_ZHENG_ID not in str(
        cert.subject
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert "BEGIN ENCRYPTED PRIVATE KEY" in cert_row.key_pem_enc
    (tmp_path / "ca.pem").write_bytes(certificates.ca_certificate_pem(session=clinic))
    (tmp_path / "doc.pem").write_text(cert_row.cert_pem)
    out = subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(NOW.timestamp()) + 60),
            "-CAfile",
            tmp_path / "ca.pem",
            tmp_path / "doc.pem",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": OK")


def test_verification_needs_a_profile(clinic):
    with pytest.raises(identity.IdentityError, match="必须正确完整地填写个人信息"):
        verify(clinic)


def test_a_mismatch_changes_nothing_but_is_audited(clinic):
    save(
        clinic,
        identity.ProfileInput(**{**GOOD.__dict__, "id_number": DEMO_MISMATCH_ID}),
    )
    with pytest.raises(identity.IdentityError) as err:
        verify(clinic)
    assert "不一致" in err.value.message
    assert clinic.exec(select(DoctorCertificate)).first() is None
    assert clinic.exec(select(DoctorProfile)).one().verification_status == "unverified"
    actions = clinic.exec(select(AuditEvent.action)).all()
    assert "identity.mismatch" in actions


class FailingProvider:
    name = "broken"

    def check(self, query) -> IdentityResult:
        raise IdentityProviderError("认证服务响应超时，请稍后重试")


def test_a_provider_failure_changes_nothing(clinic):
    save(clinic)
    with pytest.raises(identity.IdentityError, match="超时"):
        verify(clinic, FailingProvider())
    assert clinic.exec(select(DoctorCertificate)).first() is None
    assert "identity.check_failed" in clinic.exec(select(AuditEvent.action)).all()


def test_revoke_lists_the_certificate_in_the_crl(clinic):
    save(clinic)
    verify(clinic)
    serial = clinic.exec(select(DoctorCertificate)).one().serial_hex
    view = verification.revoke_verification(
        session=clinic, user=user_by_login(clinic, DOCTOR), actor=Actor(), now=NOW
    )
    assert view.status == "unverified" and not view.esign_enabled
    crl = x509.load_der_x509_crl(
        certificates.crl_der(session=clinic, kek=KEK, now=NOW + timedelta(minutes=1))
    )
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert (
        certificates.active_certificate(
            session=clinic, user_id=user_by_login(clinic, DOCTOR).id
        )
        is None
    )
    with pytest.raises(identity.IdentityError, match="无需解除"):
        verification.revoke_verification(
            session=clinic, user=user_by_login(clinic, DOCTOR), actor=Actor()
        )


def test_changing_the_mobile_after_verification_revokes_the_certificate(clinic):
    save(clinic)
    verify(clinic)
    other = identity.ProfileInput(
        **{**GOOD.__dict__, "id_number": "", "mobile": "13900001111"}
    )
    view = save(clinic, other)
    assert view.status == "unverified" and not view.esign_enabled
    assert clinic.exec(select(DoctorCertificate)).one().status == "revoked"
    # The demo authority has another number on file: the new one does not match.
    with pytest.raises(identity.IdentityError, match="手机号码与证件登记信息不一致"):
        verify(clinic)
    save(clinic)
    verify(clinic)
    certs = clinic.exec(select(DoctorCertificate.status)).all()
    assert sorted(certs) == ["active", "revoked"]


def test_changing_only_the_email_keeps_the_verification(clinic):
    save(clinic)
    verify(clinic)
    view = save(
        clinic,
        identity.ProfileInput(
            **{**GOOD.__dict__, "id_number": "", "email": "new@example.com"}
        ),
    )
    assert view.status == "verified"


def test_manual_review_approved_by_an_admin(clinic):
    save(clinic)
    doctor = user_by_login(clinic, DOCTOR)
    view = verification.request_review(session=clinic, user=doctor, actor=Actor())
    assert view.status == "pending_review"
    admin = user_by_login(clinic, "sh-admin@8112")
    [pending] = verification.list_pending_reviews(session=clinic, admin=admin)
    assert pending.id_number_masked == "3101**********0014"

    def approve():
        verification.approve_review(
            session=clinic,
            admin=admin,
            review_id=pending.id,
            approve=True,
            context=context(),
            now=NOW,
        )

    approve()
    view = identity.get_profile(session=clinic, user=doctor)
    assert view.status == "verified" and view.verified_via == "manual:sh-admin@8112"
    assert verification.list_pending_reviews(session=clinic, admin=admin) == []
    with pytest.raises(identity.IdentityError):
        approve()


def test_manual_review_is_for_admins_only(clinic):
    doctor = user_by_login(clinic, DOCTOR)
    with pytest.raises(AccessDenied):
        verification.list_pending_reviews(session=clinic, admin=doctor)
    with pytest.raises(AccessDenied):
        verification.approve_review(
            session=clinic, admin=doctor, review_id=1, approve=True, context=context()
        )


def test_only_doctors_have_a_profile(clinic):
    with pytest.raises(AccessDenied):
        save(clinic, login="sh-manager@8112")


def test_wrong_kek_fails_loudly_when_issuing(clinic):
    save(clinic)
    wrong = verification.IssueContext(
        kek=bytes(32), clinic_name="x", valid_days=1, crl_url=CRL_URL
    )
    with pytest.raises(KekError):
        verification.verify(
            session=clinic,
            user=user_by_login(clinic, DOCTOR),
            provider=DemoIdentityProvider(),
            context=wrong,
            now=NOW,
        )


def test_the_whole_lifecycle_leaves_an_intact_audit_chain(clinic):
    save(clinic)
    verify(clinic)
    verification.revoke_verification(
        session=clinic, user=user_by_login(clinic, DOCTOR), actor=Actor()
    )
    actions = clinic.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == [
        "profile.updated",
        "certificate.issued",
        "identity.verified",
        "identity.revoked",
    ]
    assert verify_chain(session=clinic).ok


def test_revoking_cancels_open_signing_confirmations(clinic):
    from his_portal.models import Confirmation, MedicalRecord
    from his_portal.services.seals import store as seals
    from his_portal.services.willingness import core as willingness

    save(clinic)
    verify(clinic)
    doctor = user_by_login(clinic, DOCTOR)
    seals.set_esign(
        session=clinic,
        user=doctor,
        enabled=True,
        actor=Actor(),
        now=NOW + timedelta(minutes=1),
    )
    record = clinic.exec(
        select(MedicalRecord).where(MedicalRecord.doctor_id == doctor.id)
    ).first()
    started = willingness.start(
        clinic,
        user=doctor,
        session_token="t",
        method="sms",
        record_ids=[record.id],
        secret=b"s" * 32,
        now=NOW + timedelta(minutes=1),
    )
    verification.revoke_verification(
        session=clinic, user=doctor, actor=Actor(), now=NOW + timedelta(minutes=2)
    )
    row = clinic.get(Confirmation, started.confirmation_id)
    clinic.refresh(row)
    assert row.status == "cancelled"
