"""Operator commands: ``python -m his_portal.cli <command>``.

- ``init``: create the private data directory and the key-encryption key, create the
  clinic CA and timestamp authority on first start, and load the demo clinic into an
  empty database (demo mode only). Safe to run again: it changes nothing then.
- ``verify-audit``: walk the audit log's hash chain and report the first broken link
  (exit status 1 if there is one).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from his_portal import db, deps
from his_portal.services.audit import verify_chain
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


def verify_audit() -> int:
    with db.session() as session:
        report = verify_chain(session=session)
    if report.ok:
        print(f"Audit log intact: {report.checked} entries.")
        return 0
    print(
        f"Audit log broken at entry {report.first_broken_seq}: {report.reason} "
        f"({report.checked} entries verified before it)."
    )
    return 1


COMMANDS = {"init": init, "verify-audit": verify_audit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m his_portal.cli")
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    return COMMANDS[args.command]()


if __name__ == "__main__":
    sys.exit(main())
