"""签名状态通知: the header's 通知 link with the unread count, and the 个人中心 list
(kind badge, time, link to what it is about, 标为已读, 全部标为已读, pages)."""

from __future__ import annotations

import reflex as rx

from his_portal import routes
from his_portal.services.notifications import Kind
from his_portal.states.notifications import NOTIFY_TAB, NotificationState

__all__ = ["NOTIFY_URL", "notification_badge", "notifications_panel"]

#: The 个人中心 page with 签名状态通知 open.
NOTIFY_URL = f"{routes.PROFILE}?tab={NOTIFY_TAB}"

KIND_COLORS = {
    Kind.OVERDUE: "red",
    Kind.REMIND: "orange",
    Kind.BATCH: "green",
    Kind.CERT_EXPIRING: "amber",
    Kind.VERIFICATION_REVOKED: "crimson",
    Kind.SEAL_CHANGED: "blue",
    Kind.INTEGRITY: "purple",
}


def notification_badge() -> rx.Component:
    """通知 with the unread count; its accessible name says the count."""
    unread = NotificationState.unread
    return rx.link(
        rx.hstack(
            rx.icon("bell", size=18, aria_hidden="true"),
            rx.text("通知"),
            rx.cond(
                unread > 0,
                rx.badge(
                    unread,
                    color_scheme="red",
                    variant="solid",
                    radius="full",
                    aria_hidden="true",
                ),
            ),
            align="center",
            spacing="1",
        ),
        href=NOTIFY_URL,
        aria_label=NotificationState.badge_label,
        title=NotificationState.badge_label,
        on_mount=NotificationState.start_badge,
        underline="none",
    )


def _kind_badge(row) -> rx.Component:
    color = rx.match(row.kind, *KIND_COLORS.items(), "gray")
    return rx.badge(row.kind_label, color_scheme=color, variant="soft")


def _item(row) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            rx.cond(
                row.unread,
                rx.badge("未读", color_scheme="red", variant="solid"),
                rx.badge("已读", color_scheme="gray", variant="outline"),
            ),
            _kind_badge(row),
            rx.text(row.title, weight=rx.cond(row.unread, "bold", "regular")),
            rx.el.div(class_name="header-gap"),
            rx.text(row.created_at, size="2", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
            width="100%",
        ),
        rx.text(row.body, size="2", margin_top="4px"),
        rx.hstack(
            rx.cond(
                row.sender_name != "",
                rx.text("来自：" + row.sender_name, size="2", color_scheme="gray"),
            ),
            rx.cond(row.link != "", rx.link(row.link_label, href=row.link, size="2")),
            rx.cond(
                row.unread,
                rx.button(
                    "标为已读",
                    size="1",
                    variant="soft",
                    on_click=NotificationState.mark_read(row.id),
                    aria_label="标为已读：" + row.title,
                ),
            ),
            align="center",
            spacing="3",
            margin_top="6px",
        ),
        padding="10px 14px",
        border="1px solid var(--gray-5)",
        border_left=rx.cond(
            row.unread, "4px solid var(--red-9)", "4px solid var(--gray-5)"
        ),
        border_radius="6px",
        background=rx.cond(row.unread, "var(--red-2)", "white"),
        list_style="none",
    )


def _pager() -> rx.Component:
    page, pages = NotificationState.page, NotificationState.pages
    return rx.hstack(
        rx.button(
            "上一页",
            variant="soft",
            size="1",
            disabled=page <= 1,
            on_click=NotificationState.go_page(page - 1),
        ),
        rx.text("第" + page.to_string() + "/" + pages.to_string() + "页", size="2"),
        rx.button(
            "下一页",
            variant="soft",
            size="1",
            disabled=page >= pages,
            on_click=NotificationState.go_page(page + 1),
        ),
        align="center",
        spacing="3",
    )


def notifications_panel() -> rx.Component:
    """个人中心 → 签名状态通知: the user's own notifications, newest first."""
    return rx.vstack(
        rx.hstack(
            rx.text(
                "共"
                + NotificationState.total.to_string()
                + "条，未读"
                + NotificationState.unread.to_string()
                + "条",
                size="2",
                color_scheme="gray",
            ),
            rx.button(
                "全部标为已读",
                size="2",
                variant="soft",
                color_scheme="green",
                disabled=NotificationState.unread == 0,
                on_click=NotificationState.mark_all_read,
            ),
            align="center",
            spacing="4",
        ),
        rx.cond(
            NotificationState.total > 0,
            rx.el.ul(
                rx.foreach(NotificationState.rows, _item),
                aria_label="签名状态通知",
                display="flex",
                flex_direction="column",
                gap="8px",
                padding="0",
                margin="0",
                width="100%",
            ),
            rx.text("暂无通知", color_scheme="gray"),
        ),
        rx.cond(NotificationState.pages > 1, _pager()),
        spacing="3",
        width="100%",
        max_width="880px",
    )
