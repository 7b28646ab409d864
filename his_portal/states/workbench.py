"""医生工作 state: records by 病历时间 and 病历号 (own records; a manager: the
clinic's), the tabs, selection, KPIs, signed files and 撤销签名."""

from __future__ import annotations

from datetime import date, datetime

import reflex as rx

from his_portal import db, deps, routes
from his_portal.errors import HisError, InvalidInput
from his_portal.models import Role, SignStatus
from his_portal.services import file_tickets
from his_portal.services.audit import Actor
from his_portal.services.identity import profile as identity
from his_portal.services.records import queries as records
from his_portal.services.signing import versions as record_versions
from his_portal.settings import clinic_zone, get_settings
from his_portal.state import AuthState


def _today() -> str:
    return datetime.now(clinic_zone()).date().isoformat()


def _parse_day(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label}格式不正确，应为 年-月-日") from None


TABS = {
    "today": "今日就诊",
    "appointments": "今日预约",
    "pending": "待完善病历",
    "signed": "已完善病历",
}
OUTSIDE_TABS = ("今日回访", "已完善病历(医网信)", "收入", "投诉记录")
APPOINTMENT_COLUMNS = ("预约时间", "姓名", "病历号", "挂号项目", "医生", "状态")
TAB_STATUS = {
    "today": None,
    "pending": SignStatus.UNSIGNED,
    "signed": SignStatus.SIGNED,
}


