"""axe-core in Chromium on every page and dialog each role reaches: no violation of
impact ``serious`` or ``critical`` (the colour pairs chosen in styles.css:
tests/test_colour_contrast.py).

Shared state (conftest.py: one database for the whole session): 郑程's profile
must stay as test_identity_journey expects it (never saved here), so the journeys
that need a verified doctor use 王莉 and end with 解除 (back to 未验证, 电子签名
off, no personal seal saved), as test_seal_journey expects to find her. The
``wang_li`` fixture does that even when a test fails half-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.test_auth_journeys import LIU_NO, login, shot, url_path
from tests.e2e.test_signing_journey import qr_target

WANG = "sh-wangli@8112"
WANG_ID = "310104199002152222"  # the demo identity registry's 王莉
WANG_MOBILE = "13800138001"
BLOCKING = ("serious", "critical")
AXE = Axe()

# Animations and transitions still running (infinite ones, e.g. a spinner, aside):
# axe would measure colours half-way through a fade.
ANIMATING = """() => document.getAnimations().filter(a =>
    a.playState === 'running' && a.effect &&
    a.effect.getComputedTiming().iterations !== Infinity).length === 0"""


# --- running axe ------------------------------------------------------------------


class Audit:
    """Runs axe on a page and keeps every serious or critical violation found."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.pages = 0

    def __call__(self, page: Page, where: str) -> None:
        page.evaluate("document.fonts.ready.then(() => true)")
        page.wait_for_function(ANIMATING, timeout=10_000)
        response = AXE.run(page).response
        self.pages += 1
        blocking = [v for v in response["violations"] if v["impact"] in BLOCKING]
        minor = sorted(
            {v["id"] for v in response["violations"] if v["impact"] not in BLOCKING}
        )
        print(f"axe [{where}]: {len(blocking)} serious/critical; minor: {minor}")
        for violation in blocking:
            for node in violation["nodes"]:
                summary = " ".join(node.get("failureSummary", "").split())
                line = (
                    f"[{where}] {violation['id']} ({violation['impact']}) "
                    f"{node['target']}: {summary}"
                )
                print("  " + line)
                self.found.append(line)

    def check(self) -> None:
        assert self.pages, "axe ran on no page"
        assert not self.found, (
            f"{len(self.found)} serious/critical axe violations:\n"
            + "\n".join(self.found)
        )


@pytest.fixture
def audit(request) -> Iterator[Audit]:
    """Checked after the test (all pages' findings at once), unless it failed."""
    auditor = Audit()
    yield auditor
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        auditor.check()


@pytest.fixture
def calm_page(new_page) -> Page:
    """A 1280×800 page that asks for reduced motion (no dialog fade-ins)."""
    return new_page(reduced_motion="reduce")


# --- 王莉, verified for a while ---------------------------------------------------


def wang_ready(page: Page, audit: Audit | None = None) -> None:
    """王莉 (logged in): profile saved, 实名认证 通过, 电子签名 on, from any state;
    with ``audit``, each 个人中心 tab is audited in the verified state."""
    page.get_by_role("link", name="个人中心").click()
    page.get_by_label("* 证件号码:").fill(WANG_ID)
    page.get_by_label("* 联系手机:").fill(WANG_MOBILE)
    page.get_by_role("button", name="保存").click()
    expect(page.locator("[data-sonner-toast]", has_text="已保存").first).to_be_visible()
    page.get_by_role("tab", name="实名认证").click()
    status = page.get_by_text(re.compile(r"^(通过|未验证)$")).first
    expect(status).to_be_visible()  # the tab has rendered: is_visible() does not wait
    if status.inner_text() == "未验证":
        page.get_by_role("button", name="一键实名认证").click()
    expect(page.get_by_text("通过", exact=True)).to_be_visible()
    if audit:
        audit(page, "王莉 个人中心 · 实名认证 (通过)")
        page.get_by_role("tab", name="数字证书").click()
        expect(page.get_by_text("SHA-256 指纹")).to_be_visible()
        audit(page, "王莉 个人中心 · 数字证书")
    page.get_by_role("tab", name="个性设置").click()
    switch = page.get_by_role("switch")
    if switch.get_attribute("aria-checked") != "true":
        switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")


def wang_reset(page: Page) -> None:
    """Back to 未验证 (解除 if verified), which also turns 电子签名 off."""
    page.goto("/me")
    page.get_by_role("tab", name="实名认证").click()
    status = page.get_by_text(re.compile(r"^(通过|未验证|人工审核中)$")).first
    expect(status).to_be_visible()
    if status.inner_text() == "通过":
        page.get_by_role("button", name="解除").click()
        page.get_by_role("button", name="确认解除").click()
    expect(page.get_by_text("未验证", exact=True)).to_be_visible()


@pytest.fixture
def wang_li(new_page) -> Iterator[Page]:
    """王莉 logged in on the workbench (reduced motion); afterwards 未验证 again,
    whatever the test did or failed to do."""
    page = new_page(reduced_motion="reduce")
    login(page, WANG, "/workbench")
    yield page
    tidy = new_page()
    login(tidy, WANG, "/workbench")
    wang_reset(tidy)


