"""Operator commands: ``python -m his_portal.cli <command>``.

- ``init``: create the private data directory and the key-encryption key, create the
  clinic CA and timestamp authority on first start, and load the demo clinic into an
  empty database (demo mode only). Safe to run again: it changes nothing then.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from his_portal import db, deps
from his_portal.services.certificates import ensure_authority
from his_portal.services.demo_data import load_demo_data
from his_portal.services.keyvault import load_or_create_kek
from his_portal.settings import clinic_zone, get_settings


def init() -> int:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    kek = load_or_create_kek(settings.kek_file, create=True)
    with db.session() as session:
        created = ensure_authority(
            session=session,
            kek=kek,
            clinic_name=settings.clinic_name,
            crl_url=deps.crl_url(),
            now=datetime.now(clinic_zone()),
        )
        session.commit()
    print("Clinic CA created." if created else "Clinic CA present.")
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
