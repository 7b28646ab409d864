"""/confirm/[token]: the phone page behind the 意愿校验 QR code. It shows what will be
signed and confirms through the face-check provider; no login on the phone."""

from __future__ import annotations

import reflex as rx

from his_portal import db, deps
from his_portal.services import willingness, willingness_qr
from his_portal.services.audit import Actor

# The demo face check accepts this evidence; a real WeChat adapter gets a
# verification result token from the WeChat face-verification flow instead.
DEMO_EVIDENCE = "demo-face-ok"


class ConfirmState(rx.State):
    doctor: str = ""
    count: int = 0
    record_nos: list[str] = []
    status: str = ""
    message: str = ""

    def _token(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    @rx.event
    def on_load(self):
        self.message = ""
        try:
            with db.session() as session:
                view = willingness_qr.describe_qr(
                    session, token=self._token(), secret=deps.willingness_secret()
                )
        except willingness.WillingnessError as exc:
            self.status, self.message = "gone", exc.message
            return
        self.doctor, self.count = view.doctor_name, view.record_count
        self.record_nos, self.status = list(view.record_nos), view.status

    @rx.event
    def face_check(self):
        actor = Actor(
            ip=self.router.session.client_ip, user_agent=self.router.headers.user_agent
        )
        try:
            with db.session() as session:
                view = willingness_qr.confirm_qr(
                    session,
                    token=self._token(),
                    face=deps.face_provider(),
                    evidence=DEMO_EVIDENCE,
                    secret=deps.willingness_secret(),
                    actor=actor,
                )
        except willingness.WillingnessError as exc:
            self.message = exc.message
            return
        self.status, self.message = view.status, "已确认，请回到电脑上继续签署"


def confirm_page() -> rx.Component:
    return rx.container(
        rx.vstack(
            rx.heading("病历签署确认", size="5", as_="h1"),
            rx.cond(
                ConfirmState.status == "pending",
                rx.vstack(
                    rx.text("签署医生：" + ConfirmState.doctor),
                    rx.text(f"即将签署 {ConfirmState.count} 份病历："),
                    rx.foreach(
                        ConfirmState.record_nos, lambda no: rx.text("病历号 " + no)
                    ),
                    rx.text(
                        "意愿校验是证明病历的签署是得到您自己知晓和认可的，而不是被盗用的。",
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.button(
                        "开始人脸识别并确认签署",
                        size="3",
                        color_scheme="green",
                        width="100%",
                        on_click=ConfirmState.face_check,
                    ),
                    spacing="3",
                    width="100%",
                ),
            ),
            rx.cond(
                ConfirmState.message != "",
                rx.callout(ConfirmState.message, icon="info", role="status"),
            ),
            spacing="4",
            padding_y="24px",
        ),
        size="1",
    )
