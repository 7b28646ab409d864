"""签名状态通知 in Chromium: a manager's 催签 (through the service, as the 签名监控
button calls it) → the doctor's header badge shows the count, updates by itself
while the page is open, 通知 opens 个人中心 → 签名状态通知, 标为已读 and 全部标为已读
bring the badge down."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app_env import app_data_dir, run_in_app
from tests.e2e.test_auth_journeys import login, shot, url_path

pytestmark = pytest.mark.e2e

DOCTOR = "sh-feihuan@8112"
MANAGER = "sh-manager@8112"
# Run in the app's own environment (its data dir and KEK: audit entries MAC'd
# under the app's key), as the 签名监控 page's 催签 button calls it.
REMIND = """
import json, sys
from sqlmodel import select
from his_portal import db
from his_portal.models import Clinic, MedicalRecord, Patient, SignStatus, User
from his_portal.services import notifications
from his_portal.services.audit import Actor
from his_portal.services.auth import view_of

count = int(sys.argv[1])
with db.session() as s:
    def person(login):
        user = s.exec(select(User).where(User.login_id == login)).one()
        return view_of(user, s.get(Clinic, user.clinic_id))
    manager, doctor = person(sys.argv[2]), person(sys.argv[3])
    rows = s.exec(
        select(MedicalRecord.id, Patient.record_no)
        .join(Patient, Patient.id == MedicalRecord.patient_id)
        .where(MedicalRecord.doctor_id == doctor.id)
        .where(MedicalRecord.sign_status == SignStatus.UNSIGNED)
        .order_by(MedicalRecord.id)
        .limit(count)
    ).all()
    result = notifications.remind(
        s,
        manager=manager,
        doctor_id=doctor.id,
        record_ids=[row[0] for row in rows],
        sms=None,
        actor=Actor(manager.id, manager.login_id, "127.0.0.1", "e2e"),
    )
    print(json.dumps({
        "summary": result.summary,
        "record_nos": [row[1] for row in rows],
        "unread": notifications.unread_count(s, user=doctor),
    }))
"""


def remind(app_url: str, data_dir: Path, records: int) -> dict:
    return run_in_app(app_url, data_dir, REMIND, str(records), MANAGER, DOCTOR)


def badge(page: Page, unread: int):
    name = f"通知（{unread}条未读）" if unread else "通知（无未读）"
    return page.get_by_role("banner").get_by_role("link", name=name, exact=True)


def test_a_reminder_reaches_the_doctor_who_reads_it(
    page: Page, app_url: str, tmp_path_factory
):
    data_dir = app_data_dir(tmp_path_factory)
    first = remind(app_url, data_dir, 2)
    assert first["summary"].startswith("已向郑程发送催签通知（2份病历）")
    login(page, DOCTOR, "/workbench")
    expect(badge(page, first["unread"])).to_be_visible()

    # Live: a second reminder while the page is open shows without a reload.
    second = remind(app_url, data_dir, 1)
    assert second["unread"] == first["unread"] + 1
    expect(badge(page, second["unread"])).to_be_visible(timeout=40_000)
    shot(page, "notifications-badge.png")

    badge(page, second["unread"]).click()
    page.wait_for_url(url_path("/me"))
    expect(page.get_by_role("tab", name="签名状态通知")).to_have_attribute(
        "aria-selected", "true"
    )
    items = page.get_by_role("list", name="签名状态通知").get_by_role("listitem")
    newest = items.first
    expect(newest).to_contain_text("催签：请尽快签署病历")
    expect(newest).to_contain_text("未读")
    expect(newest).to_contain_text("来自：陈静")
    expect(newest).to_contain_text(
        f"陈静提醒您尽快签署以下1份病历：{second['record_nos'][0]}"
    )
    expect(items.nth(1)).to_contain_text("、".join(first["record_nos"]))
    expect(newest.get_by_role("link", name="查看病历")).to_have_attribute(
        "href", f"/search?q={second['record_nos'][0]}"
    )
    shot(page, "notifications-panel.png")

    newest.get_by_role("button", name="标为已读：催签：请尽快签署病历").click()
    expect(badge(page, second["unread"] - 1)).to_be_visible()
    expect(newest).to_contain_text("已读")
    expect(newest.get_by_role("button")).to_have_count(0)

    page.get_by_role("button", name="全部标为已读").click()
    expect(badge(page, 0)).to_be_visible()
    expect(page.get_by_role("button", name="全部标为已读")).to_be_disabled()

    # From another tab of 个人中心, the header link opens 签名状态通知 again.
    page.get_by_role("tab", name="个人信息").click()
    badge(page, 0).click()
    expect(page.get_by_role("tab", name="签名状态通知")).to_have_attribute(
        "aria-selected", "true"
    )
