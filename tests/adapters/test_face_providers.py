"""Tests for his_portal.adapters.face: the demo provider and the factory (the
Tencent FaceID client: test_face_tc3.py and test_face_tencent.py)."""

from __future__ import annotations

import re

import pytest

from his_portal.adapters.face import (
    DEMO_FACE_OK,
    DemoFaceCheckProvider,
    FaceConfigError,
    FaceResult,
    FaceSession,
    TencentFaceIdProvider,
    make_face_provider,
)
from his_portal.errors import ConfigError
from his_portal.settings import Settings
from tests.adapters.fake_tencent import (
    RETURN_URL,
    RULE_ID,
    SECRET_ID,
    SECRET_KEY,
    ZHENG,
    provider,
)

# --- demo provider --------------------------------------------------------------------


def test_demo_begin_issues_unique_demo_refs_without_url():
    provider = DemoFaceCheckProvider()
    assert (provider.name, provider.demo) == ("demo", True)
    first = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url=RETURN_URL)
    second = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url=RETURN_URL)
    assert isinstance(first, FaceSession)
    assert first.url == ""
    assert re.fullmatch(r"demo-[0-9a-f]{32}", first.ref)
    assert len(first.ref) <= 128
    assert first.ref != second.ref


def test_demo_result_matches_only_the_demo_evidence():
    provider = DemoFaceCheckProvider()
    ref = provider.begin(name=ZHENG[0], id_number=ZHENG[1], return_url="").ref
    ok = provider.result(
        ref=ref, name=ZHENG[0], id_number=ZHENG[1], evidence=DEMO_FACE_OK
    )
    assert ok == FaceResult(matched=True, reference=ref, message="人脸核验通过")
    for evidence in ("", "demo-face-fail", DEMO_FACE_OK.upper(), DEMO_FACE_OK + " "):
        bad = provider.result(
            ref=ref, name=ZHENG[0], id_number=ZHENG[1], evidence=evidence
        )
        assert (bad.matched, bad.message) == (False, "人脸核验未通过")


def test_demo_result_rejects_a_ref_it_did_not_issue():
    bad = DemoFaceCheckProvider().result(
        ref="CE661F1A-0F1E-45BD",
        name=ZHENG[0],
        id_number=ZHENG[1],
        evidence=DEMO_FACE_OK,
    )
    assert (bad.matched, bad.message) == (False, "人脸核验未通过")


def test_tencent_attributes_and_secret_not_in_repr():
    tencent_provider = provider("https://faceid.tencentcloudapi.com")
    assert (tencent_provider.name, tencent_provider.demo) == ("tencent", False)
    assert SECRET_KEY not in repr(tencent_provider)


# --- factory --------------------------------------------------------------------------


def test_factory_demo_and_none():
    assert isinstance(make_face_provider("demo"), DemoFaceCheckProvider)
    assert make_face_provider("none") is None


def test_factory_tencent_from_settings():
    settings = Settings.from_env(
        {
            "HIS_FACE_PROVIDER": "tencent",
            "HIS_FACE_SECRET_ID": SECRET_ID,
            "HIS_FACE_SECRET_KEY": SECRET_KEY,
            "HIS_FACE_RULE_ID": RULE_ID,
            "HIS_FACE_REGION": "ap-shanghai",
        }
    )
    built = make_face_provider(settings.face_provider, **dict(settings.face_config))
    assert built == TencentFaceIdProvider(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        rule_id=RULE_ID,
        endpoint="https://faceid.tencentcloudapi.com",
        region="ap-shanghai",
        timeout=10.0,
    )


def test_factory_timeout_from_text():
    built = make_face_provider(
        "tencent",
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        rule_id=RULE_ID,
        timeout="3.5",
    )
    assert isinstance(built, TencentFaceIdProvider)
    assert built.timeout == 3.5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {},
            "腾讯云人脸核身缺少配置：HIS_FACE_SECRET_ID、HIS_FACE_SECRET_KEY、"
            "HIS_FACE_RULE_ID",
        ),
        (
            {"secret_id": SECRET_ID},
            "腾讯云人脸核身缺少配置：HIS_FACE_SECRET_KEY、HIS_FACE_RULE_ID",
        ),
        (
            {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            "腾讯云人脸核身缺少配置：HIS_FACE_RULE_ID",
        ),
    ],
)
def test_factory_missing_config_is_one_clear_line(config, message):
    with pytest.raises(FaceConfigError) as caught:
        make_face_provider("tencent", **config)
    assert str(caught.value) == caught.value.message == message
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("config", "pattern"),
    [
        ({"endpoint": "ftp://faceid.example"}, "HIS_FACE_ENDPOINT"),
        ({"endpoint": "https://faceid.example/?a=1"}, "不应带参数"),
        ({"timeout": 0}, "大于0秒"),
        ({"timeout": "soon"}, "秒数"),
        ({"app_id": "x"}, "配置项未知：app_id"),
    ],
)
def test_factory_bad_config(config, pattern):
    full = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "rule_id": RULE_ID}
    with pytest.raises(FaceConfigError, match=pattern):
        make_face_provider("tencent", **full | config)


def test_factory_unknown_kind():
    with pytest.raises(FaceConfigError) as caught:
        make_face_provider("wechat")
    assert (
        caught.value.message
        == "未知的人脸核身方式：'wechat'（应为 demo、tencent 或 none）"
    )
