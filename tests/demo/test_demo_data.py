import hashlib
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, create_engine, func, select

from his_portal.demo.chain import ALL_ACCOUNTS, BRANCH_MANAGERS, HISTORY_DOCTORS
from his_portal.demo.data import CLINICS, DEMO_ACCOUNTS, load_demo_data, pinyin_key
from his_portal.demo.history import (
    HistoryContext,
    history_started,
    sign_demo_history,
)
from his_portal.demo.signing_story import planned_signing, sittings
from his_portal.models import (
    Clinic,
    Confirmation,
    DoctorProfile,
    MedicalRecord,
    Patient,
    Role,
    Seal,
    SignedDocument,
    SignStatus,
    User,
)
from his_portal.services.audit import verify_chain
from his_portal.services.pki import certificates
from his_portal.services.signing.validation import validate_with_pyhanko
from tests.conftest import NOW, ZONE
from tests.services.identity.identity_helpers import CRL_URL, KEK


def _snapshot(session):
    rows = session.exec(
        select(Patient.name, MedicalRecord.visit_item, MedicalRecord.created_at)
        .join(Patient)
        .order_by(MedicalRecord.id)
    ).all()
    return [(n, v, c.isoformat()) for n, v, c in rows]


def test_demo_clinic_has_the_tutorial_accounts_and_records(demo):
    users = {u.login_id: u for u in demo.exec(select(User))}
    assert {a.login_id for a in DEMO_ACCOUNTS} == set(users)
    assert users["sh-feihuan@8112"].display_name == "郑程"
    assert users["sh-wangli@8112"].role == Role.DOCTOR
    assert {u.role for u in users.values()} == {"doctor", "manager", "admin"}
    assert [u.login_id for u in users.values() if u.chain_wide] == ["sh-manager@8112"]
    liu = demo.exec(
        select(Patient).where(Patient.record_no == "P120111201801313")
    ).one()
    assert liu.name == "刘作榛"
    zhang = demo.exec(select(Patient).where(Patient.record_no == "P111220000601")).one()
    record = demo.exec(
        select(MedicalRecord).where(MedicalRecord.patient_id == zhang.id)
    ).one()
    assert (record.title, record.chief_complaint) == (
        "啦啦啦啦 医疗许可",
        "牙列不齐, 咬合不适",
    )
    assert record.created_at.astimezone(NOW.tzinfo).date() == NOW.date()


def test_the_chain_has_three_clinics_and_the_tutorial_lives_in_the_first(demo):
    clinics = {c.code: c for c in demo.exec(select(Clinic))}
    assert [(c.name, c.code) for c in clinics.values()] == list(CLINICS)
    assert {r.clinic_id for r in demo.exec(select(MedicalRecord))} == {
        clinics["8112"].id
    }


def test_generated_records_span_30_days_and_none_is_in_the_future(demo):
    times = demo.exec(select(MedicalRecord.created_at)).all()
    assert len(times) == 43
    assert max(times) <= NOW
    assert min(times) >= NOW - timedelta(days=30)
    assert all(t.tzinfo is not None for t in times)
    complaints = demo.exec(
        select(func.count(func.distinct(MedicalRecord.chief_complaint)))
    )
    assert complaints.one() > 10


def test_loading_twice_changes_nothing(demo):
    before = _snapshot(demo)
    assert load_demo_data(session=demo, now=NOW) is False
    assert _snapshot(demo) == before


def test_the_same_load_time_gives_the_same_data(demo, engine):
    other = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(other)
    with Session(other) as session:
        load_demo_data(session=session, now=NOW, records=40)
        assert _snapshot(session) == _snapshot(demo)


def test_pinyin_key_has_full_spelling_and_initials():
    assert pinyin_key("刘作榛") == "liuzuozhen lzz"
    assert pinyin_key("郭少青") == "guoshaoqing gsq"


# --- the chain's signing history ----------------------------------------------------


class _Record:
    def __init__(self, record_id: int, created_at: datetime):
        self.id, self.created_at = record_id, created_at


def test_each_style_signs_in_its_shares_and_late_means_past_a_day():
    visit = datetime(2026, 11, 2, 10, 30, tzinfo=ZONE)
    for spec in HISTORY_DOCTORS:
        style = spec.style
        delays = [
            planned_signing(_Record(i, visit), style, ZONE) for i in range(1, 3001)
        ]
        assert delays == [
            planned_signing(_Record(i, visit), style, ZONE) for i in range(1, 3001)
        ]
        never = sum(d is None for d in delays) / len(delays)
        assert abs(never - style.never) < 0.03
        signed = [d - visit for d in delays if d is not None]
        assert all(d > timedelta(0) for d in signed)
        within_hour = sum(d <= timedelta(minutes=80) for d in signed) / len(delays)
        assert abs(within_hour - style.prompt) < 0.03
        late = sum(d > timedelta(hours=24) for d in signed) / len(delays)
        assert abs(late - (style.late + style.very_late)) < 0.03


def test_signatures_close_together_make_one_sitting():
    t = datetime(2026, 11, 2, 19, 0, tzinfo=ZONE)
    planned = [
        (t + timedelta(minutes=51), 4),
        (t, 1),
        (t + timedelta(minutes=15), 2),
        (t + timedelta(minutes=30), 3),
    ]
    assert sittings(planned) == [
        (t + timedelta(minutes=30), [1, 2, 3]),
        (t + timedelta(minutes=51), [4]),
    ]


