"""The production configuration in Chromium: demo mode off, the real provider
adapters (identity ``http``, SMS ``aliyun``, face ``tencent``) pointed at local fakes
(tests/e2e/fakes.py), PostgreSQL + Redis + three workers.

There is no demo data: the clinic, its accounts, patients and today's records are
inserted as the HIS would hold them (``fakes.seed_clinic``). Several page loads and
reloads spread the websocket connections over the workers; the login, the page
states and the data must hold across them.

The tests share the app and its database and run in file order: the journey
verifies the doctor's identity, the signing tests then sign one seeded record each.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page, expect

from his_portal.demo.data import pinyin_key
from his_portal.settings import clinic_zone
from tests.adapters.fake_tencent import RULE_ID
from tests.e2e import fakes
from tests.e2e.browsing import assert_valid_pdf, contexts
from tests.e2e.fakes import (
    DOCTOR_ID,
    DOCTOR_LOGIN,
    DOCTOR_MOBILE,
    DOCTOR_NAME,
    MANAGER_LOGIN,
    PASSWORD,
    PATIENTS,
    E2ETencent,
)
from tests.e2e.test_auth_journeys import BAD_CREDENTIALS, login, refused, url_path
from tests.e2e.test_signing_journey import qr_target, ready_to_sign, row

expect.set_options(timeout=15_000)

SMS_RECORD, QR_RECORD, UNSIGNED_RECORD = PATIENTS
MASKED_MOBILE = f"{DOCTOR_MOBILE[:3]}****{DOCTOR_MOBILE[-4:]}"


@pytest.fixture(scope="session")
def prod_url(prod_app_url: str, prod_db_url: str) -> str:
    """The running production app, with the HIS's data in its database."""
    fakes.seed_clinic(prod_db_url, zone=clinic_zone())
    return prod_app_url


@pytest.fixture
def prod_context(browser, prod_url: str, request):
    """Factory: a fresh zh-CN browser context on the app (desktop by default).

    On a test failure every page made here is saved to test-artifacts/.
    """
    with contexts(browser, prod_url, request) as make:
        yield make


@pytest.fixture
def page(prod_context) -> Page:
    return prod_context().new_page()


def db_scalar(db_url: str, query: str, **params):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), params).scalar_one()
    finally:
        engine.dispose()


def record_status(db_url: str, record_no: str) -> str:
    return db_scalar(
        db_url,
        "SELECT r.sign_status FROM medicalrecord r JOIN patient p "
        "ON p.id = r.patient_id WHERE p.record_no = :no",
        no=record_no,
    )


def page_with_text(context: BrowserContext, text: str, timeout: float = 20) -> Page:
    """The page of ``context`` that shows ``text`` (the phone may have opened the
    provider's page in a new tab: it comes back to us there)."""
    deadline = time.monotonic() + timeout
    while True:
        for candidate in context.pages:
            try:
                if candidate.get_by_text(text).first.is_visible():
                    return candidate
            except Exception:  # a tab still navigating
                pass
        if time.monotonic() > deadline:
            urls = [p.url for p in context.pages]
            raise AssertionError(f"no page shows {text!r} (pages: {urls})")
        time.sleep(0.25)


# --- the doctor's journey, across workers -----------------------------------------


def test_doctor_journey_across_workers(page: Page, prod_url: str, prod_db_url: str):
    login(page, DOCTOR_LOGIN, "/workbench", PASSWORD)
    for seeded in PATIENTS:  # what the HIS holds is what the workbench shows
        expect(row(page, seeded.record_no)).to_contain_text("未签名")

    for _ in range(4):  # new websocket each time, any worker
        page.reload()
        expect(page.get_by_text(DOCTOR_NAME, exact=True).first).to_be_visible()
        expect(page.locator("main table tbody tr").first).to_be_visible()
    page.goto("/me")
    expect(page.get_by_label("* 姓名:")).to_have_value(DOCTOR_NAME)
    page.get_by_label("* 证件号码:").fill(DOCTOR_ID)
    page.get_by_label("* 联系手机:").fill(DOCTOR_MOBILE)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_label("* 证件号码:")).to_have_attribute(
        "placeholder", re.compile("已保存")
    )
    page.get_by_role("tab", name="实名认证").click()
    expect(page.get_by_text("未验证")).to_be_visible()
    page.get_by_role("button", name="一键实名认证").click()  # the fake vendor
    expect(page.get_by_text("通过", exact=True)).to_be_visible()
    page.reload()
    page.get_by_role("tab", name="数字证书").click()
    expect(page.get_by_text("UID=user-", exact=False)).to_be_visible()

    patient = SMS_RECORD
    initials = pinyin_key(patient.name).split()[1]
    search = page.get_by_placeholder("查询病历号/姓名/拼音")
    search.fill(initials)
    search.press("Enter")
    page.wait_for_url(url_path("/search"))
    expect(page.get_by_role("rowheader", name=patient.name)).to_be_visible()

    crl = urllib.request.urlopen(f"{prod_url}/pki/crl")
    assert crl.status == 200 and crl.headers["Content-Type"] == "application/pkix-crl"
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(url_path("/login"))
    page.goto("/workbench")
    page.wait_for_url(url_path("/login"))

    # The work landed in PostgreSQL, the server the workers share.
    status = db_scalar(
        prod_db_url,
        'SELECT p.verification_status FROM doctorprofile p JOIN "user" u '
        "ON u.id = p.user_id WHERE u.login_id = :login",
        login=DOCTOR_LOGIN,
    )
    revoked = db_scalar(
        prod_db_url,
        'SELECT count(*) FROM usersession s JOIN "user" u ON u.id = s.user_id '
        "WHERE u.login_id = :login AND s.revoked_at IS NOT NULL",
        login=DOCTOR_LOGIN,
    )
    assert status == "verified" and revoked == 1


