"""The blocking work behind the signing flow, run in worker threads: each function
opens its own database session and calls the services."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import qrcode

from his_portal import db, deps
from his_portal.services.audit import Actor
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import batch_items
from his_portal.worker import queue as signing_queue

#: A reloaded workbench shows the progress of a batch started this recently.
RECENT_BATCH = timedelta(hours=1)


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


def start_batch(user, confirmation_id: int, token: str, actor: Actor) -> None:
    """Claim the spent confirmation's batch and put its records on the queue.

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
        item_ids = batch_items.enqueue_plan(session, plan=plan, actor=actor)
    signing_queue.enqueue(plan.confirmation_id, len(item_ids))


def latest_progress(user) -> batch_items.BatchProgress | None:
    """The doctor's newest batch of the last hour, as it stands now."""
    with db.session() as session:
        confirmation_id = batch_items.latest_batch(
            session, user=user, within=RECENT_BATCH
        )
        if confirmation_id is None:
            return None
        return batch_items.progress(session, user=user, confirmation_id=confirmation_id)


def cancel_batch(user, confirmation_id: int) -> int:
    with db.session() as session:
        return batch_items.cancel_queued(
            session, user=user, confirmation_id=confirmation_id
        )
