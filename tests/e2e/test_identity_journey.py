"""个人中心 in Chromium: 个人信息 → 实名认证 → 数字证书 → 解除, checked by openssl."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.test_auth_journeys import login, shot

ZHENG_ID = "310101198503120014"  # adapters.identity.DEMO_ZHENG_ID


def openssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )


def save_profile(page: Page) -> None:
    page.get_by_role("button", name="保存").click()


def test_profile_verify_certificate_and_revoke(page: Page, app_url: str, tmp_path):
    login(page, "sh-feihuan@8112", "/workbench")
    page.get_by_role("link", name="个人中心").click()
    expect(page.get_by_label("* 姓名:")).to_have_value("郑程")

    # A wrong check digit gets a precise message beside the field; nothing is saved.
    page.get_by_label("* 证件号码:").fill("310101198503120015")
    page.get_by_label("* 联系手机:").fill("13800138000")
    save_profile(page)
    expect(page.locator("#pf-id_number-error")).to_have_text("校验位错误，应为4")
    expect(page.get_by_label("* 证件号码:")).to_have_attribute("aria-invalid", "true")
    shot(page, "profile-invalid-id.png")
    page.get_by_role("tab", name="实名认证").click()
    expect(page.get_by_role("button", name="一键实名认证")).to_be_disabled()
    page.get_by_role("tab", name="个人信息").click()

    page.get_by_label("* 证件号码:").fill(ZHENG_ID)
    page.get_by_label("联系邮箱:").fill("zhengcheng@example.com")
    page.get_by_label("详细地址:").fill("上海市黄浦区海趣路1号")
    save_profile(page)
    expect(page.get_by_label("* 证件号码:")).to_have_attribute(
        "placeholder", "已保存：3101**********0014（不修改请留空）"
    )

    page.get_by_role("tab", name="实名认证").click()
    expect(page.get_by_text("未验证")).to_be_visible()
    page.get_by_role("button", name="一键实名认证").click()
    expect(page.get_by_text("通过", exact=True)).to_be_visible()
    shot(page, "profile-verified.png")

    page.get_by_role("tab", name="数字证书").click()
    expect(page.get_by_text("UID=user-", exact=False)).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="下载我的证书").click()
    cert = tmp_path / "doctor.crt"
    download.value.save_as(cert)
    shot(page, "profile-certificate.png")
    ca = tmp_path / "ca.crt"
    ca.write_bytes(urllib.request.urlopen(f"{app_url}/pki/ca.crt").read())
    verified = openssl("verify", "-CAfile", ca, cert)
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), (
        verified.stdout + verified.stderr
    )
    serial = openssl("x509", "-in", cert, "-noout", "-serial").stdout.split("=")[1]
    assert ZHENG_ID not in cert.read_text()

    page.get_by_role("tab", name="实名认证").click()
    page.get_by_role("button", name="解除").click()
    page.get_by_role("button", name="确认解除").click()
    expect(page.get_by_text("未验证")).to_be_visible()
    page.get_by_role("tab", name="数字证书").click()
    expect(page.get_by_text("尚无有效的数字证书")).to_be_visible()

    crl = tmp_path / "ca.crl"
    crl.write_bytes(urllib.request.urlopen(f"{app_url}/pki/crl").read())
    listed = openssl(
        "crl", "-inform", "DER", "-in", crl, "-CAfile", ca, "-noout", "-text"
    )
    assert "verify OK" in listed.stdout + listed.stderr
    assert f"SERIAL NUMBER: {serial.strip().upper()}" in listed.stdout.upper()
    revoked = openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", crl, cert)
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + (
        revoked.stderr
    )
