"""The Tencent FaceID adapter against a local fake: starting a check (begin) and
reading its result, including the vendor's errors and transport failures."""

from __future__ import annotations

import socket
import time

import pytest

from his_portal.adapters.face import FaceCheckError, FaceResult
from tests.adapters.fake_tencent import (
    RETURN_URL,
    RULE_ID,
    WANG,
    WITH_X,
    ZHENG,
    FakeTencent,
    begin,
    error,
    result,
    script,
    text,
)
from tests.adapters.held_answer import gave_up

# --- Tencent provider: begin ----------------------------------------------------------


def test_begin_sends_the_identity_and_returns_the_h5_session(tencent):
    session = begin(tencent)
    assert session.ref in FakeTencent.sessions
    assert len(session.ref) <= 128
    assert session.url == f"https://faceid.qq.com/api/auth/index?token={session.ref}"
    sent = FakeTencent.requests[-1]
    assert sent["action"] == "DetectAuth"
    assert sent["body"] == {
        "RuleId": RULE_ID,
        "IdCard": ZHENG[1],
        "Name": ZHENG[0],
        "RedirectUrl": RETURN_URL,
    }
    assert sent["headers"]["X-TC-Region"] == "ap-guangzhou"
    assert sent["headers"]["Host"] == tencent.removeprefix("http://")
    assert abs(int(sent["headers"]["X-TC-Timestamp"]) - time.time()) < 10


def test_begin_wrong_rule_id_shows_the_vendor_error(tencent):
    with pytest.raises(FaceCheckError) as caught:
        begin(tencent, rule_id="99")
    assert caught.value.message == (
        "人脸核身服务返回错误：RuleId不存在"
        "（代码 InvalidParameterValue.RuleIdNotExist）"
    )
    assert caught.value.reference  # Tencent's RequestId, for the log


@pytest.mark.parametrize("name", ["坏链接", "无主机", "空", "长令牌"])
def test_begin_refuses_a_bad_url_or_token(tencent, name):
    with pytest.raises(FaceCheckError, match="无法识别"):
        begin(tencent, (name, ZHENG[1]))


# --- Tencent provider: result ---------------------------------------------------------


def test_result_matches_the_right_person(tencent):
    ref = begin(tencent).ref
    answer = result(tencent, ref)
    assert answer == FaceResult(matched=True, reference=ref, message="人脸核验通过")
    sent = FakeTencent.requests[-1]
    assert sent["action"] == "GetDetectInfoEnhanced"
    assert sent["body"] == {"BizToken": ref, "RuleId": RULE_ID, "InfoType": "0"}


def test_result_id_number_x_is_case_insensitive(tencent):
    ref = begin(tencent, WITH_X).ref  # Tencent answers with the upper-case X
    assert result(tencent, ref, (WITH_X[0], WITH_X[1].lower())).matched


def test_result_of_another_persons_check_does_not_match(tencent):
    # A finished, successful check of 王莉 must not confirm 郑程.
    ref = begin(tencent, WANG).ref
    assert result(tencent, ref, WANG).matched
    answer = result(tencent, ref, ZHENG)
    assert not answer.matched
    assert answer.message == "人脸核验未通过：核验的身份与本人不一致"


@pytest.mark.parametrize(
    ("id_card", "name"),
    [
        (WANG[1], ZHENG[0]),  # same name, another ID number
        (ZHENG[1], WANG[0]),  # same ID number, another name
        ("", ""),
        (None, None),
    ],
)
def test_result_success_for_other_identity_does_not_match(tencent, id_card, name):
    ref = script(text(0, "成功", id_card, name))
    answer = result(tencent, ref)
    assert not answer.matched
    assert answer.message == "人脸核验未通过：核验的身份与本人不一致"


def test_result_empty_doctor_identity_never_matches(tencent):
    ref = script(text(0, "成功", "", ""))
    assert not result(tencent, ref, ("", "")).matched


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1001, "调用活体引擎失败"),
        (2004, "传入的图像不符合要求"),
        (3005, "姓名和身份证号不一致"),
        ("1004", "活体检测未通过"),
    ],
)
def test_result_failed_check_gives_the_reason(tencent, code, reason):
    ref = script(text(code, reason, *ZHENG))  # even with the right identity
    answer = result(tencent, ref)
    assert answer == FaceResult(
        matched=False, reference=ref, message=f"人脸核验未通过：{reason}"
    )


def test_result_failed_check_without_reason_gives_the_code(tencent):
    answer = result(tencent, script(text(2004, None, *ZHENG)))
    assert (answer.matched, answer.message) == (False, "人脸核验未通过（代码 2004）")
    assert answer.finished  # a verdict: it counts as a failed attempt


def test_result_not_finished(tencent):
    for response in (text(None, None, "", ""), {"Text": None}, {}):
        answer = result(tencent, script(response))
        assert (answer.matched, answer.message) == (False, "人脸核验尚未完成")
        assert not answer.finished


@pytest.mark.parametrize("code", [False, {"x": 0}, [0], 0.0])
def test_result_unreadable_err_code_is_an_error(tencent, code):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, script(text(code, "成功", *ZHENG)))


def test_result_text_not_an_object_is_an_error(tencent):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, script({"Text": "ErrCode=0"}))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidParameterValue.BizTokenExpired", "人脸核验已过期或无效，请重新扫码"),
        (
            "AuthFailure.SignatureExpire",
            "服务器时间与人脸核身服务相差过大，请联系管理员",
        ),
        (
            "UnauthorizedOperation.Nonactivated",
            "人脸核身服务未开通或无权使用，请联系管理员",
        ),
        ("RequestLimitExceeded", "人脸核身服务繁忙，请稍后重试"),
        ("InternalError", "人脸核身服务暂时不可用，请稍后重试"),
        (
            "FailedOperation.UnKnown",
            "人脸核身服务返回错误：未知错误（代码 FailedOperation.UnKnown）",
        ),
    ],
)
def test_result_error_codes(tencent, code, message):
    detail = "未知错误" if code.startswith("FailedOperation") else "whatever"
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, script(error(code, detail)))
    assert caught.value.message == message


def test_result_unknown_biz_token(tencent):
    with pytest.raises(FaceCheckError, match="已过期"):
        result(tencent, "CE661F1A-0F1E-45BD-BE13-34C05CEA7681")


def test_result_timeout(tencent):
    caught = gave_up(
        FakeTencent,
        FaceCheckError,
        lambda: result(tencent, "slow", timeout=0.3),
        timeout=0.3,
    )
    assert caught.message == "人脸核身服务响应超时，请稍后重试"


def test_result_garbage_body(tencent):
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, "garbage")
    assert caught.value.message == "人脸核身服务返回了无法识别的结果"


def test_result_http_500(tencent):
    with pytest.raises(FaceCheckError) as caught:
        result(tencent, "error500")
    assert caught.value.message == "人脸核身服务暂时不可用，请稍后重试"


def test_result_without_request_id_is_not_trusted(tencent):
    with pytest.raises(FaceCheckError, match="无法识别"):
        result(tencent, "no-request-id")


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FaceCheckError, match="无法连接人脸核身服务"):
        begin(f"http://127.0.0.1:{port}")
