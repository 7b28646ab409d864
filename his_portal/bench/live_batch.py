"""`make bench`, live batches: doctors sign through the running app's websocket, as
the browser does (批量签名 → 意愿校验 by SMS code → 签署), and the signing queue's
workers do the work.

- **Throughput**: a batch of ``size`` records per doctor, one after the other, timed
  from the 签署 event until the batch is closed in the database (every record signed,
  its PDF stored and audited). Meanwhile another logged-in user switches 待完善病历
  tabs: the p95 of those page events is the "other user" figure. The signing
  workers' CPU per record (render, sign, timestamps, DSS, database, audit, queue)
  and where each batch's time went are printed too.
- **Memory**: ``memory_records`` more records in batches of ``size`` (a 意愿校验 covers
  at most 50 records), up to one running batch per doctor at a time; the signing
  workers' memory (PSS summed over the consumer's processes, so pages they share
  count once; RSS too) is sampled throughout and its peak reported.

The SMS code is read from the demo outbox table, like the doctor reading their phone.
A doctor may get one code a minute, so the memory part waits for codes when it has
gone through all six demo doctors.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

from his_portal.bench.report import Report, p95
from his_portal.demo.chain import HISTORY_DOCTORS
from his_portal.models import MedicalRecord, Patient, User, utcnow
from his_portal.states.workbench import WorkbenchState
from tests.hostile.reflex_protocol import state_full_name
from tests.hostile.reflex_ws import AsyncReflexClient

__all__ = ["DOCTORS", "add_records", "run"]

DOCTORS = tuple(doctor.account.login_id for doctor in HISTORY_DOCTORS)
OTHER_USER = "sh-feihuan@8112"
PASSWORD = "Demo@2026"
# By name: importing the state would open the signing queue of this process.
FLOW = state_full_name(
    ("his_portal.state", "AuthState"), ("his_portal.states.sign_flow", "SignFlowState")
)
TAB = WorkbenchState.get_full_name() + ".set_tab"
_CODE = re.compile(r"\d{6}")
_SMS_GAP = 61.0  # seconds between two codes to one doctor (the resend cooldown)
PHASES = (
    "签署 → confirmation spent",
    "→ batch claimed and queued",
    "→ first record taken",
    "→ last record taken",
    "→ batch closed",
)


def _epoch(value) -> float:
    """A stored UTC datetime (SQLite gives text) as seconds since the epoch."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC).timestamp()


def add_records(db_url: str, per_doctor: int) -> None:
    """``per_doctor`` unsigned records for every demo doctor (before the app starts)."""
    engine = create_engine(db_url)
    rng = random.Random(12)
    created = utcnow() - timedelta(hours=2)
    with engine.begin() as conn:
        for login in DOCTORS:
            doctor_id, clinic_id = conn.execute(
                select(User.id, User.clinic_id).where(User.login_id == login)
            ).one()
            patients = (
                conn.execute(select(Patient.id).where(Patient.clinic_id == clinic_id))
                .scalars()
                .all()
            )
            rows = [
                {
                    "patient_id": rng.choice(patients),
                    "doctor_id": doctor_id,
                    "clinic_id": clinic_id,
                    "visit_item": "复诊",
                    "title": "口腔检查",
                    "created_at": created,
                    "chief_complaint": "左下后牙咀嚼时疼痛一周，冷热刺激加重",
                    "diagnosis": "36深龋",
                    "treatment_plan": "36去腐，树脂充填；两周后复查",
                }
                for _ in range(per_doctor)
            ]
            conn.execute(MedicalRecord.__table__.insert(), rows)
    engine.dispose()


@dataclass
class Doctor:
    login: str
    client: AsyncReflexClient
    user_id: int
    pending: list[int] = field(default_factory=list)
    last_code_at: float = -_SMS_GAP


