"""验证 in Chromium, logged out: from the login page's link upload a PDF 郑程 has just
signed → 有效, PAdES B-LTA; the same file with one byte changed → 无效; with an
incremental update appended after signing → 无效, changed after signing; a PDF
signed under another CA → 不受信任; a text file → one clear message; then the QR
code in the PDF's footer, read as a phone camera would, opens /verify/<id> with the
signature's status and no patient data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from his_portal.services.signing import verification, verify_links
from his_portal.services.signing.verification_report import WHOLE_WITH_LTV
from tests.e2e.test_auth_journeys import ARTIFACTS, login, shot
from tests.e2e.test_signing_journey import ready_to_sign, row
from tests.services.signing.test_verification import (  # noqa: F401 (fixture)
    flip_content_byte,
    foreign_pdf,
    overlay,
)
from tests.services.signing.test_verify_links import pdf_text


def sign_first_unsigned(page: Page) -> tuple[str, str]:
    """郑程 signs the first record waiting for him with an SMS code; returns the
    record's (patient name, record number)."""
    first = page.locator("main table tbody tr").first
    expect(first).to_contain_text("未签名")
    patient = first.locator("td").nth(1).inner_text().strip()
    record_no = first.locator("td").nth(2).inner_text().strip()
    first.get_by_role("button", name=re.compile("^签名 ")).click()
    dialog = page.get_by_role("dialog")
    # An earlier journey may have texted this mobile within the resend cooldown.
    get_code = dialog.get_by_role("button", name=re.compile("获取验证码$"))
    sent = dialog.get_by_text(re.compile("验证码已发送至"))
    for _ in range(2):
        get_code.click()
        try:
            expect(sent).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            expect(get_code).to_be_enabled(timeout=90_000)
    expect(sent).to_be_visible()
    outbox = page.context.new_page()
    outbox.goto("/dev/sms")
    message = outbox.locator("tbody tr").first
    expect(message).to_contain_text("验证码")
    code = re.search(r"验证码(\d{6})", message.inner_text()).group(1)
    outbox.close()
    dialog.get_by_label("验证码").fill(code)
    dialog.get_by_role("button", name="确认").click()
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text("签约主体：郑程")).to_be_visible()
    signing.get_by_role("radio", name="系统签名").click()
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：1 / 1")).to_be_visible(timeout=60_000)
    signing.get_by_role("button", name="关闭").click()
    page.get_by_role("radio", name="已完善病历").click()
    signed = row(page, record_no).first
    expect(signed).to_contain_text("已签名")
    return patient, record_no


def download_signed(page: Page, record_no: str, target: Path) -> bytes:
    button = page.get_by_role(
        "button", name=re.compile(rf"^下载签名文件 .* {re.escape(record_no)}$")
    ).first
    with page.expect_download() as download:
        button.click()
    download.value.save_as(target)
    return target.read_bytes()


def printed_version(pdf: Path) -> int:
    """The record version the signed PDF prints (``版本:N``)."""
    return int(re.search(r"版本:(\d+)", pdf_text(pdf.read_bytes())).group(1))


def footer_qr(pdf: Path) -> str:
    """The verification link in the footer's QR code of the first page (80 dpi)."""
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-singlefile", pdf, pdf.with_suffix("")],
        check=True,
    )
    page = Image.open(pdf.with_suffix(".png"))
    page.save(ARTIFACTS / "verify-signed-record.png")
    [found] = zxingcpp.read_barcodes(page)
    return found.text


def upload(page: Page, path: Path) -> None:
    page.locator('input[type="file"]').set_input_files(str(path))


def item(page: Page, label: str):
    """The 签名详情 row ``label``'s value cell."""
    return (
        page.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=label, exact=True))
        .locator("td")
    )


