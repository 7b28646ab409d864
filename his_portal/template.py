"""The portal shell: dark-blue sidebar menu, header with clinic name and search."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from his_portal import routes
from his_portal.components.notifications_panel import notification_badge
from his_portal.components.session_watch import session_watch
from his_portal.models import Role
from his_portal.state import AuthState

SIDEBAR_BG = "#1f2d4d"

# label, route (None: outside this product), icon, roles that may open it
MENU: tuple[tuple[str, str | None, str, frozenset[Role]], ...] = (
    ("医生工作", routes.WORKBENCH, "stethoscope", routes.PAGE_ROLES[routes.WORKBENCH]),
    ("现场咨询", None, "messages-square", frozenset()),
    ("患者中心", None, "users", frozenset()),
    ("预约中心", None, "calendar-days", frozenset()),
    ("管理中心", routes.MANAGE, "layout-dashboard", routes.PAGE_ROLES[routes.MANAGE]),
    ("库存中心", None, "package", frozenset()),
    ("报表中心", None, "chart-column", frozenset()),
    ("系统管理", routes.ADMIN, "settings", routes.PAGE_ROLES[routes.ADMIN]),
    ("个人中心", routes.PROFILE, "user-round", routes.PAGE_ROLES[routes.PROFILE]),
)


class HeaderSearchState(AuthState):
    """The header's 病历号/姓名/拼音 box."""

    text: str = ""

    @rx.event
    def set_text(self, value: str):
        self.text = value

    @rx.event
    def submit(self, form: dict):
        text = str(form.get("q", "")).strip()
        if not text:
            return rx.toast.warning("请输入病历号、姓名或拼音")
        return rx.redirect(routes.search_url(text))


def _item_body(label: str, icon: str) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=18), rx.text(label), spacing="3", align="center"
    )


def _menu_item(label: str, route: str | None, icon: str, roles: frozenset[Role]):
    disabled = rx.el.span(
        _item_body(label, icon),
        aria_disabled="true",
        title="不在本系统范围内" if route is None else "当前账号无权访问",
        class_name="menu-item menu-disabled",
    )
    if route is None:
        return disabled
    path = AuthState.router.url.path.rstrip("/")
    # A page under a menu entry (系统管理 → 审计日志) keeps the entry lit.
    active = (path == route) | path.startswith(route + "/")
    link = rx.link(
        _item_body(label, icon),
        href=route,
        aria_current=rx.cond(active, "page", "false"),
        class_name=rx.cond(active, "menu-item menu-active", "menu-item"),
    )
    allowed = rx.Var.create(sorted(roles)).contains(AuthState.user_role)
    return rx.cond(allowed, link, disabled)


def sidebar() -> rx.Component:
    return rx.el.nav(
        rx.vstack(
            rx.image(src="/logo.svg", alt="", width="56px", height="56px"),
            rx.text("牙医云 HIS", weight="bold", size="4", color="white"),
            rx.text("DENTAL CLOUD · 电子病历签名", color="#9fb3d9", size="1"),
            align="center",
            padding_y="20px",
            spacing="1",
            class_name="sidebar-brand",
        ),
        rx.el.div(*(_menu_item(*item) for item in MENU), class_name="menu-list"),
        aria_label="主菜单",
        class_name="sidebar",
        background=SIDEBAR_BG,
    )


def header() -> rx.Component:
    search = rx.form(
        rx.el.label("搜索患者", html_for="header-search", class_name="sr-only"),
        rx.input(
            id="header-search",
            name="q",
            placeholder="查询病历号/姓名/拼音",
            value=HeaderSearchState.text,
            on_change=HeaderSearchState.set_text,
            width="240px",
        ),
        on_submit=HeaderSearchState.submit,
        role="search",
        width="auto",
    )
    return rx.el.header(
        rx.hstack(
            rx.heading(AuthState.clinic_name, size="5", as_="h1"),
            rx.el.div(class_name="header-gap"),
            rx.cond(AuthState.user_role != Role.ADMIN, search),
            notification_badge(),
            rx.hstack(
                rx.icon("circle-user-round", size=20, aria_hidden="true"),
                rx.text(AuthState.user_name, weight="medium"),
                rx.badge(AuthState.role_label, color_scheme="green"),
                align="center",
                spacing="2",
            ),
            rx.button(
                rx.icon("log-out", size=16),
                "退出",
                variant="soft",
                on_click=AuthState.logout,
                aria_label="退出登录",
            ),
            align="center",
            spacing="4",
            wrap="wrap",
            width="100%",
        ),
        class_name="app-header",
    )


def template(title: str) -> Callable[[Callable[[], rx.Component]], Callable]:
    """Wrap a page body in the shell; ``title`` heads the main area."""

    def decorate(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            return rx.el.div(
                sidebar(),
                rx.el.div(
                    header(),
                    rx.el.main(
                        rx.heading(title, size="4", as_="h2", margin_bottom="12px"),
                        body(),
                        class_name="app-main",
                    ),
                    class_name="app-content",
                ),
                session_watch(AuthState.check_alive),
                class_name="app-shell",
            )

        page.__name__ = body.__name__
        return page

    return decorate
