"""The blocking work behind the signing flow, run in worker threads: each function
opens its own database session and calls the services."""

from __future__ import annotations

import base64
import io

import qrcode

from his_portal import db, deps
from his_portal.errors import HisError
from his_portal.models import utcnow
from his_portal.services.audit import Actor
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import records as record_signing
from his_portal.services.signing.records import SignerKit, SignOutcome
from his_portal.settings import clinic_zone, get_settings


def png_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def qr_url(text: str) -> str:
    out = io.BytesIO()
    qrcode.make(text, box_size=6, border=2).save(out, format="PNG")
    return png_url(out.getvalue())


def render_preview_png(args: dict) -> bytes:
    """One preview through the service's checks."""
    with db.session() as session:
        return sign_batch.preview_png(session, **args)


def claim_batch(
    user, confirmation_id: int, token: str
) -> tuple[sign_batch.BatchPlan, SignerKit | None, str]:
    """Claim the spent confirmation's batch and load the signer once for it.

    Returns:
        The plan, the signer (None if signing is refused) and the refusal.

    Raises:
        HisError: The confirmation cannot run a batch.
    """
    with db.session() as session:
        plan = sign_batch.claim(
            session,
            user=user,
            confirmation_id=confirmation_id,
            session_token=token,
            secret=deps.willingness_secret(),
        )
        try:
            kit = record_signing.load_signer(
                session=session,
                user=user,
                kek=deps.kek(),
                now=utcnow(),
                tsa_url=get_settings().tsa_url,
            )
        except HisError as exc:
            return plan, None, exc.message
        return plan, kit, ""


def sign_one(plan, kit: SignerKit, record_id: int, actor: Actor) -> SignOutcome:
    settings = get_settings()
    with db.session() as session:
        return sign_batch.sign_one(
            session,
            plan=plan,
            kit=kit,
            record_id=record_id,
            data_dir=settings.data_dir,
            amend_days=settings.amend_days,
            zone=clinic_zone(),
            actor=actor,
        )


def finish_batch(plan, outcomes: list[SignOutcome], actor: Actor) -> None:
    with db.session() as session:
        sign_batch.finish(session, plan=plan, outcomes=outcomes, actor=actor)
