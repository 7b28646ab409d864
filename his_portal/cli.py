"""Operator commands: ``python -m his_portal.cli <command>``.

- ``init``: create the private data directory and load the demo clinic into an empty
  database (demo mode only).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from his_portal import db
from his_portal.services.demo_data import load_demo_data
from his_portal.settings import clinic_zone, get_settings


def init() -> int:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not settings.demo_mode:
        print("HIS_DEMO_MODE is off: no demo data loaded.")
        return 0
    with db.session() as session:
        loaded = load_demo_data(session=session, now=datetime.now(clinic_zone()))
    print("Demo data loaded." if loaded else "Database already has data: left as is.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m his_portal.cli")
    parser.add_argument("command", choices=["init"])
    args = parser.parse_args(argv)
    return {"init": init}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
