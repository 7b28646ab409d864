"""Chinese is drawn with the served font everywhere, never as boxes: a toast, dialogs
(Radix portals) and a page heading, as Chromium's own text layout reports it
(DevTools protocol ``CSS.getPlatformFontsForNode``).

The machine has no CJK system font (like many servers and fresh desktops): a text
that missed the served WenQuanYi Micro Hei would be drawn by a fallback font, as
boxes. The state 王莉 goes through is undone at the end (see test_accessibility).
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_accessibility import wang_li, wang_ready  # noqa: F401 (fixture)

SERVED = "WenQuanYi"
PROBE = "data-font-probe"
# The element's own text (its child text nodes), which is what the fonts are for.
OWN_TEXT = """e => [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE)
    .map(n => n.textContent).join('')"""


def is_chinese(char: str) -> bool:
    """Han characters and CJK/full-width punctuation (what a Latin font lacks)."""
    return (
        "\u4e00" <= char <= "\u9fff"
        or "\u3000" <= char <= "\u303f"
        or "\uff00" <= char <= "\uffef"
    )


def platform_fonts(page: Page, element: Locator) -> tuple[str, list[dict]]:
    """The element's own text and the platform fonts Chromium drew it with."""
    element.evaluate(f"e => e.setAttribute('{PROBE}', '')")
    text = element.evaluate(OWN_TEXT)
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"[{PROBE}]"})
        assert node["nodeId"], "the probed element left the document"
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    finally:
        cdp.detach()
    element.evaluate(f"e => e.removeAttribute('{PROBE}')")
    return text, fonts["fonts"]


def assert_served_font(page: Page, element: Locator, where: str) -> None:
    """Every Chinese character of the element's text is drawn with the served font."""
    page.evaluate("document.fonts.ready.then(() => true)")
    text, fonts = platform_fonts(page, element)
    print(f"{where}: {text!r} -> {fonts}")
    chinese = sum(1 for char in text if is_chinese(char))
    assert chinese, f"{where}: no Chinese text in {text!r}"
    served = [font for font in fonts if SERVED in font["familyName"]]
    assert served, f"{where}: {text!r} not drawn with {SERVED}: {fonts}"
    assert all(font["isCustomFont"] for font in served), (
        f"{where}: {SERVED} is not the served web font: {fonts}"
    )
    assert sum(font["glyphCount"] for font in served) >= chinese, (where, fonts)
    # Any other font may only have drawn what is not Chinese (digits, Latin).
    others = sum(font["glyphCount"] for font in fonts if font not in served)
    assert others <= len(text) - chinese, f"{where}: fallback fonts drew {fonts}"


def toast(page: Page, text: str) -> Locator:
    """The title of the toast saying ``text``, held open (sonner pauses on hover)."""
    item = page.locator("[data-sonner-toast]", has_text=text).first
    expect(item).to_be_visible()
    item.hover()
    return item.locator("[data-title]")


def test_toasts_dialogs_and_headings_use_the_served_font(wang_li: Page):  # noqa: F811
    page = wang_li
    assert_served_font(page, page.locator("main h2"), "heading 医生工作")
    assert_served_font(page, page.locator("header h1"), "header heading (clinic name)")

    wang_ready(page)  # ends on 个人中心 → 个性设置, 电子签名 just switched on
    assert_served_font(page, toast(page, "电子签名已开启"), "toast 电子签名已开启")

    page.get_by_role("link", name="医生工作").click()
    expect(page.get_by_role("main").get_by_text("电子签名已开启")).to_be_visible()
    page.locator("main table tbody tr", has_text="未签名").first.get_by_role(
        "button", name=re.compile("^签名 ")
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("签名动作真实意愿校验")).to_be_visible()
    assert_served_font(
        page, dialog.locator(".rt-Heading").first, "dialog title 签名动作真实意愿校验"
    )
    assert_served_font(
        page, dialog.locator("p", has_text="意愿校验是证明").first, "dialog text"
    )
    assert_served_font(
        page,
        dialog.get_by_role("tab", name="短信方式签署").locator(".rt-TabsTriggerInner"),
        "dialog tab 短信方式签署",
    )
    dialog.get_by_role("button", name="取消").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("link", name="个人中心").click()
    page.get_by_role("tab", name="实名认证").click()
    page.get_by_role("button", name="解除").click()
    alert = page.get_by_role("alertdialog")
    expect(alert).to_be_visible()
    assert_served_font(
        page, alert.locator(".rt-Heading").first, "alert dialog title 解除实名认证"
    )
    alert.get_by_role("button", name="确认解除").click()
    assert_served_font(
        page, toast(page, "已解除实名认证"), "toast 已解除实名认证，数字证书已吊销"
    )
    expect(page.get_by_text("未验证", exact=True)).to_be_visible()
