"""签名监控 in Chromium as the chain's manager: KPIs (checked against a count of
the app's own database) and both charts, one 分院, the overdue records, a signed
PDF, the CSV export, 催签 → the doctor's 通知 badge and 签名状态通知, and the
refresh by itself."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.e2e.app_env import app_data_dir, run_in_app
from tests.e2e.test_auth_journeys import login, shot, submit_login, url_path
from tests.e2e.test_notifications_journey import badge

XUHUI = "上海维乐徐汇门诊"
XUHUI_DOCTORS = {"李明", "张敏", "赵磊"}
ZHAO_LEI = "xh-zhaolei@8113"
KPIS = ("病历数", "已签名", "待签名", "超期未签")
# The cards' definitions, counted here on the app's database without its
# services: a record belongs to the clinic-local day of its visit (created_at);
# 超期未签 is unsigned with the visit more than HIS_SIGN_DEADLINE_HOURS ago,
# 待签名 unsigned within it. Arguments: first day, last day ("" and "": 近7天, the
# last 7 clinic-local days, today included), 分院 ("" all), and a doctor's login
# id (or "") for their unsigned records (any day) and unread notifications.
COUNT = """
import json, sys
from datetime import UTC, date, datetime, time, timedelta
from sqlmodel import select
from his_portal import db
from his_portal.models import Clinic, MedicalRecord as R, Notification, User
from his_portal.settings import clinic_zone, get_settings

zone = clinic_zone()
today = datetime.now(zone).date()
first = date.fromisoformat(sys.argv[1]) if sys.argv[1] else today - timedelta(days=6)
last = date.fromisoformat(sys.argv[2]) if sys.argv[2] else today
clinic, doctor_login = sys.argv[3], sys.argv[4]
start = datetime.combine(first, time.min, tzinfo=zone)
end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
cutoff = datetime.now(UTC) - timedelta(hours=get_settings().sign_deadline_hours)
aware = lambda at: at if at.tzinfo else at.replace(tzinfo=UTC)
with db.session() as s:
    rows = s.exec(
        select(R.created_at, R.sign_status, Clinic.name, User.login_id)
        .join(Clinic, Clinic.id == R.clinic_id)
        .join(User, User.id == R.doctor_id)
    ).all()
    unread = s.exec(
        select(Notification.id)
        .join(User, User.id == Notification.user_id)
        .where(User.login_id == doctor_login, Notification.read_at == None)
    ).all()
shown = [
    (aware(at), status)
    for at, status, name, _ in rows
    if start <= aware(at) < end and clinic in ("", name)
]
signed = sum(status == "signed" for _, status in shown)
overdue = sum(status == "unsigned" and at < cutoff for at, status in shown)
doctor = [
    at for at, status, _, login in rows
    if login == doctor_login and status == "unsigned"
]
print(json.dumps({
    "from": first.isoformat(),
    "to": last.isoformat(),
    "病历数": len(shown),
    "已签名": signed,
    "待签名": len(shown) - signed - overdue,
    "超期未签": overdue,
    "doctor_unsigned": len(doctor),
    "doctor_overdue": sum(aware(at) < cutoff for at in doctor),
    "doctor_unread": len(unread),
}))
"""


def card(page: Page, label: str):
    return page.get_by_role("button", name=re.compile(f"^{label} \\d+，查看病历$"))


def card_value(page: Page, label: str) -> int:
    name = card(page, label).get_attribute("aria-label")
    return int(re.match(rf"^{label} (\d+)，", name).group(1))


def doctor_rows(page: Page):
    table = page.get_by_role("table", name=re.compile("^各医生签署情况"))
    return table.locator("tbody tr")


def direct_count(app_url: str, data_dir, first="", last="", clinic="", doctor=""):
    """The cards' figures counted in the database (see COUNT)."""
    return run_in_app(app_url, data_dir, COUNT, first, last, clinic, doctor)