def open_tab(page: Page, label: str) -> None:
    """A workbench tab (segmented control), once its content has loaded."""
    page.get_by_role("radio", name=label).click()
    expect(page.get_by_role("radio", name=label)).to_have_attribute(
        "aria-checked", "true"
    )
    column = "预约时间" if label == "今日预约" else "签署状态"
    expect(page.locator("main table thead").get_by_text(column)).to_be_visible()


def unsigned_rows(page: Page):
    return page.locator("main table tbody tr", has_text="未签名")


# --- the pages --------------------------------------------------------------------


def test_login_page(calm_page: Page, audit: Audit):
    page = calm_page
    page.goto("/login")
    expect(page.locator("#login-login_id")).to_be_visible()
    expect(page.get_by_role("main")).to_have_count(1)
    audit(page, "登录")
    shot(page, "a11y-login.png")
    # An account nobody has: its failures lock nothing the other tests use.
    page.locator("#login-login_id").fill("sh-a11y-nobody@8112")
    page.locator("#login-password").fill("wrong-Pass1")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit(page, "登录 · 账号或密码错误")


def test_doctor_pages(calm_page: Page, audit: Audit):
    """郑程 as the demo leaves him (not verified): nothing here saves anything."""
    page = calm_page
    login(page, "sh-feihuan@8112", "/workbench")
    audit(page, "郑程 医生工作 · 今日就诊")
    shot(page, "a11y-workbench.png")
    for label in ("今日预约", "待完善病历", "已完善病历"):
        open_tab(page, label)
        audit(page, f"郑程 医生工作 · {label}")

    search = page.locator("#header-search")
    search.fill("")
    search.press("Enter")
    expect(page.locator("[data-sonner-toast]").first).to_be_visible()
    audit(page, "郑程 搜索为空 · 提示")
    search.fill("lzz")
    search.press("Enter")
    page.wait_for_url(url_path("/search"))
    expect(page.locator("main table tbody tr").first).to_be_visible()
    audit(page, "郑程 患者查询")

    page.get_by_role("link", name="个人中心").click()
    expect(page.get_by_label("* 姓名:")).to_have_value("郑程")
    audit(page, "郑程 个人中心 · 个人信息")
    # A wrong check digit: the errors beside the fields (nothing is saved).
    page.get_by_label("* 证件号码:").fill("310101198503120015")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#pf-id_number-error")).to_be_visible()
    audit(page, "郑程 个人中心 · 个人信息 (错误提示)")
    for tab, sign in (
        ("实名认证", "一键实名认证"),
        ("数字证书", "尚无有效的数字证书"),
        ("签名状态通知", None),
        ("个性设置", "完成实名认证后"),
    ):
        page.get_by_role("tab", name=tab).click()
        shown = page.get_by_role("tabpanel", name=tab)
        expect(shown.get_by_text(sign).first if sign else shown).to_be_visible()
        audit(page, f"郑程 个人中心 · {tab} (未验证)")