class WorkbenchState(AuthState):
    tab: str = "pending"
    date_from: str = ""
    date_to: str = ""
    record_no: str = ""
    rows: list[records.RecordRow] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    error: str = ""
    esign_state: str = ""
    selected: list[int] = []
    kpis: dict[str, str] = {}
    details: dict[str, str] = {}
    appointments: list[records.AppointmentRow] = []
    oldest_first: bool = False
    revoke_target: int = 0
    #: Where each page reached so far starts (keyset), for the list named by
    #: ``_pages_key``: 下一页 and 上一页 continue from a row, never skip rows.
    _starts: dict[int, records.Cursor] = {}
    _pages_key: str = ""
    # Set on load (not a computed var: it would depend on the parent's user_role).
    can_sign: bool = False

    @rx.var
    def page_selectable(self) -> list[int]:
        return [row.id for row in self.rows if row.sign_status == "unsigned"]

    @rx.var
    def all_selected(self) -> bool:
        ids = [row.id for row in self.rows if row.sign_status == "unsigned"]
        return bool(ids) and all(i in self.selected for i in ids)

    @rx.event
    def set_tab(self, value: str | list[str]):
        if value in TABS:
            self.tab, self.selected = value, []
            return self._load(1)
        return None

    @rx.event
    def toggle(self, record_id: int):
        if record_id in self.selected:
            self.selected = [i for i in self.selected if i != record_id]
        elif record_id in self.page_selectable:
            self.selected = [*self.selected, record_id]

    @rx.event
    def toggle_page(self):
        ids = self.page_selectable
        if self.all_selected:
            self.selected = [i for i in self.selected if i not in ids]
        else:
            self.selected = sorted(set(self.selected) | set(ids))

    @rx.event
    def set_date_from(self, value: str):
        self.date_from = value

    @rx.event
    def set_date_to(self, value: str):
        self.date_to = value

    @rx.event
    def set_record_no(self, value: str):
        self.record_no = value

    @rx.event
    def on_load(self):
        if not self.date_from:
            self.date_from = self.date_to = _today()
        user = self._require(Role.DOCTOR)
        if user is not None:
            with db.session() as session:
                view = identity.get_profile(session=session, user=user)
            self.esign_state = (
                "on"
                if view.esign_enabled
                else "off"
                if view.status == "verified"
                else "unverified"
            )
        self.can_sign = user is not None and self.esign_state == "on"
        return self._load(1)

    @rx.event
    def search(self):
        return self._load(1)

    @rx.event
    def toggle_order(self):
        """创建时间 header: newest first ⇄ oldest first (server-side)."""
        self.oldest_first = not self.oldest_first
        return self._load(1)

    def _signed(self, record_id: int):
        """(the signed version, None) or (None, the event that answers the click)."""
        viewer = self._require(Role.DOCTOR, Role.MANAGER)
        if viewer is None:
            return None, AuthState.guard
        try:
            with db.session() as session:
                return record_versions.signed_document(
                    session=session,
                    viewer=viewer,
                    record_id=record_id,
                    zone=clinic_zone(),
                ), None
        except HisError as exc:
            return None, rx.toast.error(exc.message)

    @rx.event
    def view_pdf(self, record_id: int):
        """Open the signed PDF in a new tab, through a single-use 60-second ticket
        bound to this login session."""
        doc, refusal = self._signed(record_id)
        if doc is None:
            return refusal
        path = f"{routes.SIGNED_FILES}/{doc.file_name}"
        try:
            with db.session() as session:
                ticket = file_tickets.issue(
                    session=session,
                    token=self.token,
                    path=path,
                    key=deps.file_ticket_key(),
                )
        except HisError:
            return AuthState.guard
        return rx.redirect(f"{path}?{ticket}", is_external=True)

    @rx.event
    def download_pdf(self, record_id: int):
        doc, refusal = self._signed(record_id)
        if doc is None:
            return refusal
        data = (get_settings().data_dir / "signed" / doc.file_name).read_bytes()
        return rx.download(
            data=data, filename=doc.download_name, mime_type="application/pdf"
        )

    @rx.event
    def show_details(self, record_id: int):
        doc, refusal = self._signed(record_id)
        if doc is None:
            return refusal
        zone = clinic_zone()
        self.details = {
            "文件": doc.download_name,
            "版本": str(doc.version),
            "签署者": doc.signer,
            "签署时间": doc.signed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "证书序列号": doc.cert_serial,
            "签章": {"personal": "个性签章"}.get(doc.seal_kind, "系统签名"),
            "意愿校验": {"sms": "短信验证码", "qr": "微信扫码人脸识别"}.get(
                doc.method, doc.method
            ),
            "文件SHA-256": doc.sha256,
            "签名版本": "；".join(doc.history),
            "签名格式": "PAdES B-T（ETSI.CAdES.detached，SHA-256，RFC 3161 时间戳）",
        }
        return None

    @rx.event
    def close_details(self):
        self.details = {}

    @rx.event
    def ask_revoke(self, record_id: int):
        self.revoke_target = record_id

    @rx.event
    def cancel_revoke(self):
        self.revoke_target = 0

    @rx.event
    def revoke(self):
        """撤销签名: a new version opens for amending; the signed one is kept."""
        user = self._require(Role.DOCTOR)
        if user is None:
            return AuthState.guard
        ip, agent = self._client()
        try:
            with db.session() as session:
                record_versions.revoke_signature(
                    session=session,
                    user=user,
                    record_id=self.revoke_target,
                    reason="医生撤销签名以修改病历",
                    actor=Actor(user.id, user.login_id, ip, agent),
                )
        except HisError as exc:
            self.revoke_target = 0
            return rx.toast.error(exc.message)
        self.revoke_target = 0
        self._load(self.page)
        return rx.toast.success("已撤销签名：病历已生成新版本，修改后请重新签名")

    @rx.event
    def after_signing(self):
        """A batch finished: the rows now show 已签名 / 过期时间 / 签署者 / 已完成."""
        self.selected = []
        return self._load(self.page)

    @rx.event
    def go_page(self, page: int):
        if type(page) is not int:
            return rx.toast.error("页码无效")
        return self._load(page)

    def _after(self, page: int, key: str) -> records.Cursor | None:
        """The row page ``page`` starts after, if the pager came that way under
        this very list (else None: the service counts its way there)."""
        if key != self._pages_key:
            self._starts, self._pages_key = {}, key
        return self._starts.get(page) if page > 1 else None

    def _load(self, page: int):
        viewer = self._require(Role.DOCTOR, Role.MANAGER)
        if viewer is None:
            return AuthState.guard
        if self.tab == "appointments":
            with db.session() as session:
                self.appointments = records.todays_appointments(
                    session=session,
                    viewer=viewer,
                    now=datetime.now(clinic_zone()),
                    zone=clinic_zone(),
                )
            return None
        today = _today()
        key = repr((self.tab, self.date_from, self.date_to, self.record_no))
        key += repr((self.oldest_first, today))
        try:
            filters = records.RecordFilter(
                date_from=_parse_day(
                    today if self.tab == "today" else self.date_from, "开始日期"
                ),
                date_to=_parse_day(
                    today if self.tab == "today" else self.date_to, "结束日期"
                ),
                record_no=self.record_no,
                sign_status=TAB_STATUS[self.tab],
                oldest_first=self.oldest_first,
                page=page,
                after=self._after(page, key),
            )
            with db.session() as session:
                result = records.list_records(
                    session=session, viewer=viewer, filters=filters, zone=clinic_zone()
                )
                kpis = records.workbench_kpis(
                    session=session,
                    viewer=viewer,
                    now=datetime.now(clinic_zone()),
                    zone=clinic_zone(),
                )
        except HisError as exc:
            self.error = str(exc)
            return None
        self.error = ""
        self.rows, self.total = result.rows, result.total
        self.page, self.pages = result.page, result.pages
        if result.next_after is not None:
            self._starts = {**self._starts, result.page + 1: result.next_after}
        self.kpis = {
            "今日接诊": str(kpis.today_visits),
            "待签名": str(kpis.pending),
            "今日已签": str(kpis.signed_today),
            "签署完成率": kpis.completion,
            "超期未签": str(kpis.overdue),
        }
        return None
