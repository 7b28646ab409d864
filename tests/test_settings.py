from pathlib import Path

import pytest

from his_portal.settings import Settings, SettingsError


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
    ],
)
def test_bad_values_fail_loudly(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"HIS_DATA_DIR": str(tmp_path), name: value})
