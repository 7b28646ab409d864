from pathlib import Path

import pytest

from his_portal.settings import Settings, SettingsError, allowed_origins

REAL_PROVIDERS = {
    "HIS_IDENTITY_PROVIDER": "http",
    "HIS_IDENTITY_URL": "https://id.example.test/verify",
    "HIS_IDENTITY_KEY": "key",
    "HIS_IDENTITY_SECRET": "secret",
    "HIS_SMS_PROVIDER": "aliyun",
    "HIS_SMS_ACCESS_KEY_ID": "id",
    "HIS_SMS_ACCESS_KEY_SECRET": "secret",
    "HIS_SMS_SIGN_NAME": "牙医云",
    "HIS_SMS_TEMPLATE_CODE": "SMS_1",
}


def test_defaults_keep_everything_under_the_data_dir(tmp_path):
    settings = Settings.from_env({"HIS_DATA_DIR": str(tmp_path)})
    assert settings.db_url == f"sqlite:///{tmp_path / 'his_portal.db'}"
    assert settings.kek_file == tmp_path / "secrets" / "kek.bin"
    assert settings.redis_url == ""
    assert settings.clinic_name == "上海维乐海趣路门诊"
    assert settings.demo_mode is True
    assert settings.timezone == "Asia/Shanghai"


def test_values_come_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {
            "HIS_DATA_DIR": str(tmp_path),
            "HIS_DB_URL": "postgresql://127.0.0.1/his",
            "HIS_REDIS_URL": "redis://127.0.0.1:6379/0",
            "HIS_KEK_FILE": "/run/secrets/kek",
            "HIS_CLINIC_NAME": "测试门诊",
            "HIS_DEMO_MODE": "off",
            "HIS_FACE_PROVIDER": "none",
            **REAL_PROVIDERS,
            "HIS_SESSION_HOURS": "8",
            "HIS_TIMEZONE": "Asia/Urumqi",
        }
    )
    assert settings.db_url == "postgresql://127.0.0.1/his"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.kek_file == Path("/run/secrets/kek")
    assert (settings.clinic_name, settings.demo_mode) == ("测试门诊", False)
    assert (settings.session_hours, settings.timezone) == (8, "Asia/Urumqi")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HIS_DEMO_MODE", "maybe", "HIS_DEMO_MODE must be true or false"),
        ("HIS_SESSION_HOURS", "abc", "HIS_SESSION_HOURS must be an integer"),
        ("HIS_SESSION_HOURS", "0", "HIS_SESSION_HOURS must be positive"),
        ("HIS_TIMEZONE", "Mars/Base", "HIS_TIMEZONE is not a known time zone"),
        ("HIS_CERT_POLICY_OID", "1.2.abc", "HIS_CERT_POLICY_OID must be a dotted OID"),
        ("HIS_TSA_POLICY_OID", "3.1.4", "HIS_TSA_POLICY_OID must be a dotted OID"),
        ("HIS_TSA_POLICY_OID", "1.45.1", "HIS_TSA_POLICY_OID must be a dotted OID"),
        ("HIS_TSA_POLICY_OID", "1.3.06.1", "HIS_TSA_POLICY_OID must be a dotted OID"),
        ("HIS_TSA_POLICY_OID", "1", "HIS_TSA_POLICY_OID must be a dotted OID"),
        ("HIS_TSA_POLICY_OID", "1.3.6.1.4.1.32473.1.1", "must differ"),
        ("HIS_CPS_URL", "ftp://example.cn/cps", "HIS_CPS_URL must be an http"),
    ],
)
def test_bad_values_fail_loudly(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"HIS_DATA_DIR": str(tmp_path), name: value})


def test_certificate_policies_default_to_the_documentation_arc(tmp_path):
    settings = Settings.from_env(
        {"HIS_DATA_DIR": str(tmp_path), "HIS_PUBLIC_URL": "https://his.example.cn/"}
    )
    assert settings.cert_policy_oid == "1.3.6.1.4.1.32473.1.1"
    assert settings.tsa_policy_oid == "1.3.6.1.4.1.32473.1.2"
    assert settings.cps_url == "https://his.example.cn/pki/cps"
    own = Settings.from_env(
        {
            "HIS_DATA_DIR": str(tmp_path),
            "HIS_CERT_POLICY_OID": " 1.3.6.1.4.1.61234.1.1 ",
            "HIS_TSA_POLICY_OID": "1.3.6.1.4.1.61234.2",
            "HIS_CPS_URL": "https://ca.example.cn/cps.pdf",
        }
    )
    assert own.cert_policy_oid == "1.3.6.1.4.1.61234.1.1"
    assert (own.tsa_policy_oid, own.cps_url) == (
        "1.3.6.1.4.1.61234.2",
        "https://ca.example.cn/cps.pdf",
    )


@pytest.mark.parametrize(
    "demo", ["HIS_IDENTITY_PROVIDER", "HIS_SMS_PROVIDER", "HIS_FACE_PROVIDER"]
)
def test_production_refuses_every_demo_provider(tmp_path, demo):
    env = {"HIS_DATA_DIR": str(tmp_path), "HIS_DEMO_MODE": "false"}
    env |= REAL_PROVIDERS | {"HIS_FACE_PROVIDER": "none", demo: "demo"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith("HIS_DEMO_MODE=false but ") and "\n" not in message
    assert f"{demo}=demo" in message


def test_production_with_real_providers_starts(tmp_path):
    env = {"HIS_DATA_DIR": str(tmp_path), "HIS_DEMO_MODE": "false"}
    settings = Settings.from_env(env | REAL_PROVIDERS | {"HIS_FACE_PROVIDER": "none"})
    assert (settings.sms_provider, settings.face_provider) == ("aliyun", "none")


def test_a_real_provider_needs_its_settings(tmp_path):
    env = {"HIS_DATA_DIR": str(tmp_path), "HIS_FACE_PROVIDER": "tencent"}
    with pytest.raises(SettingsError, match="HIS_FACE_PROVIDER=tencent needs"):
        Settings.from_env(env | {"HIS_FACE_SECRET_ID": "id"})


def test_allowed_origins_are_the_public_url_and_loopback_spellings():
    assert allowed_origins("https://his.example.cn") == ["https://his.example.cn"]
    assert allowed_origins("http://localhost:3000") == [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
    ]
