"""Tests for his_portal.services.identity.idcard."""

from __future__ import annotations

import datetime as dt

import pytest

from his_portal.services.identity.idcard import (
    ID_TYPES,
    IdNumberError,
    mask_id_number,
    mask_mobile,
    resident_check_digit,
    validate_email,
    validate_id_number,
    validate_mobile,
)

TODAY = dt.date(2026, 6, 1)


def with_check(first17: str) -> str:
    """Complete 17 digits with their check character (computed independently)."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # ISO 7064 MOD 11-2
    return (
        first17
        + "10X98765432"[
            sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11
        ]
    )


def test_id_types_order_and_labels() -> None:
    assert list(ID_TYPES) == [
        "resident",
        "hk_macau",
        "taiwan",
        "passport",
        "foreign_permanent",
    ]
    assert ID_TYPES["resident"] == "居民身份证"
    assert ID_TYPES["foreign_permanent"] == "外国人永久居留身份证"


@pytest.mark.parametrize(
    ("first17", "expected"),
    [("11010519491231002", "X"), ("44052418800101001", "4")],  # GB 11643 examples
)
def test_check_digit_matches_standard_examples(first17: str, expected: str) -> None:
    assert resident_check_digit(first17) == expected
    assert with_check(first17)[-1] == expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        ("  11010519491231002X\t", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # full width
        (with_check("31010119900307123"), with_check("31010119900307123")),
        (with_check("65010220000229001"), with_check("65010220000229001")),  # leap
        (with_check("81000019900101000"), with_check("81000019900101000")),  # permit
        (with_check("83000019900101000"), with_check("83000019900101000")),
        (with_check("11010119000101001"), with_check("11010119000101001")),
        (with_check("11010120260601001"), with_check("11010120260601001")),  # today
    ],
)
def test_valid_resident(raw: str, normalised: str) -> None:
    assert validate_id_number("resident", raw, today=TODAY) == normalised


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "请输入证件号码"),
        ("1101051949123100", "居民身份证号码应为18位"),
        ("11010519491231002X1", "居民身份证号码应为18位"),
        ("1101051949123100XX", "居民身份证号码前17位应为数字，最后一位应为数字或X"),
        ("11010519491231002Y", "居民身份证号码前17位应为数字，最后一位应为数字或X"),
        ("110105194912310021", "校验位错误，应为X"),
        (with_check("99010519491231002"), "地区代码无效"),
        (with_check("10010519491231002"), "地区代码无效"),
        (with_check("11000019491231002"), "地区代码无效"),  # no county
        (with_check("81010119900101000"), "地区代码无效"),  # permits use 810000
        (with_check("11010119900230001"), "出生日期无效"),
        (with_check("11010119901301001"), "出生日期无效"),
        (with_check("11010119900000001"), "出生日期无效"),
        (with_check("11010119010229001"), "出生日期无效"),  # 1901 not leap
        ("440524188001010014", "出生日期不能早于1900年"),
        (with_check("11010120260602001"), "出生日期不能晚于今天"),
    ],
)
def test_invalid_resident(number: str, message: str) -> None:
    with pytest.raises(IdNumberError) as err:
        validate_id_number("resident", number, today=TODAY)
    assert err.value.message == message


def test_today_defaults_to_current_date() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    number = with_check(f"110101{tomorrow:%Y%m%d}001")
    with pytest.raises(IdNumberError, match="出生日期不能晚于今天"):
        validate_id_number("resident", number)


def test_unknown_id_type() -> None:
    with pytest.raises(IdNumberError) as err:
        validate_id_number("driver_licence", "11010519491231002X")
    assert err.value.message == "证件类型无效"


@pytest.mark.parametrize(
    ("id_type", "raw", "normalised"),
    [
        ("hk_macau", "H12345678", "H12345678"),
        ("hk_macau", "m1234567801", "M1234567801"),
        ("taiwan", "12345678", "12345678"),
        ("taiwan", "0123456789", "0123456789"),
        ("taiwan", "f290299977", "F290299977"),
        ("passport", "E12345678", "E12345678"),
        ("passport", "ea1234567", "EA1234567"),
        ("passport", "G12345678", "G12345678"),
        ("passport", "X1234", "X1234"),
        ("passport", "AB1234567890CDEFG", "AB1234567890CDEFG"),
        ("foreign_permanent", "usa110870101011", "USA110870101011"),
        ("foreign_permanent", with_check("93115619900101001"), None),
        ("foreign_permanent", with_check("94484019851231002"), None),
    ],
)
def test_other_types_valid(id_type: str, raw: str, normalised: str | None) -> None:
    assert validate_id_number(id_type, raw, today=TODAY) == (normalised or raw)


@pytest.mark.parametrize(
    ("id_type", "number", "message"),
    [
        ("hk_macau", "H1234567", "H或M开头"),
        ("hk_macau", "A12345678", "H或M开头"),
        ("hk_macau", "H123456789", "H或M开头"),
        ("taiwan", "1234567", "8位数字"),
        ("taiwan", "1234567A", "8位数字"),
        ("taiwan", "AB12345678", "8位数字"),
        ("passport", "E123", "5至17位"),
        ("passport", "E1234-5678", "5至17位"),
        ("passport", "A" * 18, "5至17位"),
        ("foreign_permanent", "US1108701010111", "3位字母加12位数字"),
        ("foreign_permanent", "1234567890", "应为18位"),
        ("foreign_permanent", with_check("11010519491231002"), "应以9开头"),
        ("foreign_permanent", with_check("99915619900101001"), "地区代码无效"),
        ("foreign_permanent", with_check("93115619900230001"), "出生日期无效"),
        ("foreign_permanent", "931156199001010010", "校验位错误"),
    ],
)
def test_other_types_invalid(id_type: str, number: str, message: str) -> None:
    with pytest.raises(IdNumberError) as err:
        validate_id_number(id_type, number, today=TODAY)
    assert message in err.value.message


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("310101199003071234", "3101**********1234"),
        ("USA110870101011", "USA1*******1011"),
        ("E12345678", "E*******8"),
        ("12345678", "1******8"),
        ("AB1", "A*1"),
        ("AB", "**"),
        ("", ""),
    ],
)
def test_mask_id_number(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("13812345678", "13812345678"),
        (" 199 1234 5678 ", "19912345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
    ],
)
def test_valid_mobile(raw: str, digits: str) -> None:
    assert validate_mobile(raw) == digits


@pytest.mark.parametrize(
    "raw",
    ["", "1381234567", "138123456789", "12812345678", "23812345678", "1381234567a"],
)
def test_invalid_mobile(raw: str) -> None:
    with pytest.raises(IdNumberError) as err:
        validate_mobile(raw)
    assert err.value.message == "手机号码应为11位大陆手机号"


def test_mask_mobile() -> None:
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("12345") == "*****"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("", ""),
        ("   ", ""),
        ("doctor@clinic.cn", "doctor@clinic.cn"),
        (" Zhang.San+his@Example.COM.cn ", "Zhang.San+his@example.com.cn"),
        ("a@b-c.io", "a@b-c.io"),
    ],
)
def test_valid_email(raw: str, normalised: str) -> None:
    assert validate_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "plain",
        "@clinic.cn",
        "doctor@",
        "doctor@clinic",
        "doc tor@clinic.cn",
        "doctor@@clinic.cn",
        "doctor..x@clinic.cn",
        ".doctor@clinic.cn",
        "doctor@-clinic.cn",
        "doctor@clinic.c",
        "x" * 65 + "@clinic.cn",
        "医生@clinic.cn",
    ],
)
def test_invalid_email(raw: str) -> None:
    with pytest.raises(IdNumberError) as err:
        validate_email(raw)
    assert err.value.message == "邮箱格式不正确"
