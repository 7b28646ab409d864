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


def add_page(component, route: str, name: str, *on_load) -> None:
    """One page: its title says ``name`` and the product; ``on_load`` in order."""
    app.add_page(
        component, route=route, title=f"{name} · 牙医云 HIS", on_load=list(on_load)
    )


app.add_page(index, route=routes.INDEX, title="牙医云 HIS", on_load=AuthState.go_home)
add_page(login_page, routes.LOGIN, "登录", LoginState.on_load)
add_page(
    workbench_page,
    routes.WORKBENCH,
    "医生工作",
    AuthState.guard,
    WorkbenchState.on_load,
    SignFlowState.follow_batch,
)
add_page(manage_page, routes.MANAGE, "管理中心", AuthState.guard, MonitorState.on_load)
add_page(
    admin_page,
    routes.ADMIN,
    "系统管理",
    AuthState.guard,
    AdminState.on_load,
    IntegrityState.on_load,
)
add_page(audit_page, routes.AUDIT, "审计日志", AuthState.guard, AuditState.on_load)
add_page(set_password_page, routes.SET_PASSWORD, "设置新密码", SetPasswordState.on_load)
add_page(
    profile_page,
    routes.PROFILE,
    "个人中心",
    AuthState.guard,
    ProfileTabState.open_from_url,
    ProfileState.on_load,
    SealState.on_load,
    NotificationState.on_load,
)
add_page(search_page, routes.SEARCH, "患者查询", AuthState.guard, SearchState.on_load)
if get_settings().demo_mode:
    # Demo pages and their states exist only in demo mode.
    from his_portal.pages.dev_sms import DevSmsState, dev_sms_page

    add_page(dev_sms_page, routes.DEV_SMS, "演示短信发件箱", DevSmsState.on_load)
add_page(confirm_page, routes.CONFIRM, "病历签署确认", ConfirmState.on_load)
add_page(verify_page, routes.VERIFY, "签名验证", VerifyState.on_load)
add_page(
    verify_record_page,
    routes.VERIFY_RECORD,
    "病历签名状态",
    VerifyRecordState.on_load,
)
