"""个性设置 in Chromium: a phone-style photo → cleaned preview → 保存 → 电子签名 on."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.browsing import ARTIFACTS
from tests.e2e.test_auth_journeys import login, shot
from tests.services.seals.seal_synthetic import synthetic_photo

WANG_ID = "310104199002152222"  # adapters.identity.DEMO_WANG_ID


def verify_identity(page: Page) -> None:
    page.get_by_role("link", name="个人中心").click()
    page.get_by_label("* 证件号码:").fill(WANG_ID)
    page.get_by_label("* 联系手机:").fill("13800138001")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_label("* 证件号码:")).to_have_attribute(
        "placeholder", "已保存：3101**********2222（不修改请留空）"
    )
    page.get_by_role("tab", name="实名认证").click()
    page.get_by_role("button", name="一键实名认证").click()
    expect(page.get_by_text("通过", exact=True)).to_be_visible()


def test_seal_from_a_phone_photo_then_esign_on(page: Page, tmp_path):
    image, _ = synthetic_photo(11, size=(3000, 2250))
    photo = tmp_path / "IMG_2041.jpg"
    image.save(photo, format="JPEG", quality=88)

    login(page, "sh-wangli@8112", "/workbench")
    expect(page.get_by_text("尚未实名认证", exact=False)).to_be_visible()
    verify_identity(page)
    page.get_by_role("tab", name="个性设置").click()
    expect(page.get_by_text("未设置")).to_be_visible()
    switch = page.get_by_role("switch")
    expect(switch).to_have_attribute("aria-checked", "false")

    page.get_by_role("button", name="设置个性签章").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="保存")).to_be_disabled()
    shot(page, "seal-editor-before.png")
    dialog.locator("input[type=file]").set_input_files(photo)
    expect(dialog.get_by_role("img", name="去除背景后（透明背景）")).to_be_visible(
        timeout=30_000
    )
    expect(dialog.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    shot(page, "seal-editor-after.png")
    dialog.get_by_label("笔迹颜色").select_option("blue")
    dialog.get_by_role("button", name="保存").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("img", name="个性签章")).to_be_visible()
    expect(page.get_by_role("button", name="更换")).to_be_visible()

    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_text("已开启", exact=True)).to_be_visible()
    shot(page, "seal-saved-esign-on.png")
    page.get_by_role("link", name="医生工作").click()
    expect(page.get_by_role("main").get_by_text("电子签名已开启")).to_be_visible()
    assert (ARTIFACTS / "seal-editor-after.png").exists()


def test_a_bad_file_gets_a_message_and_nothing_changes(page: Page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not really a picture")
    login(page, "sh-wangli@8112", "/workbench")
    page.get_by_role("link", name="个人中心").click()
    page.get_by_role("tab", name="个性设置").click()
    page.get_by_role("button", name="更换").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[type=file]").set_input_files(bad)
    expect(dialog.get_by_role("alert")).to_have_text("仅支持 JPG、PNG、WebP 格式的图片")
    dialog.get_by_role("button", name="取消").click()
    expect(page.get_by_role("img", name="个性签章")).to_be_visible()


def test_signature_pad_with_the_mouse(page: Page):
    login(page, "sh-wangli@8112", "/workbench")
    page.get_by_role("link", name="个人中心").click()
    page.get_by_role("tab", name="个性设置").click()
    page.get_by_role("button", name="更换").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="手写签名板").click()
    dialog.get_by_role("button", name="使用手写签名").click()
    expect(dialog.get_by_role("alert")).to_have_text("请先在签名板上写下您的签名")
    pad = dialog.locator("canvas[data-signature-pad]")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 150)
    page.mouse.down()
    for step in range(1, 30):
        x = box["x"] + 60 + step * 18
        y = box["y"] + 150 + (40 if step % 6 < 3 else -40)
        page.mouse.move(x, y, steps=3)
    page.mouse.up()
    dialog.get_by_role("button", name="使用手写签名").click()
    expect(dialog.get_by_role("img", name="去除背景后（透明背景）")).to_be_visible()
    shot(page, "seal-pad.png")
    dialog.get_by_role("button", name="保存").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("img", name="个性签章")).to_be_visible()
