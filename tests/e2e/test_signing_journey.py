"""Daily work in Chromium: 待完善病历 → tick two → 批量签名 → 短信 code from /dev/sms →
签署 → rows 已签名/过期时间/签署者/已完成 → the PDF validates; then the QR path with
the phone page in a second browser context."""

from __future__ import annotations

import base64
import io
import re
import subprocess

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.browsing import assert_valid_pdf
from tests.e2e.test_auth_journeys import LIU, LIU_NO, login, shot

ZHENG_ID = "310101198503120014"
GUO, GUO_NO = "郭少青", "P120111190005083"


def ready_to_sign(
    page: Page, id_number: str = ZHENG_ID, mobile: str = "13800138000"
) -> None:
    """A doctor (郑程 by default): profile, 实名认证 and 电子签名 on (whatever earlier
    tests left)."""
    page.get_by_role("link", name="个人中心").click()
    save_profile(page, id_number, mobile)
    page.get_by_role("tab", name="实名认证").click()
    verify = page.get_by_role("button", name="一键实名认证")
    passed = page.get_by_text("通过", exact=True)
    expect(passed.or_(verify)).to_be_visible()  # the tab has rendered
    if verify.is_visible():
        verify.click()
    expect(passed).to_be_visible()
    page.get_by_role("tab", name="个性设置").click()
    switch = page.get_by_role("switch")
    if switch.get_attribute("aria-checked") != "true":
        switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    page.get_by_role("link", name="医生工作").click()
    expect(page.get_by_role("main").get_by_text("电子签名已开启")).to_be_visible()


def save_profile(page: Page, id_number: str, mobile: str) -> None:
    """Fill and save 个人信息. The page's on_load fills the form from the database
    (the ID number field empty); when that arrives during or after the fill it
    replaces what was typed: fill again until the fields hold it, and save again
    if the save still said 请输入证件号码."""
    expect(page.get_by_label("* 姓名:")).not_to_have_value("")  # on_load has run
    number, phone = page.get_by_label("* 证件号码:"), page.get_by_label("* 联系手机:")
    for _ in range(5):
        number.fill(id_number)
        phone.fill(mobile)
        page.wait_for_timeout(300)  # a late on_load would land now
        if number.input_value() != id_number or phone.input_value() != mobile:
            continue
        page.get_by_role("button", name="保存").click()
        saved = page.locator("[data-sonner-toast]", has_text="已保存")
        refused = page.get_by_text("请输入证件号码", exact=True)
        expect(saved.or_(refused).first).to_be_visible()
        if saved.count():
            expect(number).to_have_attribute("placeholder", re.compile("已保存"))
            return
    raise AssertionError("个人信息 was not saved")


def row(page: Page, record_no: str):
    return page.locator("main table tbody tr", has_text=record_no)


