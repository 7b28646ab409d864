"""The rest of the demo chain: each 分院's manager and the doctors whose 90 days of
signing history the dashboards show (loaded by :mod:`.history`).

上海维乐海趣路门诊's tutorial doctors (郑程, 王莉) have not verified yet — the tutorial
starts there — so 刘洋 gives that 分院 a signing history too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from his_portal.models import Role

from .data import DEMO_ACCOUNTS, DEMO_PASSWORD, DemoAccount

__all__ = [
    "ALL_ACCOUNTS",
    "BRANCH_MANAGERS",
    "HISTORY_DOCTORS",
    "HistoryDoctor",
    "Style",
]


@dataclass(frozen=True)
class Style:
    """How a doctor signs: shares of records signed within the hour, the same
    evening, one to two days late, three to six days late, or never (still
    unsigned). The shares add up to 1."""

    prompt: float
    evening: float
    late: float
    very_late: float
    never: float


PROMPT = Style(prompt=0.82, evening=0.12, late=0.04, very_late=0.0, never=0.02)
EVENING = Style(prompt=0.10, evening=0.76, late=0.09, very_late=0.02, never=0.03)
BEHIND = Style(prompt=0.08, evening=0.37, late=0.27, very_late=0.14, never=0.14)


@dataclass(frozen=True)
class HistoryDoctor:
    """A verified doctor with 电子签名 on and a history of signed records."""

    account: DemoAccount
    born: date
    male: bool
    mobile: str
    seal: str  # "personal" (a handwritten 个性签章) or "system" (系统签名)
    style: Style


def _doctor(login: str, name: str, code: str) -> DemoAccount:
    return DemoAccount(login, name, Role.DOCTOR, DEMO_PASSWORD, clinic_code=code)


HISTORY_DOCTORS = (
    HistoryDoctor(
        _doctor("sh-liuyang@8112", "刘洋", "8112"),
        date(1988, 4, 16),
        True,
        "13800138002",
        "personal",
        PROMPT,
    ),
    HistoryDoctor(
        _doctor("xh-liming@8113", "李明", "8113"),
        date(1982, 9, 3),
        True,
        "13800138011",
        "personal",
        PROMPT,
    ),
    HistoryDoctor(
        _doctor("xh-zhangmin@8113", "张敏", "8113"),
        date(1991, 12, 20),
        False,
        "13800138012",
        "system",
        EVENING,
    ),
    HistoryDoctor(
        _doctor("xh-zhaolei@8113", "赵磊", "8113"),
        date(1979, 6, 8),
        True,
        "13800138013",
        "personal",
        BEHIND,
    ),
    HistoryDoctor(
        _doctor("pd-wuting@8114", "吴婷", "8114"),
        date(1993, 3, 27),
        False,
        "13800138021",
        "personal",
        EVENING,
    ),
    HistoryDoctor(
        _doctor("pd-huangwei@8114", "黄伟", "8114"),
        date(1985, 11, 11),
        True,
        "13800138022",
        "system",
        BEHIND,
    ),
)

#: One manager per 分院, seeing only their own (陈静 sees the whole chain).
BRANCH_MANAGERS = (
    DemoAccount("sh-zhoumin@8112", "周敏", Role.MANAGER, DEMO_PASSWORD, "8112"),
    DemoAccount("xh-sunli@8113", "孙丽", Role.MANAGER, DEMO_PASSWORD, "8113"),
    DemoAccount("pd-hejun@8114", "何军", Role.MANAGER, DEMO_PASSWORD, "8114"),
)

ALL_ACCOUNTS = (
    *DEMO_ACCOUNTS,
    *(doctor.account for doctor in HISTORY_DOCTORS),
    *BRANCH_MANAGERS,
)
