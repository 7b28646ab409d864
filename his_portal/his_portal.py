"""The app: pages and their on_load guards. Nothing else happens at import."""

import asyncio
import gc

import reflex as rx

from his_portal import maintenance, routes
from his_portal.api import api
from his_portal.pages.admin import AdminState, IntegrityState, admin_page
from his_portal.pages.admin_audit import AuditState, audit_page
from his_portal.pages.confirm import ConfirmState, confirm_page
from his_portal.pages.login import LoginState, login_page
from his_portal.pages.manage import MonitorState, manage_page
from his_portal.pages.profile import ProfileState, ProfileTabState, profile_page
from his_portal.pages.search import SearchState, search_page
from his_portal.pages.set_password import SetPasswordState, set_password_page
from his_portal.pages.verify import verify_page, verify_record_page
from his_portal.pages.workbench import WorkbenchState, workbench_page
from his_portal.services.signing import fonts
from his_portal.settings import get_settings
from his_portal.state import AuthState
from his_portal.states.notifications import NotificationState
from his_portal.states.seals import SealState
from his_portal.states.sign_flow import SignFlowState
from his_portal.states.verify import VerifyRecordState, VerifyState
from his_portal.worker import supervisor


async def warm_up_fonts() -> None:
    """Parse the record font at start, so the first 预览 does not wait for it; then
    keep what start-up built out of the garbage collector's full passes (the font's
    glyph objects alone made them 80 ms pauses)."""
    await asyncio.to_thread(fonts.warm_up)
    gc.freeze()


def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), rx.text("正在进入…"), min_height="100vh")


app = rx.App(
    stylesheets=["/styles.css"],
    html_lang="zh-CN",
    api_transformer=api,
    head_components=[
        rx.el.meta(name="viewport", content="width=device-width"),
        rx.script(src="/signature_pad.js"),
    ],
)
app.register_lifespan_task(maintenance.run_forever)
app.register_lifespan_task(supervisor.run_forever)
app.register_lifespan_task(warm_up_fonts)
app.add_page(index, route=routes.INDEX, title="牙医云 HIS", on_load=AuthState.go_home)
app.add_page(
    login_page,
    route=routes.LOGIN,
    title="登录 · 牙医云 HIS",
    on_load=LoginState.on_load,
)
app.add_page(
    workbench_page,
    route=routes.WORKBENCH,
    title="医生工作 · 牙医云 HIS",
    on_load=[AuthState.guard, WorkbenchState.on_load, SignFlowState.follow_batch],
)
app.add_page(
    manage_page,
    route=routes.MANAGE,
    title="管理中心 · 牙医云 HIS",
    on_load=[AuthState.guard, MonitorState.on_load],
)
app.add_page(
    admin_page,
    route=routes.ADMIN,
    title="系统管理 · 牙医云 HIS",
    on_load=[AuthState.guard, AdminState.on_load, IntegrityState.on_load],
)
app.add_page(
    audit_page,
    route=routes.AUDIT,
    title="审计日志 · 牙医云 HIS",
    on_load=[AuthState.guard, AuditState.on_load],
)
app.add_page(
    set_password_page,
    route=routes.SET_PASSWORD,
    title="设置新密码 · 牙医云 HIS",
    on_load=SetPasswordState.on_load,
)
app.add_page(
    profile_page,
    route=routes.PROFILE,
    title="个人中心 · 牙医云 HIS",
    on_load=[
        AuthState.guard,
        ProfileTabState.open_from_url,
        ProfileState.on_load,
        SealState.on_load,
        NotificationState.on_load,
    ],
)
app.add_page(
    search_page,
    route=routes.SEARCH,
    title="患者查询 · 牙医云 HIS",
    on_load=[AuthState.guard, SearchState.on_load],
)
if get_settings().demo_mode:
    # Demo pages and their states exist only in demo mode.
    from his_portal.pages.dev_sms import DevSmsState, dev_sms_page

    app.add_page(
        dev_sms_page,
        route=routes.DEV_SMS,
        title="演示短信发件箱 · 牙医云 HIS",
        on_load=DevSmsState.on_load,
    )
app.add_page(
    confirm_page,
    route=routes.CONFIRM,
    title="病历签署确认 · 牙医云 HIS",
    on_load=ConfirmState.on_load,
)
app.add_page(
    verify_page,
    route=routes.VERIFY,
    title="签名验证 · 牙医云 HIS",
    on_load=VerifyState.on_load,
)
app.add_page(
    verify_record_page,
    route=routes.VERIFY_RECORD,
    title="病历签名状态 · 牙医云 HIS",
    on_load=VerifyRecordState.on_load,
)
