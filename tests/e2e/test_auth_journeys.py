"""Login, the portal shell, the doctor's first screens, lockout and logout, in Chromium.

The app's database is shared by every test of the session (see conftest.py), so
lockout-related tests each use their own account: ``sh-wangli@8112`` is failed
only in the lockout test, and the enumeration test uses a made-up login id.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browsing import ARTIFACTS

pytestmark = pytest.mark.e2e

expect.set_options(timeout=15_000)

PASSWORD = "Demo@2026"
CLINIC = "上海维乐海趣路门诊"
BAD_CREDENTIALS = "账号或密码错误"
LOCKED = "登录失败次数过多，账号已锁定，请15分钟后再试"
MAX_FAILURES = 5

MENU = (
    "医生工作",
    "现场咨询",
    "患者中心",
    "预约中心",
    "管理中心",
    "库存中心",
    "报表中心",
    "系统管理",
    "个人中心",
)
OUTSIDE_PRODUCT = ("现场咨询", "患者中心", "预约中心", "库存中心", "报表中心")
# The tutorial's 已完善病历 header row, as it reads; the checkbox column has no text.
TUTORIAL_RECORD_HEADER = (
    "签署状态 姓名 病历号 分院 医生 挂号项目 创建时间 过期时间 签署者 锁定状态"
)
RECORD_COLUMNS = ("", *TUTORIAL_RECORD_HEADER.split(), "操作")
LIU = "刘作榛"
LIU_NO = "P120111201801313"

# id, login id, display name, home path, menu label of the home page
ACCOUNTS = (
    ("doctor", "sh-feihuan@8112", "郑程", "/workbench", "医生工作"),
    ("doctor-wangli", "sh-wangli@8112", "王莉", "/workbench", "医生工作"),
    ("manager", "sh-manager@8112", "陈静", "/manage", "管理中心"),
    ("admin", "sh-admin@8112", "系统管理员", "/admin", "系统管理"),
)


def url_path(path: str) -> re.Pattern[str]:
    """Matches the page URL whose path is ``path`` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}/?(\?.*)?$")


def submit_login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    """Open /login and submit the form."""
    page.goto("/login")
    page.locator("#login-login_id").fill(login_id)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def login(page: Page, login_id: str, home: str, password: str = PASSWORD) -> None:
    """Log in and wait for the role's home page and its data."""
    submit_login(page, login_id, password)
    page.wait_for_url(url_path(home))
    expect(page.locator("main table tbody tr").first).to_be_visible()


def refused(page: Page, login_id: str, password: str) -> str:
    """Submit once from a new tab (its own Reflex state, so no stale message) and
    return the error shown; the tab stays on /login."""
    tab = page.context.new_page()
    try:
        submit_login(tab, login_id, password)
        alert = tab.get_by_role("alert")
        expect(alert).to_be_visible()
        expect(tab).to_have_url(url_path("/login"))
        return alert.inner_text().strip()
    finally:
        tab.close()


