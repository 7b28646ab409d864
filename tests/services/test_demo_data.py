from datetime import timedelta

from sqlmodel import Session, func, select

from his_portal.demo.data import DEMO_ACCOUNTS, load_demo_data, pinyin_key
from his_portal.models import MedicalRecord, Patient, Role, User
from tests.conftest import NOW


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
    from sqlalchemy.pool import StaticPool
    from sqlmodel import SQLModel, create_engine

    other = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(other)
    with Session(other) as session:
        load_demo_data(session=session, now=NOW, records=40)
        assert _snapshot(session) == _snapshot(demo)


def test_pinyin_key_has_full_spelling_and_initials():
    assert pinyin_key("刘作榛") == "liuzuozhen lzz"
    assert pinyin_key("郭少青") == "guoshaoqing gsq"