def test_verify_a_signed_pdf_without_logging_in(
    new_page,
    tmp_path: Path,
    foreign_pdf: bytes,  # noqa: F811 (the imported fixture)
):
    doctor = new_page()
    login(doctor, "sh-feihuan@8112", "/workbench")
    ready_to_sign(doctor)
    patient, record_no = sign_first_unsigned(doctor)
    pdf = tmp_path / "signed.pdf"
    download_signed(doctor, record_no, pdf)
    version = printed_version(pdf)  # the first row may be a record reopened earlier

    visitor = new_page()  # a browser where nobody is logged in
    visitor.goto("/login")
    visitor.get_by_role("link", name="验证病历签名（无需登录）").click()
    visitor.wait_for_url(re.compile(r"/verify/?$"))
    expect(visitor.get_by_role("heading", name="电子病历签名验证")).to_be_visible()
    upload(visitor, pdf)
    expect(visitor.get_by_text("验证通过：文件中的签名全部有效")).to_be_visible(
        timeout=30_000
    )
    expect(visitor.get_by_role("heading", name="签名 1：有效")).to_be_visible()
    expect(visitor.get_by_text(f"与本系统第{version}版签署文件一致")).to_be_visible()
    table = visitor.get_by_role("table")
    expect(table).to_contain_text("郑程")
    expect(table).to_contain_text("上海维乐海趣路门诊 时间戳服务")
    expect(item(visitor, "签名级别")).to_have_text(
        "PAdES B-LTA（长期验证，含文档时间戳）"
    )
    expect(item(visitor, "签名覆盖范围")).to_have_text(WHOLE_WITH_LTV)
    expect(item(visitor, "签名后的改动")).to_have_text(
        "签名后仅追加了长期验证数据和文档时间戳（允许）"
    )
    shot(visitor, "verify-valid.png")

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(flip_content_byte(pdf.read_bytes()))
    upload(visitor, tampered)
    expect(visitor.get_by_role("heading", name="签名 1：无效")).to_be_visible(
        timeout=30_000
    )
    expect(
        visitor.get_by_text("原因：签名后文件内容被改动（文档摘要与签名不一致）")
    ).to_be_visible()
    expect(visitor.get_by_text(verification.NO_MATCH)).to_be_visible()
    shot(visitor, "verify-tampered.png")

    updated = tmp_path / "updated.pdf"
    updated.write_bytes(overlay(pdf.read_bytes()))  # draws over the signed page
    upload(visitor, updated)
    expect(visitor.get_by_role("heading", name="签名 1：无效")).to_be_visible(
        timeout=30_000
    )
    expect(visitor.get_by_text("原因：签名后文件被追加修改")).to_be_visible()
    expect(item(visitor, "签名后的改动")).to_have_text(
        "签名后有增量更新：修改了页面内容或文件结构"
    )
    expect(item(visitor, "签名覆盖范围")).to_contain_text("其后另有追加内容")
    expect(
        visitor.get_by_text(verification.APPENDED.format(version=version))
    ).to_be_visible()
    expect(visitor.get_by_role("table")).to_contain_text("郑程")
    shot(visitor, "verify-updated.png")

    foreign = tmp_path / "foreign.pdf"
    foreign.write_bytes(foreign_pdf)
    upload(visitor, foreign)
    expect(
        visitor.get_by_text(
            "原因：签名证书不是由本院CA签发或证书链无法验证（不受信任）"
        )
    ).to_be_visible(timeout=30_000)
    expect(visitor.get_by_role("heading", name="签名 1：无效")).to_be_visible()
    expect(item(visitor, "证书状态")).to_have_text("非本系统签发的证书")
    expect(item(visitor, "证书颁发者")).to_have_text(re.compile("^别家诊所"))
    expect(visitor.get_by_text(verification.NO_MATCH)).to_be_visible()
    shot(visitor, "verify-foreign.png")

    text = tmp_path / "note.pdf"
    text.write_text("这不是PDF文件", encoding="utf-8")
    upload(visitor, text)
    expect(visitor.get_by_text(verification.NOT_PDF)).to_be_visible()
    expect(visitor.get_by_role("heading", name=re.compile("^签名 1"))).to_have_count(0)

    link = footer_qr(pdf)
    assert link.startswith(visitor.url.split("/verify")[0] + "/verify/"), link
    visitor.goto(link)
    expect(visitor.get_by_role("heading", name="病历签名状态")).to_be_visible()
    expect(visitor.get_by_text("签名有效", exact=True)).to_be_visible()
    status = visitor.get_by_role("table")
    expect(status).to_contain_text("郑程")
    expect(status).to_contain_text(f"第{version}版")
    body = visitor.locator("body").inner_text()
    assert patient not in body and record_no not in body
    shot(visitor, "verify-status.png")

    visitor.goto(link[:-3] + "zzz")
    expect(visitor.get_by_text(verify_links.NOT_FOUND)).to_be_visible()
