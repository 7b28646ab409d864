"""The one way records get signed: a batch is the records of one *spent* 意愿校验.

The browser never says which records to sign. The flow, each step checked here
against the database, whatever the page state claims::

    willingness.start (the doctor's own unsigned records) ─> confirmed (code / face)
      ─> signing_view / preview (only while confirmed, only its records)
      ─> willingness.consume (签署: used, seal chosen) ─> claim (once) ─> sign_one × n
      ─> finish

:func:`claim` accepts a confirmation only if it is ``used``, by this doctor, in this
login session, with its record list intact, and no batch ran on it yet (a
conditional UPDATE decides, so two workers cannot both run it). The method and
confirmation stored with each signature come from that row. :func:`sign_one`
re-checks the record and the signer at the moment of signing
(:func:`record_signing.sign_record`) and turns every error into that record's
failure with a Chinese reason, so a batch always ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from his_portal.models import Confirmation, MedicalRecord, utcnow
from his_portal.services.audit import Actor
from his_portal.services.auth import CurrentUser
from his_portal.services.notifications import events as notices
from his_portal.services.seals import store as seals
from his_portal.services.signing import records as record_signing
from his_portal.services.signing.record_pdf import render_preview_png, render_record_pdf
from his_portal.services.signing.records import SignerKit, SigningRefused, SignOutcome
from his_portal.services.willingness.core import (
    MSG_GONE,
    WillingnessError,
    audit,
    load,
    record_ids_of,
    refuse,
    update,
    view,
)

__all__ = [
    "BatchPlan",
    "SigningView",
    "claim",
    "finish",
    "preview_png",
    "sign_one",
    "signing_view",
]

log = logging.getLogger(__name__)
_T = Confirmation.__table__.c
MSG_NOT_SPENT = "请先完成意愿校验并点击签署"
MSG_RAN = "本次意愿校验的签署已执行，请重新进行意愿校验"


@dataclass(frozen=True)
class BatchPlan:
    """What a claimed batch signs, all read from the confirmation row."""

    confirmation_id: int
    user_id: int
    record_ids: tuple[int, ...]
    method: str
    seal_choice: str


@dataclass(frozen=True)
class SigningView:
    """The 签署 dialog: the confirmed records, their file names, the seals."""

    record_ids: tuple[int, ...]
    file_names: tuple[str, ...]
    labels: tuple[str, ...]  # patient name and 病历号, for the progress list
    has_personal_seal: bool
    signer_name: str


def _confirmed(
    session: Session,
    user: CurrentUser,
    confirmation_id: int,
    token: str,
    secret: bytes,
    now: datetime | None,
) -> Confirmation:
    """The doctor's own confirmation, confirmed and within its use window."""
    row, actor = load(session, confirmation_id, user, token, secret)
    if view(row, now or utcnow()).status != "confirmed":
        raise refuse(session, actor, row.id, "not_confirmed", MSG_GONE)
    return row


def _own_records(session: Session, user: CurrentUser, ids) -> list[MedicalRecord]:
    query = select(MedicalRecord).where(col(MedicalRecord.id).in_(ids))
    records = {r.id: r for r in session.exec(query)}
    if any(records.get(i) is None or records[i].doctor_id != user.id for i in ids):
        raise WillingnessError("只能签署本人的病历")
    return [records[i] for i in ids]


def signing_view(
    session: Session,
    *,
    user: CurrentUser,
    confirmation_id: int,
    session_token: str,
    secret: bytes,
    zone,
    now: datetime | None = None,
) -> SigningView:
    """After 意愿校验: what the 签署 dialog may show (only this confirmation's records).

    Raises:
        WillingnessError: Not this doctor's and session's confirmed confirmation.
    """
    row = _confirmed(session, user, confirmation_id, session_token, secret, now)
    ids = record_ids_of(row)
    stamp = (now or utcnow()).astimezone(zone).strftime("%Y%m%d%H%M%S")
    names, labels = [], []
    for record in _own_records(session, user, ids):
        doc = record_signing.record_document(
            session=session, record=record, zone=zone, doctor_name=user.display_name
        )
        names.append(f"{stamp}_{doc.patient_name}_{doc.record_no}_{doc.title}")
        labels.append(f"{doc.patient_name} {doc.record_no}")
    seal = seals.current_seal(session=session, user_id=user.id)
    return SigningView(
        ids, tuple(names), tuple(labels), seal is not None, user.display_name
    )


