"""个人信息 and 实名认证: a doctor's profile, the identity check, 解除, manual review.

A verified doctor holds exactly one active certificate. Whatever ends the verification
(解除, or editing name, ID or mobile) revokes it and switches 电子签名 off, so a key
never outlives the identity it was issued for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from his_portal.adapters.identity import (
    IdentityProvider,
    IdentityProviderError,
    IdentityQuery,
)
from his_portal.models import (
    DoctorProfile,
    ManualReview,
    Role,
    User,
    VerificationStatus,
    utcnow,
)
from his_portal.services import certificates, idcard
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.keyvault import decrypt_field, encrypt_field

__all__ = [
    "IdentityError",
    "IssueContext",
    "ProfileInput",
    "ProfileInvalid",
    "ProfileView",
    "approve_review",
    "get_profile",
    "list_pending_reviews",
    "request_review",
    "revoke_verification",
    "save_profile",
    "verify",
]

ID_PURPOSE = "doctor.id_number"
REQUIRED_MESSAGE = "必须正确完整地填写个人信息，才能进行下一步实名认证"


class IdentityError(Exception):
    """A refused identity operation; ``message`` is shown as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProfileInvalid(IdentityError):
    """Some profile fields are invalid; ``errors`` maps field name to message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("个人信息有误，请按提示修改")
        self.errors = errors


@dataclass(frozen=True)
class ProfileInput:
    """What the 个人信息 form submits."""

    name: str
    id_type: str
    id_number: str
    email: str
    mobile: str
    address: str


@dataclass(frozen=True)
class ProfileView:
    """What the 个人中心 shows: the ID number only masked."""

    name: str = ""
    id_type: str = "resident"
    id_number_masked: str = ""
    email: str = ""
    mobile: str = ""
    mobile_masked: str = ""
    address: str = ""
    status: str = VerificationStatus.UNVERIFIED
    verified_at: datetime | None = None
    verified_via: str = ""
    esign_enabled: bool = False
    complete: bool = False


@dataclass(frozen=True)
class IssueContext:
    """What issuing a certificate needs besides the doctor."""

    kek: bytes
    clinic_name: str
    valid_days: int
    crl_url: str
    actor: Actor = field(default_factory=Actor)


def _doctor(user: CurrentUser) -> None:
    if user.role != Role.DOCTOR:
        raise PermissionError("只有医生需要实名认证")


def _profile(session: Session, user_id: int) -> DoctorProfile | None:
    return session.exec(
        select(DoctorProfile).where(DoctorProfile.user_id == user_id)
    ).first()


def get_profile(*, session: Session, user: CurrentUser) -> ProfileView:
    """The doctor's profile for display (empty view if never saved)."""
    row = _profile(session, user.id)
    if row is None:
        return ProfileView(name=user.display_name)
    return ProfileView(
        name=row.name,
        id_type=row.id_type,
        id_number_masked=row.id_number_masked,
        email=row.email,
        mobile=row.mobile,
        mobile_masked=idcard.mask_mobile(row.mobile),
        address=row.address,
        status=row.verification_status,
        verified_at=row.verified_at,
        verified_via=row.verified_via,
        esign_enabled=row.esign_enabled,
        complete=True,
    )