# --- nothing of the demo ----------------------------------------------------------


def test_no_demo_accounts_and_no_sms_outbox(page: Page):
    # The demo accounts were never created: the normal refusal, like any unknown id.
    assert refused(page, "sh-feihuan@8112", "Demo@2026") == BAD_CREDENTIALS
    assert refused(page, "sh-admin@8112", "Demo@2026") == BAD_CREDENTIALS

    # The HIS's manager sees the clinic's doctor and their 3 records.
    login(page, MANAGER_LOGIN, "/manage", PASSWORD)
    doctor = page.get_by_role(
        "row", name=re.compile(f"^{DOCTOR_NAME} {re.escape(DOCTOR_LOGIN)} ")
    )
    expect(doctor.get_by_role("cell").nth(1)).to_have_text(str(len(PATIENTS)))

    # /dev/sms is not registered: whatever the SPA shows for an unknown route, once
    # it has rendered, but never the outbox.
    page.goto("/dev/sms")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.body.innerText.trim().length > 0")
    expect(page.get_by_text("演示短信发件箱")).to_have_count(0)
    assert "演示短信发件箱" not in page.title()
    assert "演示短信发件箱" not in page.content()


# --- signing through the real adapters --------------------------------------------


def test_signing_with_an_sms_code_from_aliyun(page: Page, prod_url, prod_db_url):
    login(page, DOCTOR_LOGIN, "/workbench", PASSWORD)
    ready_to_sign(page, DOCTOR_ID, DOCTOR_MOBILE)
    patient = SMS_RECORD
    label = f"{patient.name} {patient.record_no}"
    page.get_by_role("checkbox", name=f"选择 {label}").click()
    expect(page.get_by_text("已选 1 条")).to_be_visible()
    page.get_by_role("button", name="批量签名").click()

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("签名动作真实意愿校验")).to_be_visible()
    sent_before = len(fakes.sms_sent_to(DOCTOR_MOBILE))
    dialog.get_by_role("button", name="获取验证码").click()
    expect(dialog.get_by_text(f"验证码已发送至 {MASKED_MOBILE}")).to_be_visible()
    # Aliyun's fake got one signed SendSms with the approved sign and template.
    [sent] = fakes.sms_sent_to(DOCTOR_MOBILE)[sent_before:]
    assert sent["SignName"] == fakes.SMS_SIGN_NAME
    assert sent["TemplateCode"] == fakes.SMS_TEMPLATE_CODE
    code = fakes.last_sms_code(DOCTOR_MOBILE)
    assert re.fullmatch(r"\d{6}", code), code

    dialog.get_by_label("验证码").fill(code)
    dialog.get_by_role("button", name="确认").click()
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text(f"签约主体：{DOCTOR_NAME}")).to_be_visible()
    expect(signing.get_by_role("img", name="签署内容预览")).to_be_visible()
    signing.get_by_role("radio", name="系统签名").click()
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：1 / 1")).to_be_visible(timeout=60_000)
    signing.get_by_role("button", name="关闭").click()

    page.get_by_role("radio", name="已完善病历").click()
    cells = row(page, patient.record_no)
    expect(cells).to_contain_text("已签名")
    expect(cells).to_contain_text(DOCTOR_LOGIN)
    with page.expect_download() as download:
        page.get_by_role("button", name=f"下载签名文件 {label}").click()
    pdf = Path(download.value.path())
    assert_valid_pdf(pdf, prod_url)
    # The download is the stored signed version.
    stored = db_scalar(
        prod_db_url,
        "SELECT d.sha256 FROM signeddocument d JOIN medicalrecord r "
        "ON r.id = d.record_id JOIN patient p ON p.id = r.patient_id "
        "WHERE p.record_no = :no AND d.superseded_at IS NULL",
        no=patient.record_no,
    )
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == stored
    assert record_status(prod_db_url, patient.record_no) == "signed"