class Bench:
    def __init__(self, base: str, db_url: str) -> None:
        self.base = base
        self.engine = create_engine(db_url)
        self.phases: list[dict[str, float]] = []

    def _phases(self, confirmation_id: int, clock: float) -> dict[str, float]:
        """Where a batch's time went, in ms, from the times the app stored (UTC,
        this machine's clock): 签署 until the confirmation was spent, until the
        batch was claimed and queued, until a worker took the first record, until
        it took the last one, until the batch was closed."""
        ((used, started, first, last, closed),) = self._rows(
            "SELECT c.used_at, c.batch_started_at, min(i.claimed_at),"
            " max(i.claimed_at), c.batch_finished_at FROM confirmation c"
            " JOIN batchitem i ON i.confirmation_id = c.id WHERE c.id = :c"
            " GROUP BY c.id",
            c=confirmation_id,
        )
        moments = [clock, *(_epoch(v) for v in (used, started, first, last, closed))]
        return {
            name: (later - earlier) * 1000
            for name, earlier, later in zip(
                PHASES, moments[:-1], moments[1:], strict=True
            )
        }

    def _rows(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    async def housekeeping_done(self, seconds: float = 600) -> None:
        """Wait for the app's start-up round of periodic jobs (the integrity check
        re-validates every stored PDF: tens of seconds of the web process's CPU)
        to end: the batches measure signing, not signing beside the daily check."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            running = self._rows(
                "SELECT count(*) FROM jobrun WHERE started_at IS NOT NULL"
                " AND (finished_at IS NULL OR finished_at < started_at)"
            )[0][0]
            started = self._rows("SELECT count(*) FROM jobrun")[0][0]
            if started and not running:
                return
            await asyncio.sleep(0.5)
        raise SystemExit("the app's periodic jobs did not finish")

    async def doctor(self, login: str) -> Doctor:
        client = AsyncReflexClient(self.base, timeout=60)
        await client.login(login, PASSWORD)
        await client.connect("/workbench")
        ((user_id,),) = self._rows('SELECT id FROM "user" WHERE login_id = :l', l=login)
        pending = self._rows(
            "SELECT id FROM medicalrecord WHERE doctor_id = :d AND"
            " sign_status = 'unsigned' ORDER BY id",
            d=user_id,
        )
        return Doctor(login, client, user_id, [row[0] for row in pending])

    async def _code(self, doctor: Doctor) -> str:
        wait = doctor.last_code_at + _SMS_GAP - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await doctor.client.call(f"{FLOW}.send_code", {}, path="/workbench")
        doctor.last_code_at = time.monotonic()
        ((body,),) = self._rows(
            "SELECT body FROM smsmessage WHERE user_id = :u ORDER BY id DESC LIMIT 1",
            u=doctor.user_id,
        )
        return _CODE.search(body).group()

    async def batch(self, doctor: Doctor, size: int) -> float:
        """Sign ``size`` of the doctor's pending records; seconds from 签署 until
        the batch is closed."""
        ids, doctor.pending = doctor.pending[:size], doctor.pending[size:]
        client = doctor.client
        await client.call(f"{FLOW}.begin", {"record_ids": ids}, path="/workbench")
        code = await self._code(doctor)
        await client.call(f"{FLOW}.set_code", {"value": code}, path="/workbench")
        await client.call(f"{FLOW}.confirm_code", {}, path="/workbench")
        if client.var(FLOW, "step") != "sign":
            raise SystemExit(f"意愿校验 failed: {client.var(FLOW, 'message')}")
        ((confirmation_id,),) = self._rows(
            "SELECT max(id) FROM confirmation WHERE user_id = :u", u=doctor.user_id
        )
        started, clock = time.perf_counter(), time.time()
        await client.emit(f"{FLOW}.sign", {}, "/workbench")
        while True:
            rows = self._rows(
                "SELECT batch_finished_at FROM confirmation WHERE id = :c",
                c=confirmation_id,
            )
            if rows[0][0] is not None:
                elapsed = time.perf_counter() - started
                break
            await asyncio.sleep(0.01)
        self.phases.append(self._phases(confirmation_id, clock))
        signed = self._rows(
            "SELECT count(*) FROM batchitem WHERE confirmation_id = :c"
            " AND status = 'signed'",
            c=confirmation_id,
        )[0][0]
        if signed != size:
            raise SystemExit(f"batch {confirmation_id}: {signed} of {size} signed")
        deadline = time.monotonic() + 10
        while client.var(FLOW, "step") != "done" and time.monotonic() < deadline:
            await client.drain(0.1)  # the page shows 已完成: a next batch may begin
        return elapsed


async def _other_user(client: AsyncReflexClient, busy: asyncio.Event, out: list):
    """Page events of a user who is not signing, four a second (a quick person,
    not a flood); samples kept while a batch runs."""
    index = 0
    while True:
        client._take_unsolicited()
        started = time.perf_counter()
        await client.emit(
            TAB, {"value": ("signed", "pending")[index % 2]}, "/workbench"
        )
        if await client._next(30) is not None and busy.is_set():
            out.append((time.perf_counter() - started) * 1000)
        await client.drain(0.25)
        index += 1


def _worker_procs():
    """The signing consumer's processes, as /proc directories."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"his_portal.worker" in (proc / "cmdline").read_bytes():
                yield proc
        except OSError:
            continue


def _worker_memory() -> tuple[float, float]:
    """(PSS, RSS) in MB summed over the signing consumer's processes."""
    pss = rss = 0
    for proc in _worker_procs():
        try:
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith(("Pss:", "Rss:")):
                    kib = int(line.split()[1])
                    pss += kib if line.startswith("Pss:") else 0
                    rss += kib if line.startswith("Rss:") else 0
        except OSError:
            continue
    return pss / 1024, rss / 1024


def _worker_cpu() -> float:
    """CPU seconds (user + system) the signing consumer's processes have used."""
    ticks = 0
    for proc in _worker_procs():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def _sample_memory(peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        pss, rss = _worker_memory()
        peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
        await asyncio.sleep(0.2)


async def _measure(report: Report, bench: Bench, size: int, memory: int) -> None:
    doctors = [await bench.doctor(login) for login in DOCTORS]
    other = AsyncReflexClient(bench.base, timeout=60)
    await other.login(OTHER_USER, PASSWORD)
    await other.connect("/workbench")
    busy, samples = asyncio.Event(), []
    watcher = asyncio.create_task(_other_user(other, busy, samples))
    peak, stop = [0.0, 0.0], asyncio.Event()
    sampler = asyncio.create_task(_sample_memory(peak, stop))
    await bench.housekeeping_done()
    await asyncio.sleep(3)  # the consumer is up and idle
    idle_pss, idle_rss = _worker_memory()
    rates, cpu = [], []
    for doctor in doctors[:5]:
        busy.set()
        before = _worker_cpu()
        seconds = await bench.batch(doctor, size)
        cpu.append((_worker_cpu() - before) * 1000 / size)
        busy.clear()
        rates.append(size / seconds)
        await asyncio.sleep(0.5)
    report.figure(
        f"batch of {size}, 签署 → all signed · median",
        statistics.median(rates),
        "records/s",
        ">= 40",
    )
    report.figure(f"batch of {size} · slowest of {len(rates)}", min(rates), "records/s")
    report.figure(
        f"batch of {size}, signing workers' CPU per record (all of it) · median",
        statistics.median(cpu),
        "ms",
    )
    for name in PHASES:
        report.figure(
            f"batch of {size}, {name} · median",
            statistics.median(phases[name] for phases in bench.phases[: len(rates)]),
            "ms",
        )
    report.figure(
        f"other user's page event during batches · p95 ({len(samples)} events)",
        p95(samples) if samples else 0.0,
        "ms",
        "<= 200",
    )
    report.figure(
        "other user's page event during batches · median",
        statistics.median(samples) if samples else 0.0,
        "ms",
    )
    report.figure("signing workers idle · PSS", idle_pss, "MB")
    report.figure("signing workers idle · RSS", idle_rss, "MB")
    if memory:
        started, done = time.perf_counter(), 0
        while done < memory:
            ready = [d for d in doctors if len(d.pending) >= size]
            wave = ready[: max(1, min(len(ready), -(-(memory - done) // size)))]
            await asyncio.gather(*(bench.batch(d, size) for d in wave))
            done += size * len(wave)
        report.figure(
            f"signing workers after {done} records · peak PSS", peak[0], "MB", "<= 600"
        )
        report.figure(f"signing workers after {done} records · peak RSS", peak[1], "MB")
        report.figure(
            f"{done} records in batches of {size}, incl. waits for SMS codes",
            time.perf_counter() - started,
            "s",
        )
    stop.set()
    watcher.cancel()
    await sampler
    for client in [other, *(d.client for d in doctors)]:
        await client.close()


def run(report: Report, *, base: str, db_url: str, size: int, memory: int) -> None:
    asyncio.run(_measure(report, Bench(base, db_url), size, memory))
