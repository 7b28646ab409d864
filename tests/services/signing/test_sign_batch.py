"""Tests for his_portal.services.signing.batch: the service decides what is signed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from his_portal.models import (
    CertStatus,
    Confirmation,
    DoctorCertificate,
    MedicalRecord,
    SignedDocument,
    SignStatus,
)
from his_portal.services.audit import Actor
from his_portal.services.seals import store as seals
from his_portal.services.signing import batch as sign_batch
from his_portal.services.signing import records as record_signing
from his_portal.services.willingness import core as w
from tests.conftest import NOW, ZONE, user_by_login
from tests.services.identity.identity_helpers import DOCTOR, KEK
from tests.services.willingness import willingness_helpers as wh
from tests.services.willingness.willingness_helpers import (
    begin,
    confirmed_by_sms,
    consume,
    doctor,
    record_ids,
)

ACTOR = Actor(login_id=DOCTOR)
T = NOW + timedelta(minutes=1)


def claim(session, started, token=wh.TOKEN, user=None):
    return sign_batch.claim(
        session,
        user=user or doctor(session),
        confirmation_id=started.confirmation_id,
        session_token=token,
        secret=wh.SECRET,
        now=T,
    )


def kit(session):
    return record_signing.load_signer(
        session=session, user=doctor(session), kek=KEK, now=T
    )


def run(session, plan, tmp_path, ids=None, signer=None):
    signer = signer or kit(session)
    return [
        sign_batch.sign_one(
            session,
            plan=plan,
            kit=signer,
            record_id=record_id,
            data_dir=tmp_path,
            amend_days=7,
            zone=ZONE,
            actor=ACTOR,
            now=T,
        )
        for record_id in (plan.record_ids if ids is None else ids)
    ]


def signed_ids(session) -> set[int]:
    query = select(MedicalRecord.id).where(
        MedicalRecord.sign_status == SignStatus.SIGNED
    )
    return set(session.exec(query).all())


def test_a_spent_confirmation_signs_exactly_its_records(db, tmp_path):
    started = confirmed_by_sms(db)
    consume(db, started, now=T, seal="system")
    plan = claim(db, started)
    assert plan.record_ids == tuple(sorted(record_ids(db)))
    assert (plan.method, plan.seal_choice) == ("sms", "system")
    outcomes = run(db, plan, tmp_path)
    assert all(o.ok for o in outcomes)
    assert signed_ids(db) == set(plan.record_ids)
    docs = db.exec(select(SignedDocument)).all()
    assert {(d.method, d.confirmation_id) for d in docs} == {
        ("sms", started.confirmation_id)
    }
    sign_batch.finish(db, plan=plan, outcomes=outcomes, actor=ACTOR, now=T)
    assert db.get(w.Confirmation, started.confirmation_id).batch_finished_at


def test_no_batch_without_a_spent_confirmation(db, tmp_path):
    """The old attack: begin, then the batch directly, no code ever entered."""
    started = begin(db)
    with pytest.raises(w.WillingnessError, match="请先完成意愿校验并点击签署"):
        claim(db, started)
    sms = wh.Outbox()
    wh.send(db, started, sms)
    wh.check(db, started, sms.code)
    with pytest.raises(w.WillingnessError, match="请先完成意愿校验并点击签署"):
        claim(db, started)  # confirmed is not enough: 签署 spends it
    assert signed_ids(db) == set()


def test_a_spent_confirmation_without_a_seal_choice_is_refused(db):
    """The batch never picks a seal the doctor did not choose at 签署."""
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    row = db.get(Confirmation, started.confirmation_id)
    row.seal_choice = ""
    db.add(row)
    db.commit()
    with pytest.raises(w.WillingnessError, match="请先完成意愿校验并点击签署"):
        claim(db, started)


def test_a_batch_runs_once(db):
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    claim(db, started)
    with pytest.raises(w.WillingnessError, match="签署已执行"):
        claim(db, started)


def test_claim_is_bound_to_doctor_and_login_session(db):
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        claim(db, started, token=wh.OTHER_TOKEN)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        claim(db, started, user=user_by_login(db, wh.OTHER_DOCTOR))
    assert claim(db, started).record_ids


def test_sign_one_refuses_records_outside_the_plan(db, tmp_path):
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    plan = claim(db, started)
    other = record_ids(db, count=5)[4]
    (outcome,) = run(db, plan, tmp_path, ids=[other])
    assert not outcome.ok and outcome.message == "该病历不在本次签署范围内"
    assert signed_ids(db) == set()


def test_each_record_rechecks_the_signer(db, tmp_path):
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    plan = claim(db, started)
    first, second, third = plan.record_ids
    signer = kit(db)  # loaded once per batch, as the page does

    def one(record_id):
        (outcome,) = run(db, plan, tmp_path, ids=[record_id], signer=signer)
        return outcome

    assert one(first).ok
    seals.set_esign(session=db, user=doctor(db), enabled=False, actor=ACTOR, now=T)
    assert one(second).message == "电子签名已关闭，不能继续签署"
    seals.set_esign(session=db, user=doctor(db), enabled=True, actor=ACTOR, now=T)
    cert = db.exec(select(DoctorCertificate)).first()
    cert.status = CertStatus.REVOKED
    db.add(cert)
    db.commit()
    assert one(third).message == "数字证书已吊销或已更换，请重新发起签署"
    assert signed_ids(db) == {first}


def test_an_unexpected_error_is_that_records_failure(db, tmp_path, monkeypatch):
    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    plan = claim(db, started)

    def boom(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(record_signing, "render_record_pdf", boom)
    outcomes = run(db, plan, tmp_path)
    assert [o.message for o in outcomes] == ["签署失败（系统错误），请稍后重试"] * 3
    assert signed_ids(db) == set()


def test_previews_only_for_the_doctors_confirmed_records(db, tmp_path):
    started = confirmed_by_sms(db)

    def preview(index=0, user=None, token=wh.TOKEN, seal="system"):
        return sign_batch.preview_png(
            db,
            user=user or doctor(db),
            confirmation_id=started.confirmation_id,
            session_token=token,
            secret=wh.SECRET,
            index=index,
            seal_choice=seal,
            data_dir=tmp_path,
            zone=ZONE,
            now=T,
        )

    assert preview().startswith(b"\x89PNG")
    for index in (-1, 3, 2**63, "0"):
        with pytest.raises(w.WillingnessError, match="没有这份病历"):
            preview(index=index)
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        preview(user=user_by_login(db, wh.OTHER_DOCTOR))
    with pytest.raises(w.WillingnessError, match="与当前登录不一致"):
        preview(token=wh.OTHER_TOKEN)
    with pytest.raises(w.WillingnessError, match="尚未设置个性签章"):
        preview(seal="personal")
    pending = begin(db)
    with pytest.raises(w.WillingnessError, match="意愿校验不存在或已失效"):
        sign_batch.preview_png(
            db,
            user=doctor(db),
            confirmation_id=pending.confirmation_id,
            session_token=wh.TOKEN,
            secret=wh.SECRET,
            index=0,
            seal_choice="system",
            data_dir=tmp_path,
            zone=ZONE,
            now=T,
        )


def test_signing_view_lists_the_confirmations_records(db):
    started = confirmed_by_sms(db)
    shown = sign_batch.signing_view(
        db,
        user=doctor(db),
        confirmation_id=started.confirmation_id,
        session_token=wh.TOKEN,
        secret=wh.SECRET,
        zone=ZONE,
        now=T,
    )
    assert shown.record_ids == tuple(sorted(record_ids(db)))
    assert len(shown.file_names) == len(shown.labels) == 3
    assert shown.signer_name == "郑程" and not shown.has_personal_seal


def test_sweep_removes_only_old_orphans(db, tmp_path):
    import os

    started = confirmed_by_sms(db)
    consume(db, started, now=T)
    plan = claim(db, started)
    assert all(o.ok for o in run(db, plan, tmp_path))
    base = tmp_path / "signed"
    kept = {p for p in base.rglob("*.pdf")}
    orphan = base / "99" / "v1-deadbeef.pdf"
    temp = base / "98" / ".v1-x.pdf.tmp"
    fresh = base / "97" / "v1-fresh.pdf"
    for path in (orphan, temp, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%PDF-")
    old = (T - timedelta(hours=1)).timestamp()
    for path in (*kept, orphan, temp):
        os.utime(path, (old, old))
    assert record_signing.sweep_orphans(session=db, data_dir=tmp_path, now=T) == 2
    assert {p for p in base.rglob("*") if p.is_file()} == kept | {fresh}
