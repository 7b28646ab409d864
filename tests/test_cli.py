"""Operator commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from his_portal import db
from his_portal.cli import init, main
from his_portal.db import make_engine
from his_portal.models import AuditEvent, AuditHead, EarlierSignedFile, SignedDocument
from his_portal.services import audit
from his_portal.services.audit import Actor, anchor_head, clinic_tsa, record_event
from his_portal.services.pki.keyvault import mac_key
from tests.conftest import AUDIT_KEY

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.usefixtures("app_db")
def test_verify_audit_reports_intact_then_the_edited_entry(capsys):
    from tests.conftest import token_for

    token_for("sh-manager@8112")  # at least one audited login
    assert main(["verify-audit"]) == 0
    assert "Audit log intact" in capsys.readouterr().out
    with Session(db.get_engine()) as session:
        event = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).first()
        original = event.detail
        event.detail = '{"forged": true}'
        session.add(event)
        session.commit()
        try:
            assert main(["verify-audit"]) == 1
            out = capsys.readouterr().out
            assert out == (
                f"entry {event.seq}: MAC does not verify (entry edited or forged)\n"
            )
        finally:
            event.detail = original
            session.add(event)
            session.commit()
    assert main(["verify-audit"]) == 0


@pytest.mark.usefixtures("app_db")
def test_anchor_audit_anchors_the_head_once_and_verify_audit_reports_it(capsys):
    from tests.conftest import token_for

    assert init() == 0  # the clinic CA and TSA (idempotent)
    token_for("sh-manager@8112")
    capsys.readouterr()
    assert main(["anchor-audit"]) == 0
    out = capsys.readouterr().out
    seq = int(re.match(r"Anchored audit head at seq (\d+) \(", out).group(1))
    with Session(db.get_engine()) as session:
        assert session.get(AuditHead, 1).seq == seq
    assert main(["anchor-audit"]) == 0
    assert "unchanged since the latest anchor" in capsys.readouterr().out
    assert main(["verify-audit"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"Audit log intact: \d+ entries, \d+ anchors \(latest anchor at seq "
        rf"{seq}, \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \+0800\)\.\n",
        out,
    ), out


def _cli(env, *args):
    done = subprocess.run(
        [sys.executable, "-m", "his_portal.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


def test_verify_audit_in_a_real_process_catches_a_truncated_log(tmp_path):
    """The attack that used to pass: delete the newest entries and reset the head
    (recomputed as the old scheme wanted); here against anchors too."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("HIS_DB_URL", "HIS_KEK_FILE", "HIS_TSA_URL", "HIS_REDIS_URL")
    }
    env.update(HIS_DATA_DIR=str(tmp_path), HIS_DEMO_MODE="true")
    engine = make_engine(f"sqlite:///{tmp_path / 'his_portal.db'}")
    SQLModel.metadata.create_all(engine)
    assert _cli(env, "init", "--no-demo-history")[0] == 0
    kek = (tmp_path / "secrets" / "kek.bin").read_bytes()
    # This test process writes with the key the CLI derives from that KEK.
    audit.configure(mac_key(kek, "audit"))
    try:
        with Session(engine) as session:
            for index in range(6):
                record_event(
                    session=session,
                    actor=Actor(login_id="sh-manager@8112"),
                    action="test.event",
                    target=f"record:{index}",
                )
                if index == 4:
                    assert anchor_head(session=session, tsa=clinic_tsa(session, kek))
            session.commit()
    finally:
        audit.configure(AUDIT_KEY)
    code, out = _cli(env, "anchor-audit")
    assert code == 0 and out.startswith("Anchored audit head at seq 6 (")
    code, out = _cli(env, "verify-audit")
    assert code == 0
    assert out.startswith(
        "Audit log intact: 6 entries, 2 anchors (latest anchor at seq 6,"
    )

    with Session(engine) as session:
        for seq in (5, 6):
            session.delete(
                session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).one()
            )
        head = session.get(AuditHead, 1)
        newest = session.exec(select(AuditEvent).where(AuditEvent.seq == 4)).one()
        head.seq, head.hash = 4, newest.hash
        session.add(head)
        session.commit()
    engine.dispose()
    code, out = _cli(env, "verify-audit")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "head MAC does not verify (head forged: it claims seq 4; newest entries may "
        "have been deleted)"
    )
    assert re.fullmatch(
        r"log rolled back behind anchor at seq 5 \(.* \+0800\)", lines[1]
    ), lines
    assert re.fullmatch(
        r"log rolled back behind anchor at seq 6 \(.* \+0800\)", lines[2]
    ), lines
    assert len(lines) == 3


