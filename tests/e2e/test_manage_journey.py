"""签名监控 in Chromium as the chain's manager: KPIs and both charts, one 分院, the
overdue records, a signed PDF, the CSV export, 催签 and the refresh by itself."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.test_auth_journeys import login, shot

XUHUI = "上海维乐徐汇门诊"
XUHUI_DOCTORS = {"李明", "张敏", "赵磊"}


def card(page: Page, label: str):
    return page.get_by_role("button", name=re.compile(f"^{label} \\d+，查看病历$"))


def card_value(page: Page, label: str) -> int:
    name = card(page, label).get_attribute("aria-label")
    return int(re.match(rf"^{label} (\d+)，", name).group(1))


def doctor_rows(page: Page):
    table = page.get_by_role("table", name=re.compile("^各医生签署情况"))
    return table.locator("tbody tr")


def column_sum(page: Page, index: int) -> int:
    cells = doctor_rows(page).locator(f"td:nth-child({index + 1})")
    return sum(int(text) for text in cells.all_inner_texts())


def test_the_chain_manager_follows_signing(page: Page, tmp_path):
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
    page.locator("#monitor-clinic").select_option(label=XUHUI)
    expect(doctor_rows(page)).to_have_count(len(XUHUI_DOCTORS))
    names = set(doctor_rows(page).locator("th").all_inner_texts())
    assert names == XUHUI_DOCTORS
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

    # 催签 a doctor from the table.
    row = doctor_rows(page).filter(has_text="赵磊")
    row.get_by_role("button", name="催签 赵磊").click()
    expect(
        page.locator("[data-sonner-toast]", has_text="已向赵磊发送催签通知").first
    ).to_be_visible()

    # The open page refreshes by itself.
    stamp = page.get_by_text(re.compile("更新于"))
    before = stamp.inner_text()
    expect(stamp).not_to_have_text(before, timeout=45_000)
