"""After signing: the lock on edits, 撤销签名 within the amendment window (a new
version; the signed one is kept), and the signed versions for 已完善病历."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from his_portal.errors import AccessDenied
from his_portal.models import (
    LockStatus,
    MedicalRecord,
    Patient,
    SignedDocument,
    SignStatus,
    User,
    utcnow,
)
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.profile import require_doctor
from his_portal.services.signing.records import SECTIONS, RecordLocked, SigningRefused

__all__ = [
    "EDITABLE",
    "SignedView",
    "revoke_signature",
    "signed_document",
    "signer_login",
    "update_record",
]


def _own_record(session: Session, user: CurrentUser, record_id: int) -> MedicalRecord:
    require_doctor(user)
    record = session.get(MedicalRecord, record_id)
    if record is None or record.doctor_id != user.id:
        raise SigningRefused("只能修改本人的病历")
    return record


def revoke_signature(
    *,
    session: Session,
    user: CurrentUser,
    record_id: int,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> MedicalRecord:
    """撤销签名 within the amendment window: a new, unsigned version opens for
    editing; the signed version and its PDF are kept and listed.

    Raises:
        RecordLocked: The window has passed (the record is archived).
    """
    now = now or utcnow()
    record = _own_record(session, user, record_id)
    if record.sign_status != SignStatus.SIGNED:
        raise SigningRefused("该病历尚未签名")
    if record.amend_until is None or now >= record.amend_until:
        raise RecordLocked("病历已超过修改期限并已归档，不可再修改")
    current = session.exec(
        select(SignedDocument).where(
            SignedDocument.record_id == record_id,
            SignedDocument.version == record.version,
        )
    ).one()
    current.superseded_at = now
    old_version = record.version
    record.version += 1
    record.sign_status, record.lock_status = SignStatus.UNSIGNED, LockStatus.OPEN
    record.signed_at = record.signer_id = record.amend_until = None
    session.add_all([current, record])
    record_event(
        session=session,
        actor=actor,
        action="record.signature_revoked",
        target=f"record:{record_id}",
        detail={
            "old_version": old_version,
            "new_version": record.version,
            "reason": reason[:200],
        },
    )
    session.commit()
    return record


EDITABLE = frozenset(name for _, name in SECTIONS) | {"title"}


def update_record(
    *,
    session: Session,
    user: CurrentUser,
    record_id: int,
    changes: dict[str, str],
    actor: Actor,
) -> MedicalRecord:
    """Edit a record's text. A locked (signed) or archived record refuses every edit,
    and the attempt is logged.

    Raises:
        RecordLocked: The record is signed.
        SigningRefused: Not the doctor's record, or an unknown field.
    """
    record = _own_record(session, user, record_id)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise SigningRefused(f"不可修改的字段：{', '.join(sorted(unknown))}")
    if record.lock_status == LockStatus.LOCKED:
        record_event(
            session=session,
            actor=actor,
            action="record.edit_refused_locked",
            target=f"record:{record_id}",
            detail={"fields": sorted(changes)},
        )
        session.commit()
        raise RecordLocked("病历已签名锁定，不可修改；如需修改请先撤销签名")
    for name, value in changes.items():
        setattr(record, name, value)
    session.add(record)
    record_event(
        session=session,
        actor=actor,
        action="record.edited",
        target=f"record:{record_id}",
        detail={"fields": sorted(changes)},
    )
    session.commit()
    return record


def signer_login(session: Session, record: MedicalRecord) -> str:
    """签署者: the login id of whoever signed the record."""
    if record.signer_id is None:
        return ""
    user = session.get(User, record.signer_id)
    return user.login_id if user else ""


@dataclass(frozen=True)
class SignedView:
    """A signed version for the 已完善病历 list: where it is and its details."""

    record_id: int
    version: int
    file_name: str
    download_name: str
    sha256: str
    cert_serial: str
    method: str
    seal_kind: str
    signed_at: datetime
    signer: str
    history: tuple[str, ...] = ()


def signed_document(
    *, session: Session, viewer: CurrentUser, record_id: int, zone
) -> SignedView:
    """The current signed version of a record, for its doctor or a manager of its
    clinic.

    Raises:
        AccessDenied: Anyone else (a manager sees their 分院, chain-wide all).
        SigningRefused: The record has no signed version.
    """
    record = session.get(MedicalRecord, record_id)
    allowed = record is not None and (
        (viewer.role == "doctor" and record.doctor_id == viewer.id)
        or (
            viewer.role == "manager"
            and (viewer.chain_wide or record.clinic_id == viewer.clinic_id)
        )
    )
    if not allowed:
        raise AccessDenied("无权查看该病历")
    versions = session.exec(
        select(SignedDocument)
        .where(SignedDocument.record_id == record_id)
        .order_by(SignedDocument.version.desc())
    ).all()
    doc = versions[0] if versions else None
    if doc is None:
        raise SigningRefused("该病历尚无签名文件")
    patient = session.get(Patient, record.patient_id)
    signer = session.get(User, doc.signer_id)
    stamp = doc.signed_at.astimezone(zone).strftime("%Y%m%d%H%M%S")
    return SignedView(
        record_id=record_id,
        version=doc.version,
        file_name=doc.file_name,
        download_name=f"{stamp}_{patient.name}_{patient.record_no}_{record.title}.pdf",
        sha256=doc.sha256,
        cert_serial=doc.cert_serial,
        method=doc.method,
        seal_kind=doc.seal_kind,
        signed_at=doc.signed_at,
        signer=signer.login_id if signer else "",
        history=tuple(
            f"第{v.version}版 {v.signed_at.astimezone(zone):%Y-%m-%d %H:%M:%S}"
            + ("（已撤销，保留存档）" if v.superseded_at else "")
            for v in versions
        ),
    )
