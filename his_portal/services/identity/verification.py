"""实名认证: the one-click identity check that issues a doctor's certificate, 解除,
and 其他方式认证 (a manual review an administrator decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from his_portal.adapters.identity_check import (
    IdentityProvider,
    IdentityProviderError,
    IdentityQuery,
)
from his_portal.errors import AccessDenied
from his_portal.models import (
    DoctorProfile,
    ManualReview,
    Role,
    User,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.profile import (
    ID_PURPOSE,
    REQUIRED_MESSAGE,
    IdentityError,
    ProfileView,
    end_verification,
    find_profile,
    get_profile,
    idcard,
    require_doctor,
)
from his_portal.services.notifications import events as notices
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import decrypt_field
from his_portal.services.pki.profile import IssuingProfile

__all__ = [
    "IssueContext",
    "PendingReview",
    "approve_review",
    "list_pending_reviews",
    "request_review",
    "revoke_verification",
    "verify",
]


@dataclass(frozen=True)
class IssueContext:
    """What issuing a certificate needs besides the doctor."""

    kek: bytes
    clinic_name: str
    valid_days: int
    crl_url: str
    actor: Actor = field(default_factory=Actor)
    profile: IssuingProfile | None = None


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
    require_doctor(user)
    now = now or utcnow()
    row = find_profile(session, user.id)
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
        profile=context.profile,
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
    require_doctor(user)
    now = now or utcnow()
    row = find_profile(session, user.id)
    if row is None or row.verification_status == VerificationStatus.UNVERIFIED:
        raise IdentityError("当前未通过实名认证，无需解除")
    serial = end_verification(session, row, reason, now)
    session.add(row)
    record_event(
        session=session,
        actor=actor,
        action="identity.revoked",
        target=f"user:{user.id}",
        detail={"revoked_serial": serial, "reason": reason},
    )
    notices.verification_ended(session, user_id=user.id, revoked_serial=serial, now=now)
    session.commit()
    return get_profile(session=session, user=user)


def request_review(*, session: Session, user: CurrentUser, actor: Actor) -> ProfileView:
    """其他方式认证: ask an administrator to verify the doctor by hand."""
    require_doctor(user)
    row = find_profile(session, user.id)
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
        raise AccessDenied("只有系统管理员可以审核实名认证")
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
        raise AccessDenied("只有系统管理员可以审核实名认证")
    now = now or utcnow()
    review = session.get(ManualReview, review_id)
    if review is None or review.status != "pending":
        raise IdentityError("该审核申请不存在或已处理")
    row = find_profile(session, review.user_id)
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
