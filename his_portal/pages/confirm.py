"""/confirm/[token]: the phone page behind the 意愿校验 QR code. It shows who is asked
to confirm what, starts the face-check provider's flow for the verified doctor and,
back from it, has the server check the result; no login on the phone."""

from __future__ import annotations

import reflex as rx

from his_portal import db, deps
from his_portal.adapters.face import DEMO_FACE_OK
from his_portal.errors import HisError
from his_portal.services.audit import Actor
from his_portal.services.willingness import qr as willingness_qr
from his_portal.settings import get_settings

WHY = "意愿校验是证明病历的签署是得到您自己知晓和认可的，而不是被盗用的。"


class ConfirmState(rx.State):
    doctor: str = ""
    count: int = 0
    record_nos: list[str] = []
    status: str = ""
    message: str = ""
    face_started: bool = False
    simulate: bool = False  # demo provider: this page stands in for its H5 page

    def _token(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    def _actor(self) -> Actor:
        return Actor(
            ip=self.router.session.client_ip, user_agent=self.router.headers.user_agent
        )

    def _show(self, view: willingness_qr.QrView) -> None:
        self.doctor, self.count = view.doctor_name, view.record_count
        self.record_nos, self.status = list(view.record_nos), view.status
        self.face_started = view.face_started

    @rx.event
    def on_load(self):
        self.message, self.simulate = "", False
        try:
            with db.session() as session:
                view = willingness_qr.describe_qr(
                    session, token=self._token(), secret=deps.willingness_secret()
                )
        except HisError as exc:
            self.status, self.message = "gone", exc.message
            return None
        self._show(view)
        face = deps.face_provider()
        if view.face_started and face is not None:
            if face.demo:
                self.simulate = True
                return None
            return ConfirmState.finish("")  # back from the provider's page
        return None

    @rx.event
    def start_face(self):
        """开始人脸识别: the provider's page for the verified doctor."""
        face = deps.face_provider()
        back = f"{get_settings().public_url}/confirm/{self._token()}"
        try:
            with db.session() as session:
                url = willingness_qr.begin_face(
                    session,
                    token=self._token(),
                    face=face,
                    return_url=back,
                    secret=deps.willingness_secret(),
                    kek=deps.kek(),
                    actor=self._actor(),
                )
        except HisError as exc:
            self.message = exc.message
            return None
        self.face_started = True
        if url:
            return rx.redirect(url)  # the same tab: the provider sends it back here
        self.simulate = face is not None and face.demo
        return None

    @rx.event
    def finish(self, evidence: str):
        """Have the server ask the provider for the result, and confirm on a match."""
        try:
            with db.session() as session:
                view = willingness_qr.confirm_qr(
                    session,
                    token=self._token(),
                    face=deps.face_provider(),
                    evidence=evidence if isinstance(evidence, str) else "",
                    secret=deps.willingness_secret(),
                    kek=deps.kek(),
                    actor=self._actor(),
                )
        except HisError as exc:
            self.message = exc.message
            return
        self._show(view)
        self.simulate, self.message = False, "已确认，请回到电脑上继续签署"


def _demo_panel() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "演示模式：此处模拟人脸核身服务的页面", icon="info", color_scheme="amber"
        ),
        rx.button(
            "模拟人脸核验通过",
            color_scheme="green",
            width="100%",
            on_click=ConfirmState.finish(DEMO_FACE_OK),
        ),
        rx.button(
            "模拟人脸核验不通过",
            variant="soft",
            color_scheme="red",
            width="100%",
            on_click=ConfirmState.finish("demo-face-mismatch"),
        ),
        width="100%",
        spacing="2",
    )


def _pending() -> rx.Component:
    return rx.vstack(
        rx.text("签署医生：" + ConfirmState.doctor),
        rx.text(f"即将签署 {ConfirmState.count} 份病历："),
        rx.foreach(ConfirmState.record_nos, lambda no: rx.text("病历号 " + no)),
        rx.text(WHY, size="2", color_scheme="gray"),
        rx.cond(
            ConfirmState.simulate,
            _demo_panel(),
            rx.cond(
                ConfirmState.face_started,
                rx.button(
                    "查询人脸核验结果",
                    size="3",
                    color_scheme="green",
                    width="100%",
                    on_click=ConfirmState.finish(""),
                ),
                rx.button(
                    "开始人脸识别并确认签署",
                    size="3",
                    color_scheme="green",
                    width="100%",
                    on_click=ConfirmState.start_face,
                ),
            ),
        ),
        spacing="3",
        width="100%",
    )


def confirm_page() -> rx.Component:
    return rx.container(
        rx.vstack(
            rx.heading("病历签署确认", size="5", as_="h1"),
            rx.cond(ConfirmState.status == "pending", _pending()),
            rx.cond(
                ConfirmState.message != "",
                rx.callout(ConfirmState.message, icon="info", role="status"),
            ),
            spacing="4",
            padding_y="24px",
        ),
        size="1",
    )