def screen_dates(page: Page) -> tuple[str, str]:
    """The filter's dates on screen."""
    return (
        page.locator("#monitor-from").input_value(),
        page.locator("#monitor-to").input_value(),
    )


def assert_cards_match(page: Page, before: dict, after: dict) -> None:
    """The cards are the count made before the page computed them, or the one made
    after: a record may pass the deadline in between (the demo puts one there at
    start-up), not twice within seconds; when nothing did, the two are the same."""
    shown = {label: card_value(page, label) for label in KPIS}
    assert shown in [
        {label: count[label] for label in KPIS} for count in (before, after)
    ]
    assert shown["病历数"] > 0


def column_sum(page: Page, index: int) -> int:
    cells = doctor_rows(page).locator(f"td:nth-child({index + 1})")
    return sum(int(text) for text in cells.all_inner_texts())


def test_the_chain_manager_follows_signing(
    page: Page, new_page, app_url: str, tmp_path_factory
):
    data_dir = app_data_dir(tmp_path_factory)
    before = direct_count(app_url, data_dir)
    login(page, "sh-manager@8112", "/manage")
    expect(page.get_by_role("heading", name="管理中心 · 签名监控")).to_be_visible()
    expect(page.get_by_role("radio", name="近7天")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(card(page, "病历数")).to_be_visible()
    cards = page.get_by_role("group", name="签署指标")
    for label in ("签署完成率", "签署时长中位数", "签署时长P90"):
        expect(cards.get_by_text(label, exact=True)).to_be_visible()
    # Both charts drew bars; the per-doctor table adds up to the cards.
    expect(page.locator(".recharts-wrapper")).to_have_count(2)
    expect(page.locator(".recharts-bar-rectangle").first).to_be_visible()
    # Columns (after the 医生 header cell): 账号 病历数 已签名 待签名 超期未签 …
    expect(doctor_rows(page).first).to_be_visible()
    assert column_sum(page, 2) == card_value(page, "病历数")
    assert column_sum(page, 5) == card_value(page, "超期未签")
    assert screen_dates(page) == (before["from"], before["to"])
    assert_cards_match(
        page, before, direct_count(app_url, data_dir, *screen_dates(page))
    )
    shot(page, "manage-dashboard.png")
    # The trend chart's data, one row a day.
    page.locator("summary", has_text="每日签署情况（表格）").click()
    daily = page.get_by_role("table", name=re.compile("^每日签署情况"))
    expect(daily.locator("tbody tr")).to_have_count(7)

    # One 分院 over 90 days: only its doctors.
    page.get_by_role("radio", name="近90天").click()
    expect(page.get_by_role("radio", name="近90天")).to_have_attribute(
        "aria-checked", "true"
    )
    last = date.fromisoformat(screen_dates(page)[1])
    expect(page.locator("#monitor-from")).to_have_value(
        (last - timedelta(days=89)).isoformat()
    )
    before = direct_count(app_url, data_dir, *screen_dates(page), XUHUI)
    page.locator("#monitor-clinic").select_option(label=XUHUI)
    expect(doctor_rows(page)).to_have_count(len(XUHUI_DOCTORS))
    names = set(doctor_rows(page).locator("th").all_inner_texts())
    assert names == XUHUI_DOCTORS
    after = direct_count(app_url, data_dir, *screen_dates(page), XUHUI)
    assert_cards_match(page, before, after)
    page.locator("#monitor-doctor").select_option(label="赵磊")
    expect(doctor_rows(page)).to_have_count(1)
    page.locator("#monitor-doctor").select_option(label="全部医生")
    expect(doctor_rows(page)).to_have_count(len(XUHUI_DOCTORS))
    shot(page, "manage-branch.png")

    # 超期未签: the records behind the number.
    overdue = card_value(page, "超期未签")
    assert overdue > 0
    card(page, "超期未签").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="超期未签")).to_be_visible()
    expect(dialog.get_by_text(f"共{overdue}条", exact=False)).to_be_visible()
    statuses = dialog.locator("tbody tr td:nth-child(8)").all_inner_texts()
    assert statuses and all(s.startswith("超期未签") for s in statuses)
    shot(page, "manage-overdue.png")
    first = dialog.locator("tbody tr").first
    first.get_by_role("checkbox").click()
    expect(dialog.get_by_role("button", name=re.compile("催签所选"))).to_be_enabled()
    dialog.get_by_role("button", name=re.compile("催签所选")).click()
    expect(
        page.locator("[data-sonner-toast]", has_text="发送催签通知").first
    ).to_be_visible()
    with page.expect_download() as download:
        dialog.get_by_role("button", name="导出病历 CSV").click()
    records = download.value.path().read_bytes()
    assert records.startswith(b"\xef\xbb\xbf") and "超期未签".encode() in records
    dialog.get_by_role("button", name="关闭").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # 已签名: a signed PDF opens through its single-use link.
    card(page, "已签名").click()
    dialog = page.get_by_role("dialog")
    view = dialog.get_by_role("button", name=re.compile("^查看签名文件 ")).first
    served = []

    def keep(route):
        answer = route.fetch()
        served.append((answer.status, answer.headers["content-type"], answer.body()))
        route.fulfill(response=answer)

    page.context.route(re.compile(r"/files/signed/"), keep)
    with page.expect_popup():
        view.click()
    for _ in range(100):
        if served:
            break
        page.wait_for_timeout(100)
    status, kind, body = served[0]
    assert status == 200 and kind.startswith("application/pdf")
    assert body.startswith(b"%PDF")
    dialog.get_by_role("button", name="关闭").click()

    # 导出 CSV: one row per doctor on screen, Excel-ready.
    with page.expect_download() as download:
        page.get_by_role("button", name="导出各医生签署情况 CSV").click()
    data = download.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("医生,账号,分院,病历数")
    assert {line.split(",")[0] for line in lines[1:]} == XUHUI_DOCTORS

    # 催签 a doctor from the table: 赵磊, logged in elsewhere, sees it.
    doctor = new_page()
    submit_login(doctor, ZHAO_LEI)  # his 医生工作 may list nothing today
    doctor.wait_for_url(url_path("/workbench"))
    unread = direct_count(app_url, data_dir, doctor=ZHAO_LEI)["doctor_unread"]
    expect(badge(doctor, unread)).to_be_visible()
    row = doctor_rows(page).filter(has_text="赵磊")
    row.get_by_role("button", name="催签 赵磊").click()
    expect(
        page.locator("[data-sonner-toast]", has_text="已向赵磊发送催签通知").first
    ).to_be_visible()
    pending = direct_count(app_url, data_dir, doctor=ZHAO_LEI)
    doctor.reload()
    expect(badge(doctor, unread + 1)).to_be_visible()
    badge(doctor, unread + 1).click()
    doctor.wait_for_url(url_path("/me"))
    expect(doctor.get_by_role("tab", name="签名状态通知")).to_have_attribute(
        "aria-selected", "true"
    )
    newest = (
        doctor.get_by_role("list", name="签名状态通知").get_by_role("listitem").first
    )
    expect(newest).to_contain_text("催签：请尽快签署病历")
    expect(newest).to_contain_text("未读")
    expect(newest).to_contain_text("来自：陈静")
    expect(newest).to_contain_text(
        f"陈静提醒您尽快签署待签病历：共{pending['doctor_unsigned']}份，"
        f"其中{pending['doctor_overdue']}份已超过"
    )
    shot(doctor, "manage-remind-doctor.png")

    # The open page refreshes by itself.
    stamp = page.get_by_text(re.compile("更新于"))
    before = stamp.inner_text()
    expect(stamp).not_to_have_text(before, timeout=45_000)
