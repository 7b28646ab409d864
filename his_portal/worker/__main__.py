"""``python -m his_portal.worker``: the signing consumer of this machine.

Exits with status 75 (EX_TEMPFAIL) at once when another consumer already runs on
this data directory, so a supervisor can simply try again later.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import sys

from his_portal.settings import SettingsError, get_settings

LOCKED = 75


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    lock = open(settings.data_dir / "signing-workers.lock", "a")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return LOCKED
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # per-glyph chatter
    from his_portal.services.signing import fonts
    from his_portal.worker.queue import huey

    fonts.warm_up()  # once, before the workers fork: they share the parsed font
    # Out of the garbage collector's sight: its full passes walked the font's glyph
    # objects (80 ms pauses), and touching them unshared the forked workers' pages.
    gc.freeze()

    huey.create_consumer(
        workers=settings.sign_workers,
        worker_type="process",
        check_worker_health=True,
        health_check_interval=5,
        # An idle worker polls the SQLite queue (Redis blocks instead): at most a
        # tenth of a second between looks, not huey's default of up to 10 s, so a
        # batch starts when 签署 is pressed. A look is one indexed SELECT.
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.1,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
