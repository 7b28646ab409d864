"""Outside demo mode no demo provider may run: ``cli init`` refuses to start with one
line that names what to fix, not a traceback, and touches nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = ("HIS_IDENTITY_PROVIDER", "HIS_SMS_PROVIDER", "HIS_FACE_PROVIDER")
REAL_IDENTITY_AND_SMS = {
    "HIS_IDENTITY_PROVIDER": "http",
    "HIS_IDENTITY_URL": "https://identity.example/verify",
    "HIS_IDENTITY_KEY": "key",
    "HIS_IDENTITY_SECRET": "secret",
    "HIS_SMS_PROVIDER": "aliyun",
    "HIS_SMS_ACCESS_KEY_ID": "LTAI-key",
    "HIS_SMS_ACCESS_KEY_SECRET": "secret",
    "HIS_SMS_SIGN_NAME": "牙医云",
    "HIS_SMS_TEMPLATE_CODE": "SMS_123456789",
}


def run_init(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIS_")}
    env.update(
        HIS_DATA_DIR=str(tmp_path / "data"),
        HIS_DB_URL=f"sqlite:///{tmp_path / 'his.db'}",
        HIS_DEMO_MODE="false",
        **variables,
    )
    return subprocess.run(
        [sys.executable, "-m", "his_portal.cli", "init"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, PROVIDERS),  # the defaults are the demo providers
        (REAL_IDENTITY_AND_SMS, ("HIS_FACE_PROVIDER",)),
    ],
    ids=["all-demo", "face-demo"],
)
def test_init_refuses_demo_providers_outside_demo_mode(tmp_path, variables, named):
    done = run_init(tmp_path, **variables)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    [line] = lines
    assert "HIS_DEMO_MODE=false" in line
    for name in PROVIDERS:
        assert (f"{name}=demo" in line) == (name in named), line
    # Refused before anything was created: no key, no CA, no database.
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "his.db").exists()