def test_batch_signing_with_an_sms_code(page: Page, tmp_path, app_url):
    login(page, "sh-feihuan@8112", "/workbench")
    ready_to_sign(page)
    expect(row(page, LIU_NO)).to_be_visible()
    page.get_by_role("checkbox", name=f"选择 {LIU} {LIU_NO}").click()
    page.get_by_role("checkbox", name=f"选择 {GUO} {GUO_NO}").click()
    expect(page.get_by_text("已选 2 条")).to_be_visible()
    page.get_by_role("button", name="批量签名").click()

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("签名动作真实意愿校验")).to_be_visible()
    expect(
        dialog.get_by_text("意愿校验是证明病历的签署是得到您自己知晓和认可的")
    ).to_be_visible()
    dialog.get_by_role("button", name="获取验证码").click()
    expect(dialog.get_by_text("验证码已发送至 138****8000")).to_be_visible()
    expect(
        dialog.get_by_role("button", name=re.compile("秒后重新获取"))
    ).to_be_disabled()

    outbox = page.context.new_page()
    outbox.goto("/dev/sms")
    message = outbox.locator("tbody tr").first
    expect(message).to_contain_text("您正在签署2份病历")
    code = re.search(r"验证码(\d{6})", message.inner_text()).group(1)
    outbox.close()

    dialog.get_by_label("验证码").fill("000000" if code != "000000" else "111111")
    dialog.get_by_role("button", name="确认").click()
    expect(dialog.get_by_text("验证码错误，还可尝试4次")).to_be_visible()
    dialog.get_by_label("验证码").fill(code)
    dialog.get_by_role("button", name="确认").click()

    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：郑程")).to_be_visible()
    expect(signing.get_by_role("img", name="签署内容预览")).to_be_visible()
    signing.get_by_role("radio", name="系统签名").click()
    signing.get_by_role("button", name="下一份").click()
    expect(signing.get_by_text("2 / 2")).to_be_visible()
    shot(page, "signing-dialog.png")
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：2 / 2")).to_be_visible(timeout=60_000)
    shot(page, "signing-done.png")
    signing.get_by_role("button", name="关闭").click()

    page.get_by_role("radio", name="已完善病历").click()
    for number in (LIU_NO, GUO_NO):
        cells = row(page, number)
        expect(cells).to_contain_text("已签名")
        expect(cells).to_contain_text("sh-feihuan@8112")
        expect(cells).to_contain_text("已完成")
        expect(cells).to_contain_text(
            re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
        )
    shot(page, "signed-rows.png")
    with page.expect_download() as download:
        page.get_by_role("button", name=f"下载签名文件 {LIU} {LIU_NO}").click()
    pdf = tmp_path / "signed.pdf"
    download.value.save_as(pdf)
    assert_valid_pdf(pdf, app_url)
    text = subprocess.run(
        ["pdftotext", pdf, "-"], capture_output=True, text=True, check=True
    ).stdout
    assert LIU in text and LIU_NO in text

    # 撤销签名 within the window: the record reopens as a new version to sign again.
    page.get_by_role("button", name=f"撤销签名 {GUO} {GUO_NO}").click()
    page.get_by_role("button", name="确认撤销").click()
    expect(row(page, GUO_NO)).to_have_count(0)
    page.get_by_role("radio", name="待完善病历").click()
    expect(row(page, GUO_NO)).to_contain_text("未完成")


def test_signing_through_the_qr_code_and_the_phone(page: Page, browser, app_url):
    login(page, "sh-feihuan@8112", "/workbench")
    ready_to_sign(page)
    first = page.locator("main table tbody tr").first
    expect(first).to_contain_text("未签名")
    record_no = first.locator("td").nth(2).inner_text().strip()
    first.get_by_role("button", name=re.compile("^签名 ")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="微信人脸识别认证").click()
    dialog.get_by_role("button", name="点击生成二维码").click()
    qr = dialog.get_by_role("img", name="签名确认二维码")
    expect(qr).to_be_visible()
    first_code = qr.get_attribute("src")
    dialog.get_by_role("button", name="点击重新生成").click()
    expect(qr).not_to_have_attribute("src", first_code)

    phone_url = qr_target(page)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=app_url, locale="zh-CN"
    )
    mobile = phone.new_page()
    mobile.goto(phone_url)
    expect(mobile.get_by_text("签署医生：郑程")).to_be_visible()
    expect(mobile.get_by_text("病历号 " + record_no)).to_be_visible()
    shot(mobile, "phone-confirm.png")
    mobile.get_by_role("button", name="开始人脸识别并确认签署").click()
    # Demo mode: the page stands in for the face-check provider's own page.
    expect(mobile.get_by_text("演示模式：此处模拟人脸核身服务的页面")).to_be_visible()
    shot(mobile, "phone-face-demo.png")
    mobile.get_by_role("button", name="模拟人脸核验通过").click()
    expect(mobile.get_by_text("已确认，请回到电脑上继续签署")).to_be_visible()
    phone.close()

    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：郑程")).to_be_visible(timeout=20_000)
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：1 / 1")).to_be_visible(timeout=60_000)
    signing.get_by_role("button", name="关闭").click()
    page.get_by_role("radio", name="已完善病历").click()
    expect(row(page, record_no).first).to_contain_text("已签名")


def qr_target(page: Page) -> str:
    """Read the QR code shown on the desktop, as the phone's camera would."""
    src = page.locator('img[alt="签名确认二维码"]').get_attribute("src")
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    [found] = zxingcpp.read_barcodes(image)
    assert found.text.startswith("http"), found.text
    return "/" + found.text.split("/", 3)[3]
