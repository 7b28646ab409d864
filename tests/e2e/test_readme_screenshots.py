"""The README's two screenshots, docs/workbench.png and docs/signing-dialog.png.

``HIS_UPDATE_SCREENSHOTS=1`` makes them anew from the running app (1280×800 in
Chromium, scaled down to 900 px wide, 256-colour optimised PNG); without it the test
only checks the committed files (and starts no app). The state 王莉 goes through is
undone at the end (see test_accessibility).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.test_accessibility import (  # wang_li: a fixture, requested by name
    open_tab,
    wang_li,  # noqa: F401
    wang_ready,
)
from tests.e2e.test_signing_journey import qr_target

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHOTS = ("workbench.png", "signing-dialog.png")
WIDTH = 900
MAX_BYTES = 150 * 1024
# No toasts and no blinking caret in the pictures.
HIDE = (
    "[data-sonner-toaster] { display: none !important; }"
    " * { caret-color: transparent; }"
)


def save_small(png: bytes, path: Path) -> None:
    """Scale a screenshot down to WIDTH px and store it as an optimised PNG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * WIDTH / image.width)
    image = image.resize((WIDTH, height), Image.Resampling.LANCZOS)
    image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0)
    path.parent.mkdir(exist_ok=True)
    image.save(path, format="PNG", optimize=True)


def snap(page: Page, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(300)  # the last fade-in (reduced motion: none) has ended
    save_small(page.screenshot(style=HIDE), DOCS / name)


def make_screenshots(page: Page, browser, app_url: str) -> None:
    """王莉, verified: the workbench, then 批量签名 of two records → QR confirmed on
    a phone → the 签署 dialog with its preview (left with 撤销)."""
    wang_ready(page)
    page.get_by_role("link", name="医生工作").click()
    expect(page.get_by_role("main").get_by_text("电子签名已开启")).to_be_visible()
    open_tab(page, "待完善病历")
    boxes = page.locator("main table tbody").get_by_role("checkbox")
    expect(boxes.nth(1)).to_be_visible()
    page.mouse.move(0, 0)
    snap(page, "workbench.png")

    boxes.nth(0).click()
    boxes.nth(1).click()
    expect(page.get_by_text("已选 2 条")).to_be_visible()
    page.get_by_role("button", name="批量签名").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="微信人脸识别认证").click()
    dialog.get_by_role("button", name="点击生成二维码").click()
    expect(dialog.get_by_role("img", name="签名确认二维码")).to_be_visible()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=app_url, locale="zh-CN"
    )
    try:
        mobile = phone.new_page()
        mobile.goto(qr_target(page))
        mobile.get_by_role("button", name="开始人脸识别并确认签署").click()
        mobile.get_by_role("button", name="模拟人脸核验通过").click()
        expect(mobile.get_by_text("已确认，请回到电脑上继续签署")).to_be_visible()
    finally:
        phone.close()
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：王莉")).to_be_visible(timeout=20_000)
    preview = signing.get_by_role("img", name="签署内容预览")
    expect(preview).to_be_visible()
    expect(signing.get_by_text(re.compile(r"^1 / 2$"))).to_be_visible()
    preview.evaluate("img => img.decode()")
    snap(page, "signing-dialog.png")
    signing.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_readme_screenshots(request):
    if os.environ.get("HIS_UPDATE_SCREENSHOTS") == "1":
        make_screenshots(
            request.getfixturevalue("wang_li"),
            request.getfixturevalue("browser"),
            request.getfixturevalue("app_url"),
        )
    for name in SHOTS:
        path = DOCS / name
        assert path.is_file(), (
            f"{path} is missing: HIS_UPDATE_SCREENSHOTS=1 pytest {__file__}"
        )
        size = path.stat().st_size
        assert size <= MAX_BYTES, f"{path}: {size} bytes, more than {MAX_BYTES}"
        with Image.open(path) as image:
            assert image.format == "PNG", (path, image.format)
            assert image.width == WIDTH and 500 <= image.height <= 600, image.size
            image.verify()
        print(f"{name}: {image.size[0]}×{image.size[1]}, {size // 1024} KB")
