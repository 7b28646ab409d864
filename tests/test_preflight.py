"""`cli preflight`: configuration mistakes are one line, a missing database is made."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from his_portal.preflight import PreflightError, check
from his_portal.settings import Settings
from tests.conftest import PG_ADMIN_URL


def settings(tmp_path, **env) -> Settings:
    return Settings.from_env({"HIS_DATA_DIR": str(tmp_path / "data"), **env})


def test_a_fresh_sqlite_setup_passes(tmp_path):
    assert check(settings(tmp_path)) == []


def test_a_missing_postgresql_database_is_created(tmp_path):
    name = f"his_preflight_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        assert check(settings(tmp_path, HIS_DB_URL=url)) == [
            f"Created database {name!r}."
        ]
        assert check(settings(tmp_path, HIS_DB_URL=url)) == []  # second run: nothing
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HIS_DB_URL": "notaurl"}, "HIS_DB_URL notaurl is not a usable URL"),
        (
            {"HIS_DB_URL": "postgresql://postgres:s3cret@127.0.0.1:1/his"},
            "Database postgresql://postgres:***@127.0.0.1:1/his does not answer",
        ),
        (
            {"HIS_DB_URL": "postgresql://nobody@127.0.0.1:5432/his_nobody"},
            'role "nobody" does not exist',
        ),
        (
            {"HIS_REDIS_URL": "redis://127.0.0.1:1/0"},
            "HIS_REDIS_URL redis://127.0.0.1:1/0 does not answer",
        ),
    ],
)
def test_configuration_mistakes_are_one_line(tmp_path, env, expected):
    with pytest.raises(PreflightError) as caught:
        check(settings(tmp_path, **env))
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert "s3cret" not in message


def test_a_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PreflightError, match=r"HIS_DATA_DIR .* is not writable"):
        check(Settings.from_env({"HIS_DATA_DIR": str(tmp_path / "file")}))


def test_keys_in_the_database_need_their_kek(tmp_path):
    config = settings(tmp_path)
    config.data_dir.mkdir(parents=True)
    engine = sa.create_engine(config.db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE issuerkey (id INTEGER)"))
        connection.execute(sa.text("INSERT INTO issuerkey VALUES (1)"))
    engine.dispose()
    with pytest.raises(PreflightError, match=r"HIS_KEK_FILE .* is missing"):
        check(config)
