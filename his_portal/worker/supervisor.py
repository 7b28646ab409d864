"""The web app's lifespan task that keeps this machine's signing consumer running.

Every web worker runs it; the consumer's own lock decides which one actually
consumes (the others exit with :data:`~his_portal.worker.__main__.LOCKED` and are
retried later, taking over if the running consumer dies).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from his_portal.worker.__main__ import LOCKED

__all__ = ["RETRY_SECONDS", "run_forever"]

log = logging.getLogger(__name__)
RETRY_SECONDS = 10
_STOP_SECONDS = 15


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)  # huey: finish the running jobs, then stop
    try:
        await asyncio.wait_for(process.wait(), _STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


async def run_forever() -> None:
    """Start the consumer; restart it when it exits; stop it with the app."""
    while True:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "his_portal.worker"
        )
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            await _stop(process)
            raise
        if code == LOCKED:
            await asyncio.sleep(RETRY_SECONDS)
            continue
        log.warning("signing consumer exited with %s; restarting", code)
        await asyncio.sleep(1)
