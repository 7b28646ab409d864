"""/dev/sms: the demo SMS outbox (demo mode only: the page and this state are not
registered otherwise), so the product can be tried without a phone. Shows the
logged-in person only the messages the demo gateway "sent" to them, newest first."""

from __future__ import annotations

import reflex as rx
from sqlmodel import col, select

from his_portal import db
from his_portal.models import SmsMessage
from his_portal.services.identity.idcard import mask_mobile
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState

COLUMNS = ("发送时间", "手机号", "内容")


class DevSmsState(AuthState):
    messages: list[dict[str, str]] = []
    enabled: bool = False

    @rx.event
    def on_load(self):
        self.enabled = get_settings().demo_mode
        user = self._require()
        if not self.enabled or user is None:
            self.messages = []
            return None
        zone = clinic_zone()
        with db.session() as session:
            rows = session.exec(
                select(SmsMessage)
                .where(SmsMessage.provider == "demo", SmsMessage.user_id == user.id)
                .order_by(col(SmsMessage.id).desc())
                .limit(50)
            ).all()
        self.messages = [
            {
                "at": row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                "mobile": mask_mobile(row.mobile),
                "body": row.body,
            }
            for row in rows
        ]
        return None


def dev_sms_page() -> rx.Component:
    table = rx.table.root(
        rx.el.caption("演示短信发件箱", class_name="sr-only"),
        rx.table.header(
            rx.table.row(
                *(rx.table.column_header_cell(c, scope="col") for c in COLUMNS)
            )
        ),
        rx.table.body(
            rx.foreach(
                DevSmsState.messages,
                lambda m: rx.table.row(
                    rx.table.cell(m["at"]),
                    rx.table.cell(m["mobile"]),
                    rx.table.row_header_cell(m["body"]),
                ),
            )
        ),
        variant="surface",
        width="100%",
    )
    return rx.container(
        rx.heading("演示短信发件箱", size="5", as_="h1", margin_y="16px"),
        rx.cond(
            DevSmsState.enabled,
            rx.vstack(
                rx.text(
                    "仅演示模式可用：演示短信网关不会真正发送短信，验证码显示在这里。",
                    color_scheme="gray",
                    size="2",
                ),
                rx.button("刷新", variant="soft", on_click=DevSmsState.on_load),
                table,
                width="100%",
            ),
            rx.text("演示模式已关闭，此页面不可用。"),
        ),
    )
