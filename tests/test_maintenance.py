"""The app's housekeeping round: audit anchor and orphan sweep, in one call."""

from __future__ import annotations

import os
import time

from sqlmodel import Session, select

from his_portal import db, maintenance
from his_portal.models import AuditAnchor
from his_portal.services.audit import Actor, record_event
from his_portal.settings import get_settings


def test_a_round_anchors_a_moved_head_once_and_sweeps(app_db):
    orphan = get_settings().data_dir / "signed" / "7" / ".v1-crash.pdf.tmp"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"%PDF-half")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    with Session(db.get_engine()) as session:
        record_event(session=session, actor=Actor(login_id="ops"), action="ops.test")
        session.commit()
        before = len(session.exec(select(AuditAnchor)).all())
    anchored, swept = maintenance.run_once()
    assert anchored and swept == 1 and not orphan.exists()
    assert maintenance.run_once() == (False, 0)  # nothing moved: no new anchor
    with Session(db.get_engine()) as session:
        assert len(session.exec(select(AuditAnchor)).all()) == before + 1
