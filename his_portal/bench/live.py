"""`make bench`, live part: the running app, batches through its signing queue
(:mod:`.live_batch`) and a login flood.

Starts the app as ``make run`` does (production build, one web worker, the signing
consumer its supervisor starts, SQLite in a throwaway data dir) with extra unsigned
records for the demo doctors. Then the batches; then a doctor's page events
(待完善病历 tab switches), first alone, then while 80 clients that are not logged in
hammer the login handler. Two floods: wrong passwords (what an attacker guessing ids
sends; the per-address throttle refuses them before argon2 after the first few) and
right passwords (every attempt runs argon2: the worst case for the event loop).
Asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from his_portal.bench import live_batch
from his_portal.bench.report import Report
from his_portal.states.workbench import WorkbenchState
from tests.hostile.reflex_protocol import LOGIN_SUBMIT
from tests.hostile.reflex_ws import AsyncReflexClient

ROOT = Path(__file__).resolve().parents[2]
FLOOD = 80
DOCTOR, PASSWORD = "sh-feihuan@8112", "Demo@2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIS_")}
    return env | {
        "HIS_DATA_DIR": str(tmp / "data"),
        "HIS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REFLEX_WEB_WORKDIR": str(tmp / "web"),
        "REFLEX_STATES_WORKDIR": str(tmp / "states"),
        "REFLEX_USE_SYSTEM_BUN": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _start(tmp: Path, port: int, per_doctor: int) -> subprocess.Popen:
    env, bin_dir = _env(tmp, port), Path(sys.executable).parent
    log = (tmp / "app.log").open("w")
    for step in (
        [str(bin_dir / "reflex"), "db", "migrate"],
        [sys.executable, "-m", "his_portal.cli", "init"],
    ):
        subprocess.run(step, cwd=ROOT, env=env, stdout=log, stderr=log, check=True)
    live_batch.add_records(_db_url(tmp), per_doctor)
    command = [str(bin_dir / "reflex"), "run", "--env", "prod", "--single-port"]
    command += ["--frontend-port", str(port), "--backend-port", str(port)]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(1)
    _stop(proc)
    raise SystemExit(f"the app did not start; see {tmp / 'app.log'}")


def _db_url(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'data' / 'his_portal.db'}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _timed(client, name: str, payload: dict, seconds: float = 30.0) -> float:
    """Seconds from sending an event until its first answer arrives."""
    client._take_unsolicited()
    started = time.perf_counter()
    await client.emit(name, payload, "/workbench")
    if await client._next(seconds) is None:
        return seconds
    elapsed = time.perf_counter() - started
    await client.drain(0.05)
    return elapsed


async def _doctor_events(client, event: str, count: int) -> list[float]:
    samples = []
    for index in range(count):
        tab = ("signed", "pending")[index % 2]
        samples.append(await _timed(client, event, {"value": tab}))
        await asyncio.sleep(0.05)
    return samples


async def _flood(base: str, password: str, stop: asyncio.Event) -> int:
    attempts = 0

    async def one(number: int) -> None:
        nonlocal attempts
        client = AsyncReflexClient(base, timeout=60)
        await client.connect("/login")
        form = {"login_id": DOCTOR if password else f"guess{number}", "password": ""}
        form["password"] = password or "wrong-password"
        while not stop.is_set():
            await client.call(LOGIN_SUBMIT, {"form": form}, path="/login", timeout=60)
            attempts += 1
        await client.close()

    tasks = [asyncio.create_task(one(n)) for n in range(FLOOD)]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    return attempts


async def _measure(report: Report, base: str) -> None:
    event = WorkbenchState.get_full_name() + ".set_tab"
    doctor = AsyncReflexClient(base, timeout=60)
    await doctor.login(DOCTOR, PASSWORD)
    await doctor.connect("/workbench")
    await _doctor_events(doctor, event, 10)  # warm up
    alone = await _doctor_events(doctor, event, 60)
    report.timings("doctor page event, alone", [t * 1000 for t in alone])
    for label, password in (("wrong", ""), ("right", PASSWORD)):
        stop = asyncio.Event()
        flood = asyncio.create_task(_flood(base, password, stop))
        await asyncio.sleep(3)
        started = time.monotonic()
        during = await _doctor_events(doctor, event, 60)
        seconds = time.monotonic() - started
        stop.set()
        attempts = await flood
        name = f"doctor page event, {FLOOD} clients logging in ({label} password)"
        report.timings(name, [t * 1000 for t in during])
        report.figure(
            f"login attempts ({label} password)", attempts / (seconds + 3), "/s"
        )
    await doctor.close()


def run(report: Report, *, batch: int, memory: int) -> None:
    """The live figures; ``batch`` records per batch, ``memory`` records for the
    workers' memory (0: skip)."""
    tmp = Path(tempfile.mkdtemp(prefix="his-bench-live-"))
    port = _free_port()
    per_doctor = batch + batch * -(-memory // (batch * len(live_batch.DOCTORS)))
    proc = _start(tmp, port, per_doctor)
    base = f"http://127.0.0.1:{port}"
    try:
        live_batch.run(
            report, base=base, db_url=_db_url(tmp), size=batch, memory=memory
        )
        asyncio.run(_measure(report, base))
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