def open_qr_on_the_phone(page: Page, prod_context, patient) -> BrowserContext:
    """签名 on the row → 微信人脸识别认证 → QR code, read as the phone's camera would
    and opened in a phone-sized context; returns that context."""
    row(page, patient.record_no).get_by_role(
        "button", name=f"签名 {patient.name} {patient.record_no}"
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="微信人脸识别认证").click()  # a face provider
    dialog.get_by_role("button", name="点击生成二维码").click()
    expect(dialog.get_by_role("img", name="签名确认二维码")).to_be_visible()
    phone = prod_context(390, 844)
    mobile = phone.new_page()
    mobile.goto(qr_target(page))
    expect(mobile.get_by_text(f"签署医生：{DOCTOR_NAME}")).to_be_visible()
    expect(mobile.get_by_text("病历号 " + patient.record_no)).to_be_visible()
    return phone


def test_signing_through_the_qr_code_and_tencent_face_check(
    page: Page, prod_context, prod_url, prod_db_url
):
    login(page, DOCTOR_LOGIN, "/workbench", PASSWORD)
    ready_to_sign(page, DOCTOR_ID, DOCTOR_MOBILE)
    patient = QR_RECORD
    phone = open_qr_on_the_phone(page, prod_context, patient)
    [mobile] = phone.pages
    confirm_url = mobile.url
    seen = len(E2ETencent.requests)
    mobile.get_by_role("button", name="开始人脸识别并确认签署").click()
    # DetectAuth → (the fake's Url is our RedirectUrl) → back on /confirm/<token>,
    # whose on_load has the server fetch the result.
    back = page_with_text(phone, "已确认，请回到电脑上继续签署")
    assert back.url == confirm_url

    calls = E2ETencent.requests[seen:]
    assert [c["action"] for c in calls] == ["DetectAuth", "GetDetectInfoEnhanced"]
    detect, info = (c["body"] for c in calls)
    assert detect == {
        "RuleId": RULE_ID,
        "IdCard": DOCTOR_ID,  # the verified identity, in full, to Tencent only
        "Name": DOCTOR_NAME,
        "RedirectUrl": confirm_url,  # built from HIS_PUBLIC_URL
    }
    assert confirm_url.startswith(f"{prod_url}/confirm/")
    assert info == {
        "BizToken": E2ETencent.issued[-1],
        "RuleId": RULE_ID,
        "InfoType": "0",
    }
    assert calls[0]["headers"]["X-TC-Region"] == "ap-shanghai"
    phone.close()

    # The desktop moves on to 签署 by itself.
    signing = page.get_by_role("dialog")
    expect(signing.get_by_text(f"签约主体：{DOCTOR_NAME}")).to_be_visible(
        timeout=20_000
    )
    signing.get_by_role("button", name="签署", exact=True).click()
    expect(signing.get_by_text("签署进度：1 / 1")).to_be_visible(timeout=60_000)
    signing.get_by_role("button", name="关闭").click()
    page.get_by_role("radio", name="已完善病历").click()
    expect(row(page, patient.record_no)).to_contain_text("已签名")
    assert record_status(prod_db_url, patient.record_no) == "signed"


def test_a_face_check_of_another_person_is_refused(
    page: Page, prod_context, prod_db_url
):
    login(page, DOCTOR_LOGIN, "/workbench", PASSWORD)
    ready_to_sign(page, DOCTOR_ID, DOCTOR_MOBILE)
    patient = UNSIGNED_RECORD
    phone = open_qr_on_the_phone(page, prod_context, patient)
    [mobile] = phone.pages
    seen = len(E2ETencent.requests)
    E2ETencent.impostor = fakes.OTHER_PERSON  # Tencent saw someone else's face
    try:
        mobile.get_by_role("button", name="开始人脸识别并确认签署").click()
        back = page_with_text(phone, "人脸核验未通过")
    finally:
        E2ETencent.impostor = None
    expect(back.get_by_role("status")).to_contain_text("核验的身份与本人不一致")
    expect(back.get_by_text("已确认，请回到电脑上继续签署")).to_have_count(0)
    actions = [c["action"] for c in E2ETencent.requests[seen:]]
    assert actions == ["DetectAuth", "GetDetectInfoEnhanced"]
    phone.close()

    # The desktop stays on 意愿校验; the record stays unsigned.
    dialog = page.get_by_role("dialog")
    page.wait_for_timeout(4_000)  # a few of the dialog's status polls
    expect(dialog.get_by_text("签名动作真实意愿校验")).to_be_visible()
    expect(page.get_by_text(f"签约主体：{DOCTOR_NAME}")).to_have_count(0)
    dialog.get_by_role("button", name="取消").click()
    expect(row(page, patient.record_no)).to_contain_text("未签名")
    assert record_status(prod_db_url, patient.record_no) == "unsigned"
