"""Hostile-client tests: the real app, started once per test session, attacked over
its websocket and HTTP routes as any client could.

The app is started with the e2e machinery (``tests/e2e/conftest.py``: migrate,
``cli init`` with the demo clinic, ``reflex run --env prod --single-port`` on a free
port, ready once Chromium sees the login page work). Chromium is needed only for that
readiness check: Playwright is stopped right after it, so that its asyncio loop does
not stay in the main thread (see ``tests/conftest.py``), and the app is stopped as
soon as the last hostile test has run, before the browser journeys start their own.

Order: unit tests, then these (regressions, HTTP routes, the handler campaign), then
the browser journeys. Every test here is marked ``hostile`` and ``e2e`` (it needs the
running app and Chromium). Nothing is skipped: a missing piece fails.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from tests.e2e.browsing import chromium
from tests.e2e.conftest import E2E_TEST_TIMEOUT

HERE = Path(__file__).parent
# Inside the hostile tests: regressions first (they need the attacker's account in
# its set-up state), the handler campaign last (it changes the attacker's own data).
ORDER = {"test_regressions.py": 0, "test_http.py": 1, "test_handlers.py": 2}
WORLD_SECONDS = 180
CAMPAIGN_SECONDS = 1200


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hostile: any-client attacks on every handler and HTTP route"
    )


def _is_hostile(item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(config, items):
    """Unit tests, then the hostile tests, then the browser journeys. (Before ``-m``
    deselects, like the e2e conftest; the root conftest's stable sort, whenever it
    runs, keeps this order.)"""
    for item in items:
        if not _is_hostile(item):
            continue
        item.add_marker(pytest.mark.hostile)
        item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("timeout") is None:
            extra = CAMPAIGN_SECONDS if item.path.name == "test_handlers.py" else 0
            item.add_marker(
                pytest.mark.timeout(E2E_TEST_TIMEOUT + WORLD_SECONDS + extra)
            )

    def key(item):
        if _is_hostile(item):
            return (1, ORDER.get(item.path.name, 1))
        return (2 if "/e2e/" in str(item.path) else 0, 0)

    items.sort(key=key)


# --- the app ------------------------------------------------------------------------


@dataclass
class HostileApp:
    base_url: str
    data_dir: Path
    stop: object  # callable: stops the app (idempotent)


_running: list[HostileApp] = []


def pytest_runtest_teardown(item, nextitem):
    """Stop the app once the last hostile test is done (frugal: 2 cores)."""
    if _is_hostile(item) and (nextitem is None or not _is_hostile(nextitem)):
        for app in _running:
            app.stop()


@contextmanager
def _serving_on(port: int, tmp: Path, env: dict[str, str], browser):
    """``_serve`` on a port chosen beforehand: the app's public URL (its accepted
    websocket origin) must name it. Older ``_serve`` versions pick the port
    themselves, through ``_free_port``."""
    if "port" in inspect.signature(e2e._serve).parameters:
        with e2e._serve(tmp, env, browser, "hostile-app", port=port) as base:
            yield base
        return
    original = e2e._free_port
    e2e._free_port = lambda: port
    try:
        serving = e2e._serve(tmp, env, browser, "hostile-app")
        base = serving.__enter__()
    finally:
        e2e._free_port = original
    try:
        yield base
    finally:
        serving.__exit__(None, None, None)


@pytest.fixture(scope="session")
def hostile_app(tmp_path_factory) -> Iterator[HostileApp]:
    tmp = tmp_path_factory.mktemp("his-hostile")
    port = e2e._free_port()
    env = e2e._app_env(tmp) | {"HIS_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    # _serve uses the browser only while it waits for the app to be ready.
    with chromium() as browser:
        serving = _serving_on(port, tmp, env, browser)
        base = serving.__enter__()
    stopped = []

    def stop() -> None:
        if not stopped:
            stopped.append(True)
            serving.__exit__(None, None, None)

    app = HostileApp(base, tmp / "data", stop)
    _running.append(app)
    try:
        yield app
    finally:
        stop()
        _running.remove(app)


@pytest.fixture(scope="session")
def world(hostile_app):
    """The demo clinic's people logged in, the victim with signed records, a seal, a
    used and a pending confirmation, an SMS code; the attacker verified with one
    signed record of their own. See tests/hostile/world.py."""
    from tests.hostile.world import build_world

    built = build_world(hostile_app.base_url, hostile_app.data_dir)
    yield built
    for actor in built.actors():
        actor.client.close()
    built.db.close()
