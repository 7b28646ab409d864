"""A signed record checked by pyHanko's own command line, with the network cut off
(``unshare --net pyhanko sign adesverify``: its AdES validation, which uses the
record's embedded DSS and document timestamp and nothing else).

The validation time is pinned to the signing day: the newest document timestamp
is validated as of the validation time, and offline pyHanko can only do that
while the revocation data embedded with it are current (the CRL is valid for
7 days). Later, a validator needs the clinic's CRL of that day (its URL is in
the certificates); until then it validates the file with nothing else."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.services.signing.test_ltv import archived, ca_pem, revoke_doctor  # noqa: F401
from tests.services.signing.test_record_signing import T, ready  # noqa: F401
from tests.services.signing.test_verification import flip_content_byte

PYHANKO = Path(sys.executable).with_name("pyhanko")


def adesverify(
    tmp_path: Path, pdf: bytes, ca: bytes, at=T + timedelta(hours=1)
) -> subprocess.CompletedProcess:
    (tmp_path / "record.pdf").write_bytes(pdf)
    (tmp_path / "ca.pem").write_bytes(ca)
    command = [
        "unshare", "--net", str(PYHANKO), "sign", "adesverify",
        "--trust", str(tmp_path / "ca.pem"), "--trust-replace",
        "--validation-time", at.isoformat(),
        str(tmp_path / "record.pdf"),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_record_is_valid_offline_in_pyhankos_cli(archived, tmp_path):  # noqa: F811
    session, pdf = archived
    checked = adesverify(tmp_path, pdf, ca_pem(session))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    line = checked.stdout.strip().splitlines()[-1]
    assert line.startswith("DoctorSignature:")
    assert ":INTACT:TRUSTED," in line and "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in line
    assert "EXTENDED_WITH_LTA_UPDATES" in line


def test_it_stays_valid_after_a_later_revocation(archived, tmp_path):  # noqa: F811
    session, pdf = archived
    revoke_doctor(session, at=T + timedelta(hours=1))
    checked = adesverify(tmp_path, pdf, ca_pem(session), at=T + timedelta(hours=2))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ":INTACT:TRUSTED," in checked.stdout


def test_one_changed_byte_fails_in_pyhankos_cli(archived, tmp_path):  # noqa: F811
    session, pdf = archived
    checked = adesverify(tmp_path, flip_content_byte(pdf), ca_pem(session))
    assert checked.returncode != 0
    assert checked.stdout.strip().endswith(":INVALID")