def _validate(data: ProfileInput, existing: DoctorProfile | None) -> dict[str, str]:
    """Normalised values, or raise ProfileInvalid with a message per field."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = "请输入姓名"
    elif len(name) > 50:
        errors["name"] = "姓名不能超过50个字符"
    clean["name"] = name
    if data.id_type not in idcard.ID_TYPES:
        errors["id_type"] = "请选择证件类型"
    number = data.id_number.strip()
    if not number and existing is not None and data.id_type == existing.id_type:
        clean["id_number"] = ""  # left blank: keep the stored number
    elif not number:
        errors["id_number"] = "请输入证件号码"
    elif "id_type" not in errors:
        try:
            clean["id_number"] = idcard.validate_id_number(data.id_type, number)
        except idcard.IdNumberError as exc:
            errors["id_number"] = exc.message
    checks = (
        ("email", idcard.validate_email, data.email),
        ("mobile", idcard.validate_mobile, data.mobile),
    )
    for key, check, value in checks:
        try:
            clean[key] = check(value)
        except ValueError as exc:
            errors[key] = getattr(exc, "message", str(exc))
    if len(data.address.strip()) > 200:
        errors["address"] = "详细地址不能超过200个字符"
    clean["address"] = data.address.strip()
    if errors:
        raise ProfileInvalid(errors)
    return clean


def _end_verification(
    session: Session, row: DoctorProfile, reason: str, now: datetime
) -> str | None:
    """Back to 未验证: revoke the certificate, switch 电子签名 off."""
    serial = None
    cert = certificates.active_certificate(session=session, user_id=row.user_id)
    if cert is not None:
        certificates.revoke_certificate(
            session=session, cert=cert, reason=reason, now=now
        )
        serial = cert.serial_hex
    row.verification_status = VerificationStatus.UNVERIFIED
    row.verified_at = None
    row.verified_via = ""
    row.esign_enabled = False
    return serial


def save_profile(
    *,
    session: Session,
    user: CurrentUser,
    data: ProfileInput,
    kek: bytes,
    actor: Actor,
    now: datetime | None = None,
) -> ProfileView:
    """Validate and save 个人信息 (commits). Changing name, ID or mobile after
    verification ends it: the certificate is revoked and must be issued again.

    Raises:
        ProfileInvalid: With a message per invalid field; nothing is saved.
    """
    _doctor(user)
    now = now or utcnow()
    row = _profile(session, user.id)
    clean = _validate(data, row)
    if row is None:
        row = DoctorProfile(
            user_id=user.id,
            id_number_enc="",
            id_number_masked="",
            name="",
            id_type="",
            mobile="",
        )
    old_number = (
        decrypt_field(row.id_number_enc, kek=kek, purpose=ID_PURPOSE)
        if (row.id_number_enc)
        else ""
    )
    number = clean["id_number"] or old_number
    changed = [
        key
        for key, old, new in (
            ("name", row.name, clean["name"]),
            ("id_type", row.id_type, data.id_type),
            ("id_number", old_number, number),
            ("email", row.email, clean["email"]),
            ("mobile", row.mobile, clean["mobile"]),
            ("address", row.address, clean["address"]),
        )
        if old != new
    ]
    row.name, row.id_type, row.mobile = clean["name"], data.id_type, clean["mobile"]
    row.email, row.address = clean["email"], clean["address"]
    row.id_number_enc = encrypt_field(number, kek=kek, purpose=ID_PURPOSE)
    row.id_number_masked = idcard.mask_id_number(number)
    row.updated_at = now
    detail: dict = {"changed": changed}
    identity_changed = {"name", "id_type", "id_number", "mobile"} & set(changed)
    if row.verification_status != VerificationStatus.UNVERIFIED and identity_changed:
        detail["revoked_serial"] = _end_verification(session, row, "superseded", now)
        detail["verification_ended"] = True
    session.add(row)
    record_event(
        session=session,
        actor=actor,
        action="profile.updated",
        target=f"user:{user.id}",
        detail=detail,
    )
    session.commit()
    return get_profile(session=session, user=user)


def verify(
    *,
    session: Session,
    user: CurrentUser,
    provider: IdentityProvider,
    context: IssueContext,
    now: datetime | None = None,
) -> ProfileView:
    """一键实名认证: check name + ID + mobile, then issue the doctor's certificate.

    Raises:
        IdentityError: Profile incomplete, mismatch, or the provider failed; the
            attempt is audited and nothing else changes.
    """
    _doctor(user)
    now = now or utcnow()
    row = _profile(session, user.id)
    if row is None:
        raise IdentityError(REQUIRED_MESSAGE)
    if row.verification_status == VerificationStatus.VERIFIED:
        raise IdentityError("已通过实名认证")
    query = IdentityQuery(
        name=row.name,
        id_type=row.id_type,
        id_number=decrypt_field(row.id_number_enc, kek=context.kek, purpose=ID_PURPOSE),
        mobile=row.mobile,
    )
    target = f"user:{user.id}"
    try:
        result = provider.check(query)
    except IdentityProviderError as exc:
        record_event(
            session=session,
            actor=context.actor,
            action="identity.check_failed",
            target=target,
            detail={"provider": provider.name, "error": exc.message},
        )
        session.commit()
        raise IdentityError(exc.message) from exc
    detail = {"provider": result.provider, "reference": result.reference}
    if not result.matched:
        record_event(
            session=session,
            actor=context.actor,
            action="identity.mismatch",
            target=target,
            detail=detail | {"message": result.message},
        )
        session.commit()
        raise IdentityError(result.message)
    _grant(session, row, user.id, f"{result.provider}:{result.reference}", context, now)
    record_event(
        session=session,
        actor=context.actor,
        action="identity.verified",
        target=target,
        detail=detail,
    )
    session.commit()
    return get_profile(session=session, user=user)


def _grant(
    session: Session,
    row: DoctorProfile,
    user_id: int,
    via: str,
    context: IssueContext,
    now: datetime,
) -> None:
    cert = certificates.issue_for_doctor(
        session=session,
        kek=context.kek,
        user_id=user_id,
        doctor_name=row.name,
        clinic_name=context.clinic_name,
        valid_days=context.valid_days,
        crl_url=context.crl_url,
        now=now,
    )
    row.verification_status = VerificationStatus.VERIFIED
    row.verified_at = now
    row.verified_via = via[:80]
    session.add(row)
    record_event(
        session=session,
        actor=context.actor,
        action="certificate.issued",
        target=f"user:{user_id}",
        detail={"serial": cert.serial_hex, "subject": cert.subject},
    )


def revoke_verification(
    *,
    session: Session,
    user: CurrentUser,
    actor: Actor,
    reason: str = "cessation_of_operation",
    now: datetime | None = None,
) -> ProfileView:
    """解除: back to 未验证; certificate revoked (in the next CRL); 电子签名 off."""
    _doctor(user)
    now = now or utcnow()
    row = _profile(session, user.id)
    if row is None or row.verification_status == VerificationStatus.UNVERIFIED:
        raise IdentityError("当前未通过实名认证，无需解除")
    serial = _end_verification(session, row, reason, now)
    session.add(row)
    record_event(
        session=session,
        actor=actor,
        action="identity.revoked",
        target=f"user:{user.id}",
        detail={"revoked_serial": serial, "reason": reason},
    )
    session.commit()
    return get_profile(session=session, user=user)


def request_review(*, session: Session, user: CurrentUser, actor: Actor) -> ProfileView:
    """其他方式认证: ask an administrator to verify the doctor by hand."""
    _doctor(user)
    row = _profile(session, user.id)
    if row is None:
        raise IdentityError(REQUIRED_MESSAGE)
    if row.verification_status != VerificationStatus.UNVERIFIED:
        raise IdentityError("已提交人工审核或已通过认证")
    row.verification_status = VerificationStatus.PENDING_REVIEW
    session.add(row)
    session.add(ManualReview(user_id=user.id))
    record_event(
        session=session,
        actor=actor,
        action="identity.review_requested",
        target=f"user:{user.id}",
    )
    session.commit()
    return get_profile(session=session, user=user)


@dataclass(frozen=True)
class PendingReview:
    id: int
    login_id: str
    name: str
    id_type: str
    id_number_masked: str
    mobile_masked: str
    submitted_at: datetime


def list_pending_reviews(
    *, session: Session, admin: CurrentUser
) -> list[PendingReview]:
    """Manual verification requests waiting for an administrator."""
    if admin.role != Role.ADMIN:
        raise PermissionError("只有系统管理员可以审核实名认证")
    rows = session.exec(
        select(ManualReview, User, DoctorProfile)
        .join(User, User.id == ManualReview.user_id)
        .join(DoctorProfile, DoctorProfile.user_id == ManualReview.user_id)
        .where(ManualReview.status == "pending")
        .order_by(ManualReview.submitted_at)
    ).all()
    return [
        PendingReview(
            review.id,
            user.login_id,
            profile.name,
            idcard.ID_TYPES.get(profile.id_type, profile.id_type),
            profile.id_number_masked,
            idcard.mask_mobile(profile.mobile),
            review.submitted_at,
        )
        for review, user, profile in rows
    ]


def approve_review(
    *,
    session: Session,
    admin: CurrentUser,
    review_id: int,
    approve: bool,
    context: IssueContext,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """An administrator approves (certificate issued) or rejects a manual review.

    Who decided and when is recorded on the review and in the audit log.
    """
    if admin.role != Role.ADMIN:
        raise PermissionError("只有系统管理员可以审核实名认证")
    now = now or utcnow()
    review = session.get(ManualReview, review_id)
    if review is None or review.status != "pending":
        raise IdentityError("该审核申请不存在或已处理")
    row = _profile(session, review.user_id)
    review.status = "approved" if approve else "rejected"
    review.reviewer_id, review.reviewed_at, review.note = admin.id, now, note[:200]
    session.add(review)
    if approve:
        _grant(session, row, review.user_id, f"manual:{admin.login_id}", context, now)
    else:
        row.verification_status = VerificationStatus.UNVERIFIED
        session.add(row)
    record_event(
        session=session,
        actor=context.actor,
        action="identity.review_" + review.status,
        target=f"user:{review.user_id}",
        detail={"review": review.id, "note": note[:200]},
    )
    session.commit()