@pytest.fixture
def chain(tmp_path):
    """A demo database at the real current time, with the clinic CA, and the
    history of the last 10 days loaded (a dozen real signatures)."""
    now = datetime.now(ZONE)
    engine = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        assert load_demo_data(session=session, now=now, records=20)
        before = _snapshot(session)
        clinic_name = CLINICS[0][0]
        certificates.ensure_authority(
            session=session, kek=KEK, clinic_name=clinic_name, crl_url=CRL_URL, now=now
        )
        session.commit()
        context = HistoryContext(kek=KEK, data_dir=tmp_path, crl_url=CRL_URL, zone=ZONE)
        result = sign_demo_history(session=session, now=now, context=context, days=10)
        yield SimpleNamespace(
            session=session, now=now, context=context, result=result, before=before
        )
    engine.dispose()


def test_the_history_adds_the_chain_people_as_real_signers(chain):
    session = chain.session
    users = {u.login_id: u for u in session.exec(select(User))}
    assert set(users) == {a.login_id for a in ALL_ACCOUNTS}
    codes = {c.id: c.code for c in session.exec(select(Clinic))}
    for account in ALL_ACCOUNTS:
        user = users[account.login_id]
        assert (user.role, codes[user.clinic_id]) == (account.role, account.clinic_code)
        assert user.chain_wide == (account.login_id == "sh-manager@8112")
    assert {codes[users[m.login_id].clinic_id] for m in BRANCH_MANAGERS} == set(
        code for _, code in CLINICS
    )
    for spec in HISTORY_DOCTORS:
        user = users[spec.account.login_id]
        profile = session.exec(
            select(DoctorProfile).where(DoctorProfile.user_id == user.id)
        ).one()
        assert profile.verification_status == "verified" and profile.esign_enabled
        assert certificates.active_certificate(session=session, user_id=user.id)
        seals = session.exec(select(Seal).where(Seal.user_id == user.id)).all()
        assert len(seals) == (spec.seal == "personal")
    # The tutorial's records, 郑程's unsigned work of today included, are untouched.
    assert set(chain.before) <= set(_snapshot(session))
    zheng = users["sh-feihuan@8112"]
    assert not session.exec(
        select(MedicalRecord).where(
            MedicalRecord.doctor_id == zheng.id,
            MedicalRecord.sign_status == SignStatus.SIGNED,
        )
    ).all()
    assert verify_chain(session=session, system_trust=False, zone=ZONE).ok


def test_every_signed_history_record_has_a_real_pdf_and_backdated_times(chain):
    session, now, result = chain.session, chain.now, chain.result
    signed = session.exec(
        select(MedicalRecord).where(MedicalRecord.sign_status == SignStatus.SIGNED)
    ).all()
    assert 0 < result.signed == len(signed) <= result.records
    ca_pem = certificates.ca_certificate_pem(session=session)
    for index, record in enumerate(signed):
        doc = session.exec(
            select(SignedDocument).where(SignedDocument.record_id == record.id)
        ).one()
        pdf = (chain.context.data_dir / "signed" / doc.file_name).read_bytes()
        assert hashlib.sha256(pdf).hexdigest() == doc.sha256
        assert record.created_at < record.signed_at == doc.signed_at <= now
        assert record.amend_until == record.signed_at + timedelta(days=7)
        assert record.lock_status == "locked" and record.signer_id == doc.signer_id
        confirmation = session.get(Confirmation, doc.confirmation_id)
        assert (confirmation.status, confirmation.method) == ("used", "sms")
        assert confirmation.confirmed_at <= confirmation.used_at <= doc.signed_at
        if index < 2:  # pyHanko is slow: two are enough to prove the files real
            report = validate_with_pyhanko(pdf, trust_roots_pem=[ca_pem])
            assert report.intact and report.valid and report.trusted
            assert report.timestamp_valid
            # The PDF says when it was really signed, not the story's time.
            assert report.signing_time >= now - timedelta(minutes=1)
    logins = [d.account.login_id for d in HISTORY_DOCTORS]
    doctors = select(User.id).where(col(User.login_id).in_(logins))
    unsigned = session.exec(
        select(func.count()).where(
            MedicalRecord.sign_status == SignStatus.UNSIGNED,
            col(MedicalRecord.doctor_id).in_(doctors),
        )
    ).one()
    assert unsigned == result.records - result.signed


def _signed_count(session) -> int:
    return session.exec(select(func.count(SignedDocument.id))).one()


def test_the_history_runs_once(chain):
    session, context = chain.session, chain.context
    assert history_started(session)
    before = _snapshot(session), _signed_count(session)
    later = chain.now + timedelta(hours=30)  # planned signatures would have come due
    assert sign_demo_history(session=session, now=later, context=context) is None
    assert (_snapshot(session), _signed_count(session)) == before


def test_no_history_outside_a_demo_database(session, tmp_path):
    context = HistoryContext(kek=KEK, data_dir=tmp_path, crl_url=CRL_URL, zone=ZONE)
    assert sign_demo_history(session=session, now=NOW, context=context) is None
    assert not session.exec(select(User)).all() and not history_started(session)
