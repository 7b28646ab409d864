"""个人信息: a doctor's profile, validated field by field, the ID number encrypted.

A verified doctor holds exactly one active certificate. Whatever ends the verification
(解除, or editing name, ID or mobile) revokes it and switches 电子签名 off, so a key
never outlives the identity it was issued for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from his_portal.errors import AccessDenied, HisError
from his_portal.models import (
    DoctorProfile,
    Role,
    VerificationStatus,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity import idcard
from his_portal.services.pki import certificates
from his_portal.services.pki.keyvault import decrypt_field, encrypt_field
from his_portal.services.willingness.cancel import cancel_open

__all__ = [
    "ID_PURPOSE",
    "IdentityError",
    "ProfileInput",
    "ProfileInvalid",
    "ProfileView",
    "end_verification",
    "find_profile",
    "get_profile",
    "require_doctor",
    "save_profile",
]

ID_PURPOSE = "doctor.id_number"
REQUIRED_MESSAGE = "必须正确完整地填写个人信息，才能进行下一步实名认证"


class IdentityError(HisError):
    """A refused identity operation; ``message`` is shown as is."""


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


def require_doctor(user: CurrentUser) -> None:
    if user.role != Role.DOCTOR:
        raise AccessDenied("只有医生需要实名认证")


def find_profile(session: Session, user_id: int) -> DoctorProfile | None:
    return session.exec(
        select(DoctorProfile).where(DoctorProfile.user_id == user_id)
    ).first()


def get_profile(*, session: Session, user: CurrentUser) -> ProfileView:
    """The doctor's profile for display (empty view if never saved)."""
    row = find_profile(session, user.id)
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
        except idcard.IdNumberError as exc:
            errors[key] = exc.message
    if len(data.address.strip()) > 200:
        errors["address"] = "详细地址不能超过200个字符"
    clean["address"] = data.address.strip()
    if errors:
        raise ProfileInvalid(errors)
    return clean


def end_verification(
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
    cancel_open(session, user_id=row.user_id, now=now)
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
    require_doctor(user)
    now = now or utcnow()
    row = find_profile(session, user.id)
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
        detail["revoked_serial"] = end_verification(session, row, "superseded", now)
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
