"""Validation and masking of identity documents (证件), mobile numbers and e-mail.

Validators return the normalised value or raise :class:`IdNumberError` whose
``message`` is ready to show next to the form field. They never log or echo the
number back, so a message can be displayed or audited without leaking it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from types import MappingProxyType

from his_portal.errors import HisError

__all__ = [
    "ID_TYPES",
    "IdNumberError",
    "mask_id_number",
    "mask_mobile",
    "resident_check_digit",
    "validate_email",
    "validate_id_number",
    "validate_mobile",
]

#: Code name → UI label, in the order the 证件类型 dropdown shows them.
ID_TYPES: MappingProxyType[str, str] = MappingProxyType(
    {
        "resident": "居民身份证",
        "hk_macau": "港澳居民来往内地通行证",
        "taiwan": "台湾居民来往大陆通行证",
        "passport": "护照",
        "foreign_permanent": "外国人永久居留身份证",
    }
)

# GB 11643-1999 (ISO 7064 MOD 11-2) weights and remainder → check character.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"

# GB/T 2260 province-level codes; 83 is only used by Taiwan residence permits
# (港澳台居民居住证), which share the 18-digit citizen number format.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45}
    | {46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
# Residence permits for HK/Macau/Taiwan residents carry exactly 810000/820000/830000.
_PERMIT_PROVINCES = frozenset({81, 82, 83})
_EARLIEST_BIRTH = dt.date(1900, 1, 1)

_RESIDENT_SHAPE = re.compile(r"\d{17}[\dX]")
_HK_MACAU = re.compile(r"[HM](\d{8}|\d{10})")
# Current cards (since 2015) have 8 digits; older and one-time permits have 10
# characters, the first of which may be a letter (e.g. F290299977).
_TAIWAN = re.compile(r"\d{8}|[A-Z\d]\d{9}")
# Chinese passports (E12345678, EA1234567, G12345678, ...) all fit the ICAO range
# used for foreign passports, so one rule covers both.
_PASSPORT = re.compile(r"[A-Z\d]{5,17}")
_FOREIGN_OLD = re.compile(r"[A-Z]{3}\d{12}")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Deliberately simple: one @, a dot-atom local part and a dotted host name. The
# only real proof an address works is a mail that arrives.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class IdNumberError(HisError):
    """A value failed validation; ``message`` is the Chinese text for the user."""


def _normalise(value: str) -> str:
    # NFKC turns full-width digits/letters typed with a Chinese IME into ASCII.
    return unicodedata.normalize("NFKC", value or "").strip().upper()


def resident_check_digit(first17: str) -> str:
    """Compute the GB 11643-1999 check character for 17 leading digits.

    Args:
        first17: The first 17 digits of an 18-digit citizen number.

    Returns:
        The check character, ``"0"``–``"9"`` or ``"X"``.
    """
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _check_birth_date(digits: str, today: dt.date) -> None:
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise IdNumberError("出生日期无效") from None
    if born < _EARLIEST_BIRTH:
        raise IdNumberError("出生日期不能早于1900年")
    if born > today:
        raise IdNumberError("出生日期不能晚于今天")


def _check_gb11643(
    number: str, label: str, today: dt.date, region_ok: Callable[[str], bool]
) -> None:
    """Shared rules of the 18-character GB 11643 layout (居民身份证, 2023 永居证)."""
    if len(number) != 18:
        raise IdNumberError(f"{label}号码应为18位")
    if not _RESIDENT_SHAPE.fullmatch(number):
        raise IdNumberError(f"{label}号码前17位应为数字，最后一位应为数字或X")
    if not region_ok(number):
        raise IdNumberError("地区代码无效")
    _check_birth_date(number[6:14], today)
    expected = resident_check_digit(number[:17])
    if number[17] != expected:
        raise IdNumberError(f"校验位错误，应为{expected}")


def _resident_region_ok(number: str) -> bool:
    province, rest = int(number[:2]), number[2:6]
    # A real county code never ends in 0000, except the fixed codes of residence
    # permits for HK/Macau/Taiwan residents, which always do.
    return province in _PROVINCES and (province in _PERMIT_PROVINCES) == (
        rest == "0000"
    )


def _foreign_region_ok(number: str) -> bool:
    # 2023 layout: "9", the issuing province, a 3-digit nationality code, birth date.
    return number[0] == "9" and int(number[1:3]) in _PROVINCES - _PERMIT_PROVINCES


def _validate_foreign_permanent(number: str, today: dt.date) -> None:
    if len(number) == 15:
        if not _FOREIGN_OLD.fullmatch(number):
            raise IdNumberError("旧版外国人永久居留身份证号码应为3位字母加12位数字")
        return
    if len(number) != 18:
        raise IdNumberError("外国人永久居留身份证号码应为18位（旧版为15位）")
    if not number.startswith("9"):
        raise IdNumberError("外国人永久居留身份证号码应以9开头")
    _check_gb11643(number, "外国人永久居留身份证", today, _foreign_region_ok)


def validate_id_number(
    id_type: str, number: str, *, today: dt.date | None = None
) -> str:
    """Validate an ID document number and return it normalised.

    Args:
        id_type: One of the keys of :data:`ID_TYPES`.
        number: The number as typed; surrounding spaces and case do not matter.
        today: The date birth dates are compared with; defaults to the local date.

    Returns:
        The number stripped and upper-cased (full-width characters made ASCII).

    Raises:
        IdNumberError: The type is unknown or the number is invalid for it.
    """
    if id_type not in ID_TYPES:
        raise IdNumberError("证件类型无效")
    value = _normalise(number)
    if not value:
        raise IdNumberError("请输入证件号码")
    today = today or dt.date.today()
    if id_type == "resident":
        _check_gb11643(value, "居民身份证", today, _resident_region_ok)
    elif id_type == "foreign_permanent":
        _validate_foreign_permanent(value, today)
    elif id_type == "hk_macau" and not _HK_MACAU.fullmatch(value):
        raise IdNumberError("港澳居民来往内地通行证号码应为H或M开头，后接8位或10位数字")
    elif id_type == "taiwan" and not _TAIWAN.fullmatch(value):
        raise IdNumberError("台湾居民来往大陆通行证号码应为8位数字（旧版为10位）")
    elif id_type == "passport" and not _PASSPORT.fullmatch(value):
        raise IdNumberError("护照号码应为5至17位字母或数字")
    return value


def mask_id_number(number: str) -> str:
    """Hide the middle of an ID number for display.

    Numbers of 14 characters or more keep their first and last four characters;
    shorter ones (passports, permits) keep only the first and last, because four
    and four would reveal most of a nine-character number.

    Args:
        number: The (normalised) ID number.

    Returns:
        The masked number, e.g. ``3101**********1234``; all stars if 2 chars or less.
    """
    value = (number or "").strip()
    keep = 4 if len(value) >= 14 else 1
    if len(value) <= 2 * keep:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def validate_mobile(value: str) -> str:
    """Validate a mainland China mobile number.

    Spaces and hyphens (``138 1234 5678``) and a ``+86``/``86`` prefix are accepted
    and removed, because that is how numbers are copied from contact cards.

    Args:
        value: The number as typed.

    Returns:
        The 11 digits.

    Raises:
        IdNumberError: Not an 11-digit mainland mobile number.
    """
    digits = re.sub(r"[\s-]", "", _normalise(value))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise IdNumberError("手机号码应为11位大陆手机号")
    return digits


def mask_mobile(value: str) -> str:
    """Hide the middle four digits of a mobile number (``138****5678``).

    Args:
        value: The mobile number, normally as returned by :func:`validate_mobile`.

    Returns:
        The masked number; values shorter than 7 characters become all stars.
    """
    value = (value or "").strip()
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def validate_email(value: str) -> str:
    """Validate an optional e-mail address.

    Args:
        value: The address as typed; empty means "no e-mail".

    Returns:
        ``""`` for an empty value, else the address stripped with its domain
        lower-cased (the local part is case-sensitive by RFC 5321).

    Raises:
        IdNumberError: The address is not syntactically valid.
    """
    value = (value or "").strip()
    if not value:
        return ""
    local, _, domain = value.rpartition("@")
    if len(value) > 254 or len(local) > 64 or not _EMAIL.fullmatch(value):
        raise IdNumberError("邮箱格式不正确")
    return f"{local}@{domain.lower()}"
