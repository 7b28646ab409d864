"""/dev/sms: the demo SMS outbox (demo mode only: the page and this state are not
registered otherwise), so the product can be tried without a phone. Shows the
logged-in person only the messages the demo gateway "sent" to them, newest first."""

from __future__ import annotations

import reflex as rx

from his_portal import db
from his_portal.components.data_table import data_table
from his_portal.demo import outbox
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState

COLUMNS = ("发送时间", "手机号", "内容")


class DevSmsState(AuthState):
    messages: list[outbox.OutboxMessage] = []
    enabled: bool = False

    @rx.event
    def on_load(self):
        self.enabled = get_settings().demo_mode
        user = self._require()
        if not self.enabled or user is None:
            self.messages = []
            return None
        with db.session() as session:
            self.messages = outbox.messages_for(
                session, user_id=user.id, zone=clinic_zone()
            )
        return None


def dev_sms_page() -> rx.Component:
    table = data_table(
        "演示短信发件箱",
        COLUMNS,
        DevSmsState.messages,
        lambda m: [m.at, m.mobile, m.body],
        row_header=2,
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
