"""Shared fixtures: a throwaway data dir, in-memory databases, demo data, states."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from contextlib import closing
from datetime import datetime
from zoneinfo import ZoneInfo

# Settings are read once per process: point them at a throwaway data dir before
# anything imports his_portal, so that tests never touch the developer's database.
os.environ["HIS_DATA_DIR"] = tempfile.mkdtemp(prefix="his-test-")
os.environ.pop("HIS_DB_URL", None)
os.environ.pop("HIS_REDIS_URL", None)

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, select

from his_portal import db, models
from his_portal.cli import init
from his_portal.demo.data import load_demo_data
from his_portal.services import audit
from his_portal.services.auth import CurrentUser, resolve_session, view_of
from his_portal.services.pki.keyvault import mac_key

ZONE = ZoneInfo("Asia/Shanghai")
# A fixed "now" for everything that depends on the date: 2026-11-25 16:30 Shanghai.
NOW = datetime(2026, 11, 25, 16, 30, tzinfo=ZONE)
PASSWORD = "Demo@2026"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The audit MAC key of every test process (the app derives it from the KEK file);
#: the KEK is tests.services.identity.identity_helpers.KEK.
AUDIT_KEY = mac_key(bytes(range(32)), "audit")


@pytest.fixture(scope="session", autouse=True)
def audit_key():
    """Audit entries are MAC'd with :data:`AUDIT_KEY`, set before any fixture runs."""
    audit.configure(AUDIT_KEY)
    yield AUDIT_KEY
    audit.configure(None)


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
    user = session.exec(
        select(models.User).where(models.User.login_id == login_id)
    ).one()
    return view_of(user, session.get(models.Clinic, user.clinic_id))


def _copy_sqlite(source: str, target: str) -> None:
    """SQLite's online backup of the database file ``source`` into ``target``."""
    with (
        closing(sqlite3.connect(source)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


@pytest.fixture(scope="session")
def _app_db_template(tmp_path_factory) -> str:
    """The app's database as each test that uses it starts, built once: the demo
    data (60 generated records) and the clinic CA, TSA and OCSP signer (`cli init`
    without the demo history, which also creates the KEK)."""
    engine = db.get_engine()
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=datetime.now(ZONE), records=60)
    assert init(history=False) == 0
    engine.dispose()
    template = str(tmp_path_factory.mktemp("app-db") / "template.db")
    _copy_sqlite(engine.url.database, template)
    return template


@pytest.fixture
def app_db(_app_db_template):
    """The app's own database (settings URL, in the throwaway dir), which state
    tests' handlers open with ``db.session()``: restored from the template for each
    test, so a test finds the demo data and the CA and nothing another test left."""
    engine = db.get_engine()
    engine.dispose()
    _copy_sqlite(_app_db_template, engine.url.database)
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


@pytest.fixture
def pg_url():
    """A fresh database on the machine's PostgreSQL server, dropped afterwards."""
    name = f"his_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(config, items):
    """Browser journeys last: Playwright's sync API keeps an asyncio loop running in
    the main thread while the browser is open, which breaks later asyncio.run() calls
    (pyHanko's validator, upload handlers)."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))
