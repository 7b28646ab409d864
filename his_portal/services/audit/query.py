"""审计日志 for administrators: the entries filtered by person, action, record and
date, newest first, a page at a time (keyset pagination on ``seq``: a deep page
costs what the first one does), and the same entries as CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from his_portal.errors import AccessDenied, InvalidInput
from his_portal.models import AuditEvent, MedicalRecord, Patient, Role
from his_portal.services.audit.chain import HEAD_INVALID_ACTION, AuditError
from his_portal.services.audit.verify import verify_chain
from his_portal.services.auth import CurrentUser

__all__ = [
    "ACTION_LABELS",
    "CSV_COLUMNS",
    "EXPORT_MAX",
    "PAGE_SIZE",
    "AuditFilter",
    "AuditPage",
    "AuditRow",
    "ChainStatus",
    "chain_status",
    "export_csv",
    "search_events",
]

PAGE_SIZE = 50
#: At most this many entries go into one CSV export (newest first).
EXPORT_MAX = 100_000
_YIELD_PER = 1000
#: Cells starting with these are formulas to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: The actions in Chinese, for the list and its action filter.
ACTION_LABELS: dict[str, str] = {
    "auth.login": "登录",
    "auth.login_failed": "登录失败",
    "auth.login_refused_locked": "账号锁定中，拒绝登录",
    "auth.account_locked": "登录失败过多，账号锁定",
    "auth.ip_throttled": "登录尝试过频，地址限流",
    "auth.account_unlocked": "解锁账号",
    "auth.logout": "退出登录",
    "auth.session_idle_expired": "长时间未操作，登录失效",
    "auth.password_changed": "修改密码",
    "auth.password_change_failed": "修改密码：当前密码错误",
    "auth.password_set": "设置新密码",
    "account.created": "创建账号",
    "account.disabled": "停用账号",
    "account.enabled": "启用账号",
    "account.password_reset": "重置密码",
    "profile.updated": "修改个人信息",
    "identity.verified": "实名认证通过",
    "identity.mismatch": "实名认证信息不符",
    "identity.check_failed": "实名认证服务失败",
    "identity.revoked": "解除实名认证",
    "identity.review_requested": "申请人工审核",
    "identity.review_approved": "人工审核通过",
    "identity.review_rejected": "人工审核驳回",
    "certificate.issued": "签发证书",
    "seal.saved": "设置个性签章",
    "seal.deleted": "删除个性签章",
    "esign.enabled": "电子签名开关",
    "willingness.started": "意愿校验开始",
    "willingness.code_sent": "发送短信验证码",
    "willingness.sms_failed": "短信发送失败",
    "willingness.qr_issued": "生成人脸识别二维码",
    "willingness.face_started": "开始人脸识别",
    "willingness.face_error": "人脸识别服务失败",
    "willingness.face_unfinished": "人脸识别未完成",
    "willingness.confirmed": "意愿校验通过",
    "willingness.failed": "意愿校验失败",
    "willingness.used": "意愿校验用于签署",
    "willingness.cancelled": "意愿校验取消",
    "sign.batch_started": "批量签名开始",
    "sign.batch_finished": "批量签名结束",
    "sign.refused_not_owner": "拒绝签署他人病历",
    "record.signed": "病历签名",
    "record.signature_revoked": "撤销签名",
    "record.edited": "修改病历",
    "record.edit_refused_locked": "拒绝修改已锁定病历",
    "notify.remind": "催签",
    "notify.read": "通知已读",
    "notify.read_all": "通知全部已读",
    HEAD_INVALID_ACTION: "审计日志头部校验失败",
}

CSV_COLUMNS = ("序号", "时间", "操作人", "操作", "操作代码", "对象", "详情", "IP")


@dataclass(frozen=True)
class AuditFilter:
    """What the list is narrowed to; empty fields do not narrow it."""

    #: The actor's login id, exactly.
    actor_login: str = ""
    #: The action, exactly (e.g. ``record.signed``).
    action: str = ""
    #: A 病历号 (the records of that patient), or part of the target text
    #: (``record:42``, ``user:3``).
    target: str = ""
    #: First and last day, in the clinic's time zone (both included).
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """One entry as the administrator reads it."""

    seq: int
    at: str
    actor: str
    action: str
    action_label: str
    target: str
    detail: str
    ip: str


@dataclass(frozen=True)
class AuditPage:
    """A page of entries, newest first; ``next_before`` is the cursor of the
    older page (None on the last page)."""

    rows: list[AuditRow]
    next_before: int | None


def _require_admin(viewer: CurrentUser) -> None:
    if viewer.role != Role.ADMIN:
        raise AccessDenied("只有系统管理员可以查看审计日志")


def _record_targets(session: Session, text: str) -> list[str]:
    ids = session.exec(
        select(MedicalRecord.id)
        .join(Patient, Patient.id == MedicalRecord.patient_id)
        .where(Patient.record_no == text)
    ).all()
    return [f"record:{record_id}" for record_id in ids]


def _where(session: Session, query, filters: AuditFilter, zone: ZoneInfo):
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise InvalidInput("开始日期不能晚于结束日期")
    if filters.actor_login.strip():
        query = query.where(AuditEvent.actor_login == filters.actor_login.strip())
    if filters.action.strip():
        query = query.where(AuditEvent.action == filters.action.strip())
    text = filters.target.strip()
    if text:
        targets = _record_targets(session, text)
        if targets:
            query = query.where(col(AuditEvent.target).in_(targets))
        else:
            pattern = "%" + text.replace("%", "").replace("_", "") + "%"
            query = query.where(func.lower(AuditEvent.target).like(pattern.lower()))
    if filters.date_from:
        start = datetime.combine(filters.date_from, time(), zone)
        query = query.where(AuditEvent.at >= start)
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), zone)
        query = query.where(AuditEvent.at < end)
    return query


def _row(event: AuditEvent, zone: ZoneInfo) -> AuditRow:
    return AuditRow(
        seq=event.seq,
        at=event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        actor=event.actor_login,
        action=event.action,
        action_label=ACTION_LABELS.get(event.action, ""),
        target=event.target,
        detail=_detail_text(event.detail),
        ip=event.ip,
    )


def _detail_text(detail: str) -> str:
    """``{"a": 1}`` as ``a=1``; anything else as stored."""
    try:
        values = json.loads(detail) if detail else {}
    except ValueError:
        return detail
    if not isinstance(values, dict):
        return detail
    return "，".join(f"{key}={value}" for key, value in values.items())


def search_events(
    *,
    session: Session,
    viewer: CurrentUser,
    filters: AuditFilter,
    zone: ZoneInfo,
    before_seq: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """The newest ``limit`` entries matching ``filters`` with ``seq`` below
    ``before_seq`` (the whole log when None).

    Raises:
        AccessDenied: ``viewer`` is not an administrator.
        InvalidInput: The date range is reversed.
    """
    _require_admin(viewer)
    query = _where(session, select(AuditEvent), filters, zone)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    events = session.exec(
        query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)
    ).all()
    rows = [_row(event, zone) for event in events[:limit]]
    more = len(events) > limit
    return AuditPage(rows=rows, next_before=rows[-1].seq if more else None)


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(
    *, session: Session, viewer: CurrentUser, filters: AuditFilter, zone: ZoneInfo
) -> tuple[bytes, int]:
    """The entries matching ``filters`` as CSV for Excel (UTF-8 with BOM; a cell
    that a spreadsheet would run as a formula starts with ``'``), newest first,
    at most ``EXPORT_MAX``; read ``_YIELD_PER`` rows at a time.

    Returns:
        The file, and how many entries it holds.
    """
    _require_admin(viewer)
    query = (
        _where(session, select(AuditEvent), filters, zone)
        .order_by(col(AuditEvent.seq).desc())
        .limit(EXPORT_MAX)
        .execution_options(yield_per=_YIELD_PER)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in session.exec(query):
        row = _row(event, zone)
        writer.writerow(
            [
                _cell(field)
                for field in (
                    row.seq,
                    row.at,
                    row.actor,
                    row.action_label,
                    row.action,
                    row.target,
                    row.detail,
                    row.ip,
                )
            ]
        )
        count += 1
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count


@dataclass(frozen=True)
class ChainStatus:
    """The chain check as the audit page shows it."""

    ok: bool
    entries: int
    #: The first entry that does not verify (None when intact).
    first_broken_seq: int | None
    message: str
    #: The TSA's time of the latest valid anchor, in the clinic's zone ("" if none).
    latest_anchor: str


def chain_status(
    *, session: Session, viewer: CurrentUser, zone: ZoneInfo, system_trust: bool
) -> ChainStatus:
    """Run :func:`~.verify.verify_chain` over the whole log (slow on a big log:
    call it from a worker thread).

    Raises:
        AccessDenied: ``viewer`` is not an administrator.
    """
    _require_admin(viewer)
    try:
        report = verify_chain(session=session, system_trust=system_trust, zone=zone)
    except AuditError as exc:
        return ChainStatus(False, 0, None, exc.message, "")
    anchor = report.latest_anchor_time
    return ChainStatus(
        ok=report.ok,
        entries=report.checked,
        first_broken_seq=report.first_broken_seq,
        message=report.reason,
        latest_anchor=anchor.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        if anchor
        else "",
    )