def shot(page: Page, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# --- login and the shell ----------------------------------------------------------


def test_login_page_renders(page: Page):
    page.goto("/login")
    expect(page.get_by_role("heading", name="牙医云 HIS")).to_be_visible()
    expect(page.get_by_text(CLINIC)).to_be_visible()
    expect(page.get_by_label("账号")).to_be_visible()
    expect(page.get_by_label("密码")).to_have_attribute("type", "password")
    shot(page, "login.png")


def test_the_login_form_cannot_post_the_password_natively(app_url: str):
    """The page as served, before its script runs: the form posts nothing by
    itself (a click there would put the password in the URL) and its button waits
    until the page is live; then it is enabled."""
    with urllib.request.urlopen(f"{app_url}/login", timeout=10) as response:
        served = response.read().decode()
    assert 'method="post"' in re.search(r"<form[^>]*>", served).group()
    assert " disabled" in re.search(r'<button[^>]*type="submit"[^>]*>', served).group()


def test_the_login_button_is_enabled_once_the_page_is_live(page: Page):
    page.goto("/login")
    expect(page.get_by_role("button", name="登录", exact=True)).to_be_enabled()


@pytest.mark.parametrize(
    ("role", "login_id", "name", "home", "home_label"),
    ACCOUNTS,
    ids=[account[0] for account in ACCOUNTS],
)
def test_login_lands_on_role_home_inside_the_shell(
    page: Page, role, login_id, name, home, home_label
):
    login(page, login_id, home)

    menu = page.locator('nav[aria-label="主菜单"] .menu-item')
    expect(menu).to_have_text(list(MENU))
    for label in OUTSIDE_PRODUCT:
        expect(menu.filter(has_text=label)).to_have_attribute("aria-disabled", "true")
    active = page.locator('nav[aria-label="主菜单"] [aria-current="page"]')
    expect(active).to_have_count(1)
    expect(active).to_have_text(home_label)

    header = page.locator("header.app-header")
    expect(header.get_by_role("heading", name=CLINIC)).to_be_visible()
    expect(header.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    shot(page, f"shell-{role}.png")


# --- the doctor's screens ---------------------------------------------------------


def test_doctor_workbench_lists_today_and_filters_by_record_no(page: Page):
    login(page, "sh-feihuan@8112", "/workbench")

    expect(page.locator("main table thead th")).to_have_text(list(RECORD_COLUMNS))
    rows = page.locator("main table tbody tr")
    liu = rows.filter(has_text=LIU_NO)
    expect(liu).to_have_count(1)
    expect(liu).to_contain_text(LIU)
    expect(liu).to_contain_text("郑程")
    expect(rows.filter(has_text="王莉")).to_have_count(0)  # only the doctor's own
    assert rows.count() > 1

    page.locator("#wb-record-no").fill(LIU_NO)
    page.get_by_role("button", name="查询", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(LIU)
    expect(rows).to_contain_text(LIU_NO)
    expect(page.get_by_text("共1条")).to_be_visible()


def test_header_search_by_pinyin_initials(page: Page):
    login(page, "sh-feihuan@8112", "/workbench")

    search = page.locator("#header-search")
    search.fill("lzz")
    search.press("Enter")
    page.wait_for_url(url_path("/search"))
    assert "q=lzz" in page.url
    hits = page.locator("main table tbody tr")
    expect(hits.filter(has_text=LIU)).to_have_count(1)
    expect(hits.filter(has_text=LIU)).to_contain_text(LIU_NO)


# --- wrong passwords and lockout --------------------------------------------------


def test_wrong_password_is_refused_on_the_login_page(page: Page):
    submit_login(page, "sh-feihuan@8112", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text(BAD_CREDENTIALS)
    expect(page).to_have_url(url_path("/login"))
    shot(page, "login-error.png")


def test_unknown_account_gets_the_same_answers_as_a_real_one(page: Page):
    login_id = "sh-nobody-e2e@8112"
    for attempt in range(1, MAX_FAILURES):
        assert refused(page, login_id, "wrong-Pass1") == BAD_CREDENTIALS, attempt
    assert refused(page, login_id, "wrong-Pass1") == LOCKED
    assert refused(page, login_id, PASSWORD) == LOCKED


def test_lockout_then_admin_unlocks(page: Page, new_page):
    wangli = "sh-wangli@8112"
    for attempt in range(1, MAX_FAILURES):
        assert refused(page, wangli, "wrong-Pass1") == BAD_CREDENTIALS, attempt
    assert refused(page, wangli, "wrong-Pass1") == LOCKED
    # The right password does not help while locked.
    assert refused(page, wangli, PASSWORD) == LOCKED

    admin = new_page()
    login(admin, "sh-admin@8112", "/admin")
    row = admin.get_by_role("row").filter(has_text=wangli)
    expect(row).to_contain_text("王莉")
    expect(row).to_contain_text("已锁定至")
    unlock = admin.get_by_role("button", name=f"解锁账号 {wangli}")
    shot(admin, "admin-locked.png")
    unlock.click()
    expect(row).to_contain_text("正常")
    expect(unlock).to_have_count(0)

    login(page, wangli, "/workbench")
    expect(page.locator("header.app-header")).to_contain_text("王莉")


# --- guards and logout ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/workbench", "/manage", "/admin", "/me"])
def test_logged_out_user_is_sent_to_login(page: Page, path):
    page.goto(path)
    page.wait_for_url(url_path("/login"))
    expect(page.locator("#login-login_id")).to_be_visible()


def test_doctor_opening_admin_is_sent_to_workbench(page: Page):
    login(page, "sh-feihuan@8112", "/workbench")
    page.goto("/admin")
    page.wait_for_url(url_path("/workbench"))
    expect(page.locator("main table tbody tr").first).to_be_visible()
    expect(page.get_by_text("系统管理 · 账号")).to_have_count(0)


def test_logout_revokes_the_session_on_the_server(page: Page, new_page):
    login(page, "sh-feihuan@8112", "/workbench")
    token = page.evaluate("localStorage.getItem('his_session')")
    assert token, "the session token is kept in localStorage his_session"

    def open_with_token(tab: Page, path: str) -> None:
        tab.goto("/login")
        expect(tab.locator("#login-login_id")).to_be_visible()
        tab.evaluate("t => localStorage.setItem('his_session', t)", token)
        tab.goto(path)

    # Control: the token alone opens the workbench in another browser.
    other = new_page()
    open_with_token(other, "/workbench")
    expect(other.locator("header.app-header")).to_contain_text("郑程")
    expect(other).to_have_url(url_path("/workbench"))

    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(url_path("/login"))
    assert not page.evaluate("localStorage.getItem('his_session')")
    page.goto("/workbench")
    page.wait_for_url(url_path("/login"))

    # The old token is dead on the server: putting it back does not log in again.
    open_with_token(page, "/workbench")
    page.wait_for_url(url_path("/login"))
    other.goto("/workbench")
    other.wait_for_url(url_path("/login"))
    expect(other.locator("#login-login_id")).to_be_visible()


# --- small screens ----------------------------------------------------------------


def phone_workbench(new_page) -> Page:
    phone = new_page(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    login(phone, "sh-feihuan@8112", "/workbench")
    phone.evaluate("document.fonts.ready.then(() => true)")
    return phone


def test_phone_workbench_has_no_horizontal_overflow(new_page):
    phone = phone_workbench(new_page)
    shot(phone, "phone-workbench.png")
    widths = phone.evaluate(
        """() => {
            const main = document.querySelector('main');
            return {
                doc: document.documentElement.scrollWidth,
                main: main.scrollWidth,
                mainVisible: main.clientWidth,
                wide: [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > 392)
                    .slice(0, 5)
                    .map(e => e.tagName + '.' + e.className + ' ' +
                         Math.round(e.getBoundingClientRect().right)),
            };
        }"""
    )
    assert widths["doc"] <= 390 + 2, widths
    # Wide tables scroll inside their own scroll area, not the whole main area.
    assert widths["main"] <= widths["mainVisible"] + 2, widths


# Short Chinese labels and table cells: one line each (CJK text may break between
# any two characters, so a squeezed column shows one character per line).
LINES_OF_TEXT = """els => els.flatMap(el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const found = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()]
            .filter(r => r.width > 0).map(r => Math.round(r.top)));
        found.push([node.textContent.trim(), tops.size]);
    }
    return found;
})"""


def test_phone_workbench_keeps_labels_and_cells_on_one_line(new_page):
    phone = phone_workbench(new_page)
    lines = phone.locator(
        "main label:not(.sr-only), main table th, main table td"
    ).evaluate_all(LINES_OF_TEXT)
    wrapped = [text for text, count in lines if text and count > 1]
    assert not wrapped, wrapped


def test_desktop_header_is_one_row(page: Page):
    login(page, "sh-feihuan@8112", "/workbench")

    def middle(locator) -> float:
        box = locator.bounding_box()
        return box["y"] + box["height"] / 2

    row = middle(page.locator("header.app-header h1"))
    header = page.locator("header.app-header")
    for part in (page.locator("#header-search"), header.get_by_text("郑程")):
        assert abs(middle(part) - row) < 12