def preview_png(
    session: Session,
    *,
    user: CurrentUser,
    confirmation_id: int,
    session_token: str,
    secret: bytes,
    index: int,
    seal_choice: str,
    data_dir: Path,
    zone,
    now: datetime | None = None,
) -> bytes:
    """The preview of record ``index`` of the doctor's confirmed confirmation.

    Raises:
        WillingnessError: Not this doctor's and session's confirmed confirmation,
            an index outside it, or a personal seal that does not exist.
    """
    row = _confirmed(session, user, confirmation_id, session_token, secret, now)
    ids = record_ids_of(row)
    if type(index) is not int or not 0 <= index < len(ids):
        raise WillingnessError("没有这份病历")
    if seal_choice not in ("personal", "system"):
        raise WillingnessError("请选择签章")
    (record,) = _own_records(session, user, [ids[index]])
    doc = record_signing.record_document(
        session=session, record=record, zone=zone, doctor_name=user.display_name
    )
    if seal_choice == "personal":
        seal = seals.current_seal(session=session, user_id=user.id)
        if seal is None:
            raise WillingnessError("尚未设置个性签章")
        png = seals.read_seal(
            session=session, user=user, seal_id=seal.id, data_dir=data_dir
        )
    else:
        png = seals.system_seal_png(user.display_name)
    pdf = render_record_pdf(
        doc, seal_png=png, signer_name=user.display_name, signed_at="（签署时生成）"
    )
    return render_preview_png(pdf, dpi=80)[0]


def claim(
    session: Session,
    *,
    user: CurrentUser,
    confirmation_id: int,
    session_token: str,
    secret: bytes,
    now: datetime | None = None,
) -> BatchPlan:
    """Take the spent confirmation's batch; works once per confirmation (commits).

    Raises:
        WillingnessError: Not this doctor's and session's confirmation, not spent
            by 签署, its record list altered, or its batch already claimed.
    """
    now = now or utcnow()
    row, actor = load(session, confirmation_id, user, session_token, secret)
    if row.status != "used" or row.used_at is None or not row.seal_choice:
        raise refuse(session, actor, row.id, "batch_not_spent", MSG_NOT_SPENT)
    ids = record_ids_of(row)
    won = update(
        session,
        row,
        _T.status == "used",
        _T.batch_started_at.is_(None),
        batch_started_at=now,
    )
    if not won:
        session.rollback()
        raise refuse(session, actor, row.id, "batch_rerun", MSG_RAN)
    audit(session, actor, "sign.batch_started", row.id, records=len(ids))
    session.commit()
    return BatchPlan(row.id, user.id, ids, row.method, row.seal_choice)


def sign_one(
    session: Session,
    *,
    plan: BatchPlan,
    kit: SignerKit,
    record_id: int,
    data_dir: Path,
    amend_days: int,
    zone,
    actor: Actor,
    now: datetime | None = None,
    on_signed: Callable[[Session], None] | None = None,
) -> SignOutcome:
    """Sign one record of a claimed batch; never raises: a failure is an outcome.
    ``on_signed``: statements committed with the signature (see ``sign_record``)."""
    if record_id not in plan.record_ids or kit.user.id != plan.user_id:
        return SignOutcome(record_id, "", "", False, "该病历不在本次签署范围内")
    try:
        return record_signing.sign_record(
            session=session,
            kit=kit,
            record_id=record_id,
            seal_choice=plan.seal_choice,
            method=plan.method,
            confirmation_id=plan.confirmation_id,
            data_dir=data_dir,
            amend_days=amend_days,
            zone=zone,
            actor=actor,
            now=now,
            on_signed=on_signed,
        )
    except SigningRefused as exc:
        session.rollback()
        message = exc.message
    except OSError:
        session.rollback()
        log.exception("saving the signed PDF of record %s failed", record_id)
        message = "保存签名文件失败，请稍后重试"
    except Exception:
        session.rollback()
        log.exception("signing record %s failed", record_id)
        message = "签署失败（系统错误），请稍后重试"
    return SignOutcome(record_id, "", "", False, message)


def finish(
    session: Session,
    *,
    plan: BatchPlan,
    outcomes: list[SignOutcome],
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Mark the batch finished, log its counts and tell the doctor (commits); once,
    however many callers."""
    table = Confirmation.__table__
    closed = session.execute(
        table.update()
        .where(_T.id == plan.confirmation_id, _T.batch_finished_at.is_(None))
        .values(batch_finished_at=now or utcnow())
    ).rowcount
    if closed != 1:  # finished already (by another worker or the housekeeping)
        session.rollback()
        return
    signed = sum(1 for outcome in outcomes if outcome.ok)
    audit(
        session,
        actor,
        "sign.batch_finished",
        plan.confirmation_id,
        signed=signed,
        failed=len(plan.record_ids) - signed,
    )
    notices.batch_finished(
        session,
        user_id=plan.user_id,
        confirmation_id=plan.confirmation_id,
        planned=len(plan.record_ids),
        outcomes=outcomes,
        now=now,
    )
    session.commit()
