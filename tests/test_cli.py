"""Operator commands."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from his_portal import db
from his_portal.cli import main
from his_portal.models import AuditEvent

pytestmark = pytest.mark.usefixtures("app_db")


def test_verify_audit_reports_intact_then_the_first_broken_entry(capsys):
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
            assert f"broken at entry {event.seq}: entry was altered" in out
        finally:
            event.detail = original
            session.add(event)
            session.commit()
    assert main(["verify-audit"]) == 0
