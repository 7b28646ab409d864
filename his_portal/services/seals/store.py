"""个性签章 storage, the 系统签名, and the 电子签名 switch.

Seal files live in the private data directory (never under Reflex's public upload
dir), are written atomically, and are never overwritten: a replaced or deleted seal
keeps its file for the signatures made with it.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session, col, select

from his_portal.errors import HisError
from his_portal.models import DoctorProfile, Seal, VerificationStatus, utcnow
from his_portal.services.audit import Actor, record_event
from his_portal.services.auth import CurrentUser
from his_portal.services.identity.profile import find_profile, require_doctor
from his_portal.services.notifications import events as notices
from his_portal.services.pki import certificates
from his_portal.services.private_files import write_private
from his_portal.settings import PROJECT_ROOT

__all__ = [
    "SealError",
    "SealView",
    "current_seal",
    "delete_seal",
    "read_seal",
    "save_seal",
    "set_esign",
    "system_seal_png",
]

FONT = PROJECT_ROOT / "assets" / "fonts" / "wqy-microhei.ttf"
MAX_SEAL_SIZE = (600, 240)
VERIFY_FIRST = "完成实名认证后请继续完成个性签章的设置"


class SealError(HisError):
    """A refused seal operation; ``message`` is shown as is."""


@dataclass(frozen=True)
class SealView:
    id: int
    source: str
    width: int
    height: int
    created_at: datetime


def _verified(session: Session, user: CurrentUser) -> DoctorProfile:
    require_doctor(user)
    profile = find_profile(session, user.id)
    if profile is None or profile.verification_status != VerificationStatus.VERIFIED:
        raise SealError(VERIFY_FIRST)
    return profile


def _checked_png(png: bytes) -> Image.Image:
    """The seal as it will be stored must be a sane RGBA PNG."""
    try:
        image = Image.open(io.BytesIO(png), formats=["PNG"])
        image.load()
    except (OSError, SyntaxError, ValueError):
        raise SealError("签章图片无效") from None
    if image.mode != "RGBA":
        raise SealError("签章图片必须带透明通道")
    if image.width > MAX_SEAL_SIZE[0] or image.height > MAX_SEAL_SIZE[1]:
        raise SealError("签章图片尺寸过大")
    return image


def _write_private(directory: Path, data: bytes) -> str:
    name = f"{uuid.uuid4().hex}.png"
    write_private(directory / name, data)
    return name


def current_seal(*, session: Session, user_id: int) -> Seal | None:
    """The doctor's seal in use, if any."""
    return session.exec(
        select(Seal)
        .where(Seal.user_id == user_id, col(Seal.active).is_(True))
        .order_by(col(Seal.id).desc())
    ).first()


def save_seal(
    *,
    session: Session,
    user: CurrentUser,
    png: bytes,
    source: str,
    data_dir: Path,
    actor: Actor,
) -> SealView:
    """Store a new 个性签章 and make it current (commits). The previous one is kept
    (inactive) for the signatures already made with it.

    Raises:
        SealError: Not verified, or the PNG is not a valid seal image.
    """
    _verified(session, user)
    image = _checked_png(png)
    folder = data_dir / "seals" / str(user.id)
    file_name = f"{user.id}/{_write_private(folder, png)}"
    previous = current_seal(session=session, user_id=user.id)
    if previous is not None:
        previous.active = False
        session.add(previous)
    seal = Seal(
        user_id=user.id,
        source=source,
        file_name=file_name,
        sha256=hashlib.sha256(png).hexdigest(),
        width=image.width,
        height=image.height,
    )
    session.add(seal)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action="seal.saved",
        target=f"user:{user.id}",
        detail={
            "seal": seal.id,
            "source": source,
            "sha256": seal.sha256,
            "replaced": previous.id if previous else None,
        },
    )
    notices.seal_changed(session, user_id=user.id)
    session.commit()
    return SealView(seal.id, seal.source, seal.width, seal.height, seal.created_at)


def delete_seal(*, session: Session, user: CurrentUser, actor: Actor) -> None:
    """删除: the doctor has no 个性签章 any more (系统签名 remains). Commits."""
    require_doctor(user)
    seal = current_seal(session=session, user_id=user.id)
    if seal is None:
        raise SealError("尚未设置个性签章")
    seal.active = False
    seal.deleted_at = utcnow()
    session.add(seal)
    record_event(
        session=session,
        actor=actor,
        action="seal.deleted",
        target=f"user:{user.id}",
        detail={"seal": seal.id},
    )
    notices.seal_changed(session, user_id=user.id, deleted=True)
    session.commit()


def read_seal(
    *, session: Session, user: CurrentUser, seal_id: int, data_dir: Path
) -> bytes:
    """A seal's PNG, for its owner only (and the PDF renderer, which calls this with
    the signing doctor)."""
    seal = session.get(Seal, seal_id)
    if seal is None or seal.user_id != user.id:
        raise SealError("签章不存在")
    return (data_dir / "seals" / seal.file_name).read_bytes()


@lru_cache(maxsize=64)
def system_seal_png(name: str) -> bytes:
    """系统签名: the verified name in a standard font, dark ink on transparency.

    Cached (bytes are immutable): a batch draws the same name for every record, and
    loading the 4.6 MB font each time cost ≈ 3 ms a record."""
    if not name.strip():
        raise SealError("缺少姓名，无法生成系统签名")
    font = ImageFont.truetype(str(FONT), 96)
    left, top, right, bottom = font.getbbox(name)
    margin = 16
    image = Image.new("RGBA", (right - left + 2 * margin, bottom - top + 2 * margin))
    ImageDraw.Draw(image).text(
        (margin - left, margin - top), name, font=font, fill=(26, 42, 108, 255)
    )
    image.thumbnail(MAX_SEAL_SIZE)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def set_esign(
    *,
    session: Session,
    user: CurrentUser,
    enabled: bool,
    actor: Actor,
    now: datetime | None = None,
) -> bool:
    """The 电子签名 switch. On needs 实名认证 通过 and a valid certificate; off takes
    effect at once (signing checks the switch each time). Commits.

    Raises:
        SealError: Turning on without verification or without a valid certificate.
    """
    now = now or utcnow()
    if enabled:
        profile = _verified(session, user)
        cert = certificates.active_certificate(session=session, user_id=user.id)
        if cert is None or not cert.not_before <= now < cert.not_after:
            raise SealError("数字证书无效或已过期，请重新实名认证")
    else:
        require_doctor(user)
        profile = find_profile(session, user.id)
        if profile is None:
            return False
    profile.esign_enabled = enabled
    session.add(profile)
    record_event(
        session=session,
        actor=actor,
        action="esign.enabled" if enabled else "esign.disabled",
        target=f"user:{user.id}",
    )
    session.commit()
    return enabled
