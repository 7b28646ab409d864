"""The committed alembic revisions build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from alembic import command
from his_portal.db import make_engine

ROOT = Path(__file__).resolve().parent.parent


def migrate(engine: sa.Engine) -> list:
    """Upgrade to head, then return what still differs from the models."""
    config = Config(ROOT / "alembic.ini")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        return compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )


def test_sqlite_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrate(engine) == []


@pytest.mark.postgres
def test_postgresql_migrations_match_the_models(pg_url):
    engine = make_engine(pg_url)
    assert migrate(engine) == []
    engine.dispose()


def test_sqlite_migrations_downgrade_and_upgrade_again(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    config = Config(ROOT / "alembic.ini")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        command.upgrade(config, "head")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, SQLModel.metadata) == []
