"""Shared fixtures: a throwaway data dir, in-memory databases, demo data, states."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from zoneinfo import ZoneInfo

# Settings are read once per process: point them at a throwaway data dir before
# anything imports his_portal, so that tests never touch the developer's database.
os.environ["HIS_DATA_DIR"] = tempfile.mkdtemp(prefix="his-test-")
os.environ.pop("HIS_DB_URL", None)
os.environ.pop("HIS_REDIS_URL", None)

import pytest  # noqa: E402
from sqlalchemy.pool import StaticPool  # noqa: E402
from sqlmodel import Session, SQLModel, create_engine, select  # noqa: E402

from his_portal import db, models  # noqa: E402
from his_portal.services.auth import CurrentUser, resolve_session  # noqa: E402
from his_portal.services.demo_data import load_demo_data  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
# A fixed "now" for everything that depends on the date: 2026-11-25 16:30 Shanghai.
NOW = datetime(2026, 11, 25, 16, 30, tzinfo=ZONE)
PASSWORD = "Demo@2026"


@pytest.fixture
def engine():
    engine = create_engine(
        "sqlite://",
        connect_args={"check_same_thread": False},
        poolclass=StaticPool,
    )
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session


@pytest.fixture
def demo(session):
    """The demo clinic (with 40 generated records) loaded at NOW."""
    assert load_demo_data(session=session, now=NOW, records=40)
    return session


def user_by_login(session: Session, login_id: str) -> CurrentUser:
    user = session.exec(select(models.User).where(models.User.login_id == login_id)).one()
    clinic = session.get(models.Clinic, user.clinic_id)
    return CurrentUser(
        id=user.id,
        login_id=user.login_id,
        display_name=user.display_name,
        role=user.role,
        clinic_id=user.clinic_id,
        clinic_name=clinic.name,
    )


@pytest.fixture(scope="session")
def app_db():
    """The app's own database (settings URL, in the throwaway dir) with demo data.

    State tests call handlers that open ``db.session()``; it is shared by the
    session, so tests that change accounts use their own login ids.
    """
    engine = db.get_engine()
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=datetime.now(ZONE), records=60)
    return engine


def token_for(login_id: str) -> str:
    """Log in through the service and return the browser token."""
    from his_portal.services import auth

    with db.session() as session:
        token, _ = auth.authenticate(
            session=session, login_id=login_id, password=PASSWORD, session_hours=1
        )
        assert resolve_session(session=session, token=token) is not None
    return token
