"""The production configuration in Chromium: PostgreSQL + Redis + three workers.

Several page loads and reloads spread the websocket connections over the workers;
the login, the page states and the data must hold across them.
"""

from __future__ import annotations

import urllib.request

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.test_auth_journeys import LIU, PASSWORD, url_path


def test_doctor_journey_across_workers(browser, prod_app_url: str, prod_db_url: str):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=prod_app_url, locale="zh-CN"
    )
    page = context.new_page()
    page.goto("/login")
    page.locator("#login-login_id").fill("sh-wangli@8112")
    page.locator("#login-password").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(url_path("/workbench"))
    expect(page.locator("main table tbody tr").first).to_be_visible()

    for _ in range(4):  # new websocket each time, any worker
        page.reload()
        expect(page.get_by_text("王莉", exact=True).first).to_be_visible()
        expect(page.locator("main table tbody tr").first).to_be_visible()
    page.goto("/me")
    page.get_by_label("* 证件号码:").fill("310104199002152222")
    page.get_by_label("* 联系手机:").fill("13800138001")
    page.get_by_role("button", name="保存").click()
    page.get_by_role("tab", name="实名认证").click()
    page.get_by_role("button", name="一键实名认证").click()
    expect(page.get_by_text("通过", exact=True)).to_be_visible()
    page.reload()
    page.get_by_role("tab", name="数字证书").click()
    expect(page.get_by_text("UID=user-", exact=False)).to_be_visible()

    search = page.get_by_placeholder("查询病历号/姓名/拼音")
    search.fill("lzz")
    search.press("Enter")
    page.wait_for_url(url_path("/search"))
    expect(page.get_by_role("rowheader", name=LIU)).to_be_visible()

    crl = urllib.request.urlopen(f"{prod_app_url}/pki/crl")
    assert crl.status == 200 and crl.headers["Content-Type"] == "application/pkix-crl"
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(url_path("/login"))
    page.goto("/workbench")
    page.wait_for_url(url_path("/login"))
    context.close()

    # The work landed in PostgreSQL, the server the workers share.
    engine = sa.create_engine(prod_db_url)
    with engine.connect() as connection:
        status = connection.execute(
            sa.text(
                'SELECT p.verification_status FROM doctorprofile p JOIN "user" u '
                "ON u.id = p.user_id WHERE u.login_id = 'sh-wangli@8112'"
            )
        ).scalar_one()
        revoked_sessions = connection.execute(
            sa.text("SELECT count(*) FROM usersession WHERE revoked_at IS NOT NULL")
        ).scalar_one()
    engine.dispose()
    assert status == "verified" and revoked_sessions == 1
