"""Checks before the app starts (``make run`` runs them before migrating): each
configuration mistake becomes one line that says what to fix, never a traceback.

- the settings parse (``HIS_*`` variables);
- the data directory is writable;
- the database answers; a PostgreSQL database that does not exist yet is created
  when the server allows it;
- Redis answers, when ``HIS_REDIS_URL`` is set;
- the KEK file exists whenever the database already holds keys sealed with it.
"""

from __future__ import annotations

import tempfile

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from his_portal.errors import HisError
from his_portal.settings import Settings

__all__ = ["PreflightError", "check"]


class PreflightError(HisError):
    """One line for the operator."""


def _shown(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
    except OSError as exc:
        raise PreflightError(
            f"HIS_DATA_DIR {settings.data_dir} is not writable ({exc.strerror}): "
            "choose another directory or fix its permissions"
        ) from None


def _create_database(url: sa.URL) -> None:
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(url.database)
            connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def _database(settings: Settings) -> str:
    """Connect (creating a missing PostgreSQL database); returns what was done."""
    shown = _shown(settings.db_url)
    try:
        url = make_url(settings.db_url)
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise PreflightError(f"HIS_DB_URL {shown} is not a usable URL: {exc}") from None
    created = ""
    try:
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            missing = url.get_backend_name() == "postgresql" and (
                f'database "{url.database}" does not exist' in str(exc.orig)
            )
            if not missing:
                raise
            try:
                _create_database(url)
            except sa.exc.SQLAlchemyError as create_exc:
                reason = str(getattr(create_exc, "orig", create_exc)).strip()
                raise PreflightError(
                    f"Database {url.database!r} does not exist on {shown} and could "
                    f"not be created ({reason.splitlines()[0]}): create it, or use "
                    "an account that may"
                ) from None
            created = f"Created database {url.database!r}."
        _kek(settings, engine)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise PreflightError(f"Database {shown} does not answer: {reason}") from None
    finally:
        engine.dispose()
    return created


def _kek(settings: Settings, engine: sa.Engine) -> None:
    if settings.kek_file.exists():
        return
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("issuerkey"):
            return
        keys = connection.execute(sa.text("SELECT count(*) FROM issuerkey")).scalar()
    if keys:
        raise PreflightError(
            f"HIS_KEK_FILE {settings.kek_file} is missing but the database holds keys "
            "sealed with it: restore the file from its backup (a new one opens nothing)"
        )


def _redis(settings: Settings) -> None:
    if not settings.redis_url:
        return
    import redis

    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=3)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise PreflightError(
            f"HIS_REDIS_URL {_shown(settings.redis_url)} does not answer ({exc})"
        ) from None


def check(settings: Settings) -> list[str]:
    """Run every check; returns notes of what was done (e.g. a database created).

    Raises:
        PreflightError: The first problem, as one line.
    """
    _data_dir(settings)
    notes = [note for note in [_database(settings)] if note]
    _redis(settings)
    return notes