def _clean_env(tmp_path, **extra):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("HIS_") and name != "REDIS_URL"
    }
    return env | {"HIS_DATA_DIR": str(tmp_path)} | extra


def test_demo_providers_outside_demo_mode_stop_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "his_portal.cli", "init"],
        cwd=ROOT,
        env=_clean_env(tmp_path, HIS_DEMO_MODE="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("Configuration error: HIS_DEMO_MODE=false but ")
    for name in ("HIS_IDENTITY_PROVIDER", "HIS_SMS_PROVIDER", "HIS_FACE_PROVIDER"):
        assert f"{name}=demo" in lines[0]


def test_create_user_makes_a_first_admin_outside_demo_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'his_portal.db'}")
    SQLModel.metadata.create_all(engine)
    env = _clean_env(tmp_path)
    assert _cli(env, "init", "--no-demo-history")[0] == 0
    kek = (tmp_path / "secrets" / "kek.bin").read_bytes()
    weak = env | {"HIS_NEW_PASSWORD": "short"}
    code, out = _cli(weak, "create-user", "ops-admin", "运维管理员", "admin")
    assert code == 1 and "密码至少10位" in out
    strong = env | {"HIS_NEW_PASSWORD": "Clinic#Admin2026"}
    args = ("create-user", "ops-admin", "运维管理员", "admin", "--clinic", "新分院")
    assert _cli(strong, *args) == (0, "Account ops-admin (admin) created.\n")
    code, out = _cli(strong, *args)
    assert code == 1 and "已存在" in out
    audit.configure(mac_key(kek, "audit"))
    try:
        with Session(engine) as session:
            from his_portal.services.auth import authenticate

            _, user = authenticate(
                session=session,
                login_id="ops-admin",
                password="Clinic#Admin2026",
                session_hours=1,
            )
            assert (user.role, user.clinic_name) == ("admin", "新分院")
    finally:
        audit.configure(AUDIT_KEY)


def test_renew_archive_timestamps_lists_renews_and_reports_failures(tmp_path):
    """A clinic with one B-LTA record (its TSA certificate not near expiry), the
    command in a real process: a dry run lists nothing due, ``--force`` lists and
    then renews it, and a missing file is a failure line (exit status 1)."""
    from tests.services.identity.identity_helpers import KEK
    from tests.services.signing.test_record_signing import record_of, sign
    from tests.services.signing.test_verification import pinned_kit
    from tests.services.willingness.willingness_helpers import prepared_clinic

    engine = make_engine(f"sqlite:///{tmp_path / 'his_portal.db'}")
    SQLModel.metadata.create_all(engine)
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "kek.bin").write_bytes(KEK)
    with Session(engine) as session:
        prepared_clinic(session, records=3)
        record_id = record_of(session, "P120111201801313").id
        assert sign(session, record_id, tmp_path, signer=pinned_kit(session)).ok
        doc = session.exec(select(SignedDocument)).one()
    env, command = _clean_env(tmp_path), "renew-archive-timestamps"
    line = f"record {record_id} version 1 (document {doc.id})"
    assert _cli(env, command, "--dry-run") == (
        0,
        "Archive timestamps (dry run): would renew 0, skipped 1, failed 0.\n",
    )
    assert _cli(env, command, "--dry-run", "--force") == (
        0,
        f"would renew {line}: 强制续期\n"
        "Archive timestamps (dry run): would renew 1, skipped 0, failed 0.\n",
    )
    assert _cli(env, command, "--force") == (
        0,
        "Archive timestamps renewed 1, skipped 0, failed 0.\n",
    )
    with Session(engine) as session:
        renewed = session.get(SignedDocument, doc.id)
        assert renewed.sha256 != doc.sha256
        earlier = session.exec(select(EarlierSignedFile)).one()
        assert earlier.sha256 == doc.sha256
    (tmp_path / "signed" / renewed.file_name).unlink()
    assert _cli(env, command) == (
        1,
        f"failed {line}: 文件缺失\n"
        "Archive timestamps renewed 0, skipped 0, failed 1.\n",
    )
    engine.dispose()
