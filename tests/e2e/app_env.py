"""Code run in the running app's own environment, beside the browser: its data dir
(the SQLite database, the KEK that MACs audit entries) and its settings, so a test
can read what the app stored or act as the app does, without the browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT


def app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The running app's data dir: ``app_url`` serves from this test session's
    ``his-e2e<n>/data`` (see tests/e2e/conftest.py)."""
    (data,) = [
        path / "data"
        for path in tmp_path_factory.getbasetemp().glob("his-e2e[0-9]*")
        if (path / "data" / "his_portal.db").exists()
    ]
    return data


def run_in_app(app_url: str, data_dir: Path, code: str, *args: str):
    """Run ``code`` (a Python script; ``sys.argv[1:]`` are ``args``) with the
    app's settings and return the JSON it printed last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIS_")}
    env |= {
        "HIS_DATA_DIR": str(data_dir),
        "HIS_DEMO_MODE": "true",
        "HIS_PUBLIC_URL": app_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