def test_verified_doctor_dialogs_and_the_phone_page(
    wang_li: Page, audit: Audit, browser, app_url
):
    """王莉 verified: 个人中心 tabs, the seal editor, 意愿校验 (SMS and QR), /dev/sms,
    the phone page, 签署 (one record really signed), 签名详情, 撤销签名, 解除."""
    page = wang_li
    wang_ready(page, audit)
    audit(page, "王莉 个人中心 · 个性设置 (电子签名已开启)")
    page.get_by_role("button", name="设置个性签章").click()
    editor = page.get_by_role("dialog")
    expect(editor.get_by_text("设置个性签章")).to_be_visible()
    audit(page, "个性签章 编辑 · 拍照上传")
    # The named slider thumb (labelled_slider) still works from the keyboard.
    thumb = editor.get_by_role("slider", name="笔迹强度")
    expect(thumb).to_have_attribute("aria-valuenow", "50")
    thumb.press("ArrowRight")
    expect(thumb).to_have_attribute("aria-valuenow", "51")
    shot(page, "a11y-seal-editor.png")
    editor.get_by_role("tab", name="手写签名板").click()
    expect(editor.get_by_label("签名板：用鼠标或手指书写")).to_be_visible()
    audit(page, "个性签章 编辑 · 手写签名板")
    editor.get_by_role("button", name="取消").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("link", name="医生工作").click()
    expect(page.get_by_role("main").get_by_text("电子签名已开启")).to_be_visible()
    audit(page, "王莉 医生工作 · 今日就诊 (电子签名已开启)")
    open_tab(page, "待完善病历")
    audit(page, "王莉 医生工作 · 待完善病历")

    # 批量签名 → 意愿校验 by SMS → /dev/sms → 签署 dialog (left with 撤销).
    page.locator("main table tbody").get_by_role("checkbox").first.click()
    expect(page.get_by_text("已选 1 条")).to_be_visible()
    page.get_by_role("button", name="批量签名").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("签名动作真实意愿校验")).to_be_visible()
    audit(page, "意愿校验 · 短信方式签署")
    dialog.get_by_role("button", name="获取验证码").click()
    expect(dialog.get_by_text("验证码已发送至 138****8001")).to_be_visible()
    audit(page, "意愿校验 · 验证码已发送")
    shot(page, "a11y-willingness.png")
    outbox = page.context.new_page()
    outbox.goto("/dev/sms")
    message = outbox.locator("tbody tr").first
    expect(message).to_contain_text("您正在签署1份病历")
    audit(outbox, "演示短信发件箱 /dev/sms")
    code = re.search(r"验证码(\d{6})", message.inner_text()).group(1)
    outbox.close()
    dialog.get_by_label("验证码").fill(code)
    dialog.get_by_role("button", name="确认").click()
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：王莉")).to_be_visible()
    expect(signing.get_by_role("img", name="签署内容预览")).to_be_visible()
    audit(page, "签署 (电子签) · 预览")
    shot(page, "a11y-signing-dialog.png")
    signing.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # One record: 意愿校验 by QR → the phone page → 签署 for real.
    row = unsigned_rows(page).first
    record_no = row.locator("td").nth(2).inner_text().strip()
    row.get_by_role("button", name=re.compile("^签名 ")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="微信人脸识别认证").click()
    dialog.get_by_role("button", name="点击生成二维码").click()
    expect(dialog.get_by_role("img", name="签名确认二维码")).to_be_visible()
    audit(page, "意愿校验 · 微信人脸识别认证 (二维码)")
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        base_url=app_url,
        locale="zh-CN",
        reduced_motion="reduce",
    )
    try:
        mobile = phone.new_page()
        mobile.goto(qr_target(page))
        expect(mobile.get_by_text("签署医生：王莉")).to_be_visible()
        audit(mobile, "手机 /confirm/<token> · 待确认")
        shot(mobile, "a11y-phone-confirm.png")
        mobile.get_by_role("button", name="开始人脸识别并确认签署").click()
        expect(
            mobile.get_by_text("演示模式：此处模拟人脸核身服务的页面")
        ).to_be_visible()
        audit(mobile, "手机 /confirm/<token> · 演示人脸核身")
        mobile.get_by_role("button", name="模拟人脸核验通过").click()
        expect(mobile.get_by_text("已确认，请回到电脑上继续签署")).to_be_visible()
        audit(mobile, "手机 /confirm/<token> · 已确认")
    finally:
        phone.close()
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：王莉")).to_be_visible(timeout=20_000)
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：1 / 1")).to_be_visible(timeout=60_000)
    audit(page, "签署 (电子签) · 完成")
    signing.get_by_role("button", name="关闭").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    open_tab(page, "已完善病历")
    signed = page.locator("main table tbody tr", has_text=record_no).first
    expect(signed).to_contain_text("已签名")
    audit(page, "王莉 医生工作 · 已完善病历 (已签名)")
    shot(page, "a11y-signed-rows.png")
    signed.get_by_role("button", name=re.compile("^签名详情 ")).click()
    expect(page.get_by_role("dialog").get_by_text("签名详情")).to_be_visible()
    audit(page, "签名详情")
    page.get_by_role("dialog").get_by_role("button", name="关闭").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    signed.get_by_role("button", name=re.compile("^撤销签名 ")).click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit(page, "撤销签名 确认")
    page.get_by_role("button", name="取消").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)

    # 解除 (the fixture would do it too): the alert dialog, then 未验证.
    page.get_by_role("link", name="个人中心").click()
    page.get_by_role("tab", name="实名认证").click()
    page.get_by_role("button", name="解除").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit(page, "解除实名认证 确认")
    page.get_by_role("button", name="确认解除").click()
    expect(page.get_by_text("未验证", exact=True)).to_be_visible()
    audit(page, "王莉 个人中心 · 实名认证 (已解除)")


def test_manager_pages(calm_page: Page, audit: Audit):
    page = calm_page
    login(page, "sh-manager@8112", "/manage")
    audit(page, "陈静 管理中心 · 近7天")
    shot(page, "a11y-manage.png")
    page.get_by_role("radio", name="今日").click()
    expect(page.get_by_role("radio", name="今日")).to_have_attribute(
        "aria-checked", "true"
    )
    audit(page, "陈静 管理中心 · 今日")
    page.get_by_role("link", name="医生工作").click()
    expect(page.locator("main table tbody tr").first).to_be_visible()
    audit(page, "陈静 医生工作 (只读)")
    open_tab(page, "已完善病历")
    audit(page, "陈静 医生工作 · 已完善病历")
    page.goto(f"/search?q={LIU_NO}")
    expect(page.locator("main table tbody tr").first).to_be_visible()
    audit(page, "陈静 患者查询")
    page.get_by_role("link", name="个人中心").click()
    expect(page.get_by_text("门诊管理者").first).to_be_visible()
    audit(page, "陈静 个人中心")


def test_admin_pages(calm_page: Page, audit: Audit):
    page = calm_page
    login(page, "sh-admin@8112", "/admin")
    audit(page, "系统管理员 系统管理")
    shot(page, "a11y-admin.png")
    page.get_by_role("link", name="个人中心").click()
    expect(page.get_by_text("系统管理员").first).to_be_visible()
    audit(page, "系统管理员 个人中心")
