"""Browser journeys: the real app on a free port, driven by Chromium via Playwright.

The ``app_url`` fixture starts ``reflex run --env prod`` once per test session with
its own data directory (fresh SQLite database with the demo clinic) and its own
Reflex work directories. The project's ``.web`` is *not* shared: a production build
deletes ``.web/build`` and bakes the port into the bundle (``reflex-env-*.js``), so
building in it would break any instance already serving from it (e.g. ``make run``
on port 3000). ``REFLEX_WEB_WORKDIR`` points each session's build elsewhere.

Chromium is required: a missing browser fails the tests, it never skips them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.browsing import ARTIFACTS, chromium, contexts

if TYPE_CHECKING:
    from tests.e2e.fakes import FakeProviders

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# A production build (bun install + vite) happens on start; slow on small machines.
STARTUP_SECONDS = float(os.environ.get("HIS_E2E_STARTUP_SECONDS", "240"))
# Per-test timeout for e2e tests: the first one also pays for the app's startup.
E2E_TEST_TIMEOUT = int(STARTUP_SECONDS) + 180


def pytest_collection_modifyitems(config, items):
    """Every test under tests/e2e is an e2e test, with room for the app's startup."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(E2E_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, for the screenshot-on-failure fixture."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- the app ----------------------------------------------------------------------


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 3000:
            return port


def _tail(log: Path, lines: int = 60) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _app_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HIS_DB_URL", "HIS_KEK_FILE", "HIS_REDIS_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        HIS_DATA_DIR=str(tmp / "data"),
        HIS_DEMO_MODE="true",
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_WEB_WORKDIR=str(tmp / "web"),
        REFLEX_STATES_WORKDIR=str(tmp / "states"),
        PATH=os.pathsep.join(
            [str(ROOT / ".tools" / "node_modules" / ".bin"), str(BIN), env["PATH"]]
        ),
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_step(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300
        )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({done.returncode}); log {log}:\n{_tail(log)}",
            pytrace=False,
        )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except Exception as exc:
        return getattr(exc, "code", 0) or 0, str(exc)


def _js_works(browser, base: str) -> bool:
    """``/`` redirects to ``/login`` only through an on_load event over the websocket:
    the bundle loaded, hydrated and talked to the backend."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/", timeout=30_000)
        page.wait_for_url(re.compile(r"/login/?$"), timeout=30_000)
        page.locator("#login-login_id").wait_for(state="visible", timeout=10_000)
        return True
    except Exception:
        return False
    finally:
        context.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextmanager
def _serve(
    tmp: Path, env: dict[str, str], browser, name: str, port: int | None = None
) -> Iterator[str]:
    """Migrate, init and run the app with ``env``; yield its base URL.

    ``port``: where to serve (a free one if ``None``), for callers that must put
    the base URL into ``env`` beforehand (``HIS_PUBLIC_URL``).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    port = port or _free_port()
    log = ARTIFACTS / f"{name}.log"
    log.write_text(f"data dir {tmp}, port {port}\n")
    reflex = str(BIN / "reflex")
    started = time.monotonic()
    _run_step([reflex, "db", "migrate"], env, log)
    _run_step([sys.executable, "-m", "his_portal.cli", "init"], env, log)
    cmd = [
        reflex,
        "run",
        "--env",
        "prod",
        "--single-port",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
    ]
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = started + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"reflex run exited with {proc.returncode}; log {log}:\n"
                    f"{_tail(log)}",
                    pytrace=False,
                )
            status, _ = _get(f"{base}/login")
            if status == 200 and _js_works(browser, base):
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"app not ready on {base} after {STARTUP_SECONDS:.0f} s "
                    f"(last GET /login: {status}); log {log}:\n{_tail(log)}",
                    pytrace=False,
                )
            time.sleep(2)
        elapsed = time.monotonic() - started
        with log.open("a") as out:
            out.write(f"\n[e2e] app ready on {base} after {elapsed:.1f} s\n")
        print(f"\n[e2e] {name} ready on {base} after {elapsed:.1f} s")
        yield base
    finally:
        _stop(proc)
        shutil.rmtree(tmp / "web", ignore_errors=True)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, browser) -> Iterator[str]:
    """The app as `make run` serves it (SQLite, one worker), on a free port."""
    tmp = tmp_path_factory.mktemp("his-e2e")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # CORS: the event websocket admits pages from HIS_PUBLIC_URL's origin only.
    env = _app_env(tmp) | {"HIS_PUBLIC_URL": base}
    with _serve(tmp, env, browser, "e2e-app", port=port) as served:
        assert served == base
        yield base


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def prod_db_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"his_e2e_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )
        admin.dispose()


@pytest.fixture(scope="session")
def prod_fakes() -> Iterator[FakeProviders]:
    """The identity vendor, Aliyun SMS and Tencent FaceID fakes, in this process."""
    from tests.e2e import fakes

    with fakes.running() as running:
        yield running


@pytest.fixture(scope="session")
def prod_app_url(
    tmp_path_factory, browser, prod_db_url, prod_fakes: FakeProviders
) -> Iterator[str]:
    """The production configuration: demo mode off, the real provider adapters
    pointed at the local fakes, PostgreSQL + Redis + three workers on the machine's
    real servers. No demo data: see ``fakes.seed_clinic``."""
    import redis

    from tests.e2e import fakes

    tmp = tmp_path_factory.mktemp("his-e2e-prod")
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = (
        _app_env(tmp)
        | {
            "HIS_DEMO_MODE": "false",
            # The QR code's link and the face check's RedirectUrl point here.
            "HIS_PUBLIC_URL": base,
            "HIS_CLINIC_NAME": fakes.CLINIC_NAME,
            "HIS_DB_URL": prod_db_url,
            "HIS_REDIS_URL": REDIS_URL,
            "GRANIAN_WORKERS": "3",
        }
        | prod_fakes.env()
    )
    with _serve(tmp, env, browser, "e2e-prod-app", port=port) as served:
        assert served == base
        yield base


# --- the browser ------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """System Chromium under Playwright, for the whole test session."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_page(browser, app_url, request) -> Iterator[Callable[..., object]]:
    """Factory: a page in a fresh browser context (own local storage), zh-CN.

    On a test failure every page made here is saved to test-artifacts/.
    """
    with contexts(browser, app_url, request) as make:
        yield lambda *args, **options: make(*args, **options).new_page()


@pytest.fixture
def page(new_page):
    """A page in a fresh 1280×800 zh-CN context."""
    return new_page()
