"""The database engine, built once from settings; sessions for states and commands."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlmodel import Session, create_engine

from his_portal.settings import get_settings


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers proceed during a write; the busy timeout makes concurrent
    # writers wait instead of failing; SQLite leaves foreign keys off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with the settings this app relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=1)
def get_engine() -> sa.Engine:
    """The process's engine for the configured database."""
    return make_engine(get_settings().db_url)


def session() -> Session:
    """A new session; use as ``with db.session() as s:``."""
    return Session(get_engine())
