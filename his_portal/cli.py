"""Operator commands: ``python -m his_portal.cli <command>``.

- ``init``: create the private data directory and the key-encryption key, create the
  clinic CA and timestamp authority on first start, and load the demo clinic into an
  empty database (demo mode only), then the chain's signed 90-day history
  (``--no-demo-history`` skips it). Safe to run again: it changes nothing then.
- ``preflight``: check the configuration before starting (settings, data dir,
  database — a missing PostgreSQL database is created —, Redis, KEK); one line per
  problem (exit status 2).
- ``verify-audit``: check the audit log's MAC chain, its head and every timestamp
  anchor; print one line per problem (exit status 1 if there is any).
- ``create-user LOGIN NAME ROLE [--clinic NAME]``: create an account (the first
  administrator outside demo mode); the password comes from ``HIS_NEW_PASSWORD`` or
  is asked for twice on the terminal.
- ``integrity-check``: re-validate every stored signed PDF (file present, SHA-256 as
  recorded, signature valid against the clinic CA, offline) and the audit chain;
  store the report, notify the administrators of a failure; one line per failure
  (exit status 1 if there is any).
- ``anchor-audit``: timestamp the audit log's head now (RFC 3161), with the clinic's
  TSA or the external one in ``HIS_TSA_URL``; does nothing if the head has not moved
  since the latest anchor.
- ``renew-archive-timestamps [--dry-run] [--force]``: renew the document timestamp
  of every stored signed PDF that is due (``HIS_ARCHIVE_RENEW_DAYS``,
  ``HIS_ARCHIVE_AGEING_ALGORITHMS``), as the app does daily; ``--dry-run`` lists
  them, ``--force`` renews every B-LTA file; one line per failure and a summary
  (exit status 1 if any failed).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from datetime import datetime

from his_portal import db, deps
from his_portal.demo.data import CLINICS, load_demo_data
from his_portal.demo.history import (
    HistoryContext,
    history_started,
    sign_demo_history,
)
from his_portal.errors import HisError
from his_portal.preflight import PreflightError
from his_portal.preflight import check as check_configuration
from his_portal.services import integrity
from his_portal.services.accounts import AccountError, create_account
from his_portal.services.audit import (
    Actor,
    AuditError,
    anchor_head,
    verify_chain,
)
from his_portal.services.auth.passwords import PasswordRejected
from his_portal.services.pki.certificates import ensure_authority
from his_portal.services.pki.keyvault import load_or_create_kek
from his_portal.services.signing import archive_renewal
from his_portal.services.signing import records as record_signing
from his_portal.services.signing.archive_policy import RenewalPolicy
from his_portal.settings import SettingsError, clinic_zone, get_settings


def init(*, history: bool = True) -> int:
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
            profile=deps.issuing_profile(),
        )
        session.commit()
        swept = record_signing.sweep_orphans(
            session=session, data_dir=settings.data_dir
        )
    print("Clinic CA created." if created else "Clinic CA present.")
    if swept:
        print(f"Removed {swept} unfinished signing file(s) left by an interrupted run.")
    if not settings.demo_mode:
        print("HIS_DEMO_MODE is off: no demo data loaded.")
        return 0
    print(
        "Demo mode (HIS_DEMO_MODE=true): demo identity, SMS and face providers, "
        "demo accounts and the /dev/sms outbox. Not for real patients."
    )
    with db.session() as session:
        loaded = load_demo_data(session=session, now=datetime.now(clinic_zone()))
    print("Demo data loaded." if loaded else "Database already has data: left as is.")
    if history:
        _demo_history(kek, fresh=loaded)
    return 0


def _demo_history(kek: bytes, *, fresh: bool) -> None:
    """The chain's signed 90-day history, after a fresh demo load (or to finish
    one that stopped part-way)."""
    settings = get_settings()
    started = time.monotonic()
    with db.session() as session:
        if not (fresh or history_started(session)):
            return
        result = sign_demo_history(
            session=session,
            now=datetime.now(clinic_zone()),
            context=HistoryContext(
                kek=kek,
                data_dir=settings.data_dir,
                crl_url=deps.crl_url(),
                profile=deps.issuing_profile(),
                zone=clinic_zone(),
                amend_days=settings.amend_days,
                cert_valid_days=settings.cert_valid_days,
                tsa_url=settings.tsa_url,
            ),
        )
    if result is not None:
        print(
            f"Demo history: {result.records} records over 90 days in "
            f"{len(CLINICS)} clinics, {result.signed} signed "
            f"({time.monotonic() - started:.0f} s)."
        )


def _when(at: datetime | None) -> str:
    if at is None:
        return "unknown time"
    return f"{at.astimezone(clinic_zone()):%Y-%m-%d %H:%M:%S %z}"


def verify_audit() -> int:
    settings = get_settings()
    try:
        with db.session() as session:
            report = verify_chain(
                session=session,
                # An external TSA's certificate chains to a public root.
                system_trust=bool(settings.tsa_url),
                zone=clinic_zone(),
            )
    except AuditError as exc:
        print(f"Cannot verify the audit log: {exc.message}")
        return 1
    if not report.ok:
        for problem in report.problems:
            print(problem.message)
        return 1
    if report.latest_anchor_seq is None:
        print(
            f"Audit log intact: {report.checked} entries, 0 anchors "
            "(none yet: run anchor-audit)."
        )
    else:
        print(
            f"Audit log intact: {report.checked} entries, {report.anchors} anchors "
            f"(latest anchor at seq {report.latest_anchor_seq}, "
            f"{_when(report.latest_anchor_time)})."
        )
    return 0


def anchor_audit() -> int:
    try:
        with db.session() as session:
            anchor = anchor_head(session=session, tsa=deps.audit_tsa(session))
            session.commit()
            if anchor is not None:
                session.refresh(anchor)
    except HisError as exc:  # also a malformed HIS_TSA_URL
        print(f"Audit log not anchored: {exc.message}")
        return 1
    if anchor is None:
        print("Audit head unchanged since the latest anchor, or log empty: no anchor.")
        return 0
    # Printed in full so that the operator's logs keep a copy outside the database.
    print(f"Anchored audit head at seq {anchor.seq} ({_when(anchor.at)}).")
    print(f"hash {anchor.hash}")
    print(f"token {anchor.token}")
    return 0


def preflight() -> int:
    try:
        notes = check_configuration(get_settings())
    except PreflightError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    return 0


def _new_password() -> str:
    password = os.environ.get("HIS_NEW_PASSWORD", "")
    if password or not sys.stdin.isatty():
        return password
    first = getpass.getpass("Password: ")
    return first if getpass.getpass("Again: ") == first else ""


def create_user(args: argparse.Namespace) -> int:
    password = _new_password()
    if not password:
        print("No password: set HIS_NEW_PASSWORD or type it twice the same.")
        return 1
    try:
        with db.session() as session:
            user = create_account(
                session=session,
                login_id=args.login,
                display_name=args.name,
                role=args.role,
                clinic_name=args.clinic or get_settings().clinic_name,
                password=password,
                actor=Actor(login_id="cli"),
            )
            created = f"Account {user.login_id} ({user.role}) created."
    except (AccountError, PasswordRejected) as exc:
        print(f"Account not created: {exc.message}")
        return 1
    print(created)
    return 0


def integrity_check() -> int:
    settings = get_settings()
    try:
        with db.session() as session:
            result = integrity.run_check(
                session=session,
                data_dir=settings.data_dir,
                zone=clinic_zone(),
                system_trust=bool(settings.tsa_url),
            )
    except HisError as exc:
        print(f"Integrity check not run: {exc.message}")
        return 1
    for failure in result.failures:
        print(
            f"record {failure.record_id} version {failure.version} "
            f"(document {failure.document_id}, PAdES {failure.level or '?'}): "
            f"{failure.reason}"
        )
    for below in result.below_lta:
        print(
            f"record {below.record_id} version {below.version} "
            f"(document {below.document_id}): PAdES {below.level}, not B-LTA"
        )
    if result.failed > len(result.failures):
        print(f"... and {result.failed - len(result.failures)} more failed documents")
    if not result.audit_ok:
        print(f"audit log: {result.audit_message}")
    levels = ", ".join(
        f"{level or 'unreadable'}: {count}" for level, count in result.levels.items()
    )
    print(f"PAdES levels: {levels or 'no signed PDFs'}")
    chain = "intact" if result.audit_ok else "BROKEN"
    print(
        f"Checked {result.checked} signed PDFs in {result.seconds:.1f} s "
        f"({result.ms_per_document:.0f} ms each): {result.failed} failed; audit "
        f"chain {chain} (report {result.report_id})."
    )
    return 0 if result.ok else 1


def renew_archive_timestamps(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        with db.session() as session:
            result = archive_renewal.renew_archive_timestamps(
                session=session,
                kek=deps.kek(),
                data_dir=settings.data_dir,
                policy=RenewalPolicy.from_settings(settings),
                actor=Actor(login_id="cli"),
                force=args.force,
                dry_run=args.dry_run,
            )
    except HisError as exc:
        print(f"Archive timestamps not renewed: {exc.message}")
        return 1
    if result.dry_run:
        for item in result.renewed:
            print(f"would renew {item.line()}")
    for item in result.failed:
        print(f"failed {item.line()}")
    print(result.summary())
    return 1 if result.failed else 0


COMMANDS = {
    "init": lambda args: init(history=not args.no_demo_history),
    "preflight": lambda _args: preflight(),
    "verify-audit": lambda _args: verify_audit(),
    "anchor-audit": lambda _args: anchor_audit(),
    "integrity-check": lambda _args: integrity_check(),
    "create-user": create_user,
    "renew-archive-timestamps": renew_archive_timestamps,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m his_portal.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("preflight", "verify-audit", "anchor-audit", "integrity-check"):
        commands.add_parser(name)
    commands.add_parser("init").add_argument(
        "--no-demo-history",
        action="store_true",
        help="demo mode: skip the chain's signed 90-day history (slow)",
    )
    renew = commands.add_parser(
        "renew-archive-timestamps", help="renew the archive timestamps that are due"
    )
    renew.add_argument(
        "--dry-run", action="store_true", help="list what would be renewed"
    )
    renew.add_argument(
        "--force", action="store_true", help="renew every B-LTA file, due or not"
    )
    user = commands.add_parser("create-user", help="create an account")
    user.add_argument("login")
    user.add_argument("name")
    user.add_argument("role", choices=("doctor", "manager", "admin"))
    user.add_argument("--clinic", default="")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
