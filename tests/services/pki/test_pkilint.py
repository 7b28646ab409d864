"""pkilint's PKIX linters (RFC 5280 certificates and CRLs, RFC 6960 OCSP responses,
issuer/subject chains) on everything the clinic CA issues. The commands are the
ones in README (证书与吊销信息的检查); every finding at NOTICE or above is listed
here, so a new one (an ERROR above all) fails the test."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from his_portal.models import IssuerKey
from his_portal.services.pki import certificates, ocsp
from tests.services.pki.conftest import KEK, issue

#: RFC 5280 §4.2.1.4 RECOMMENDS policies without qualifiers; ours carry the CPS
#: URI on purpose (README: a validator shows where the practice statement is).
QUALIFIER = ("NOTICE", "pkix.certificate_policies_policy_has_qualifier")


def lint(*args: str) -> list[tuple[str, str]]:
    """Run one pkilint command; its findings at NOTICE or above."""
    module, *rest = args
    command = [sys.executable, "-m", f"pkilint.bin.{module}", "lint"]
    result = subprocess.run(
        [*command, "-s", "NOTICE", "-f", "JSON", *rest],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout, result.stderr
    return [
        (finding["severity"], finding["code"])
        for entry in json.loads(result.stdout)["results"]
        for finding in entry["finding_descriptions"]
    ]


def test_pkix_linters_find_no_error_in_anything_we_issue(pki_db, tmp_path: Path):
    now = datetime.now(UTC)
    files = {
        row.purpose: row.cert_pem.encode()
        for row in pki_db.exec(select(IssuerKey)).all()
    }
    files["doctor"] = issue(pki_db, "sh-feihuan@8112", "郑程").cert_pem.encode()
    revoked = issue(pki_db, "sh-wangli@8112", "王莉")
    certificates.revoke_certificate(
        session=pki_db, cert=revoked, reason="key_compromise", now=now
    )
    pki_db.commit()
    files["revoked"] = revoked.cert_pem.encode()
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    crl = tmp_path / "crl.der"
    crl.write_bytes(
        certificates.crl_der(session=pki_db, kek=KEK, now=now + timedelta(minutes=1))
    )
    responses = {}
    for name in ("doctor", "revoked", "tsa", "ocsp"):
        responses[name] = tmp_path / f"ocsp-{name}.der"
        responses[name].write_bytes(
            ocsp.response_for(session=pki_db, kek=KEK, cert_pem=files[name])
        )

    found = {}
    for name, path in paths.items():
        found[f"cert {name}"] = lint("lint_pkix_cert", str(path))
        if name != "ca":
            found[f"chain {name}"] = lint(
                "lint_pkix_signer_signee_cert_chain", str(paths["ca"]), str(path)
            )
    found["crl"] = lint("lint_crl", "-t", "CRL", "-p", "PKIX", str(crl))
    for name, path in responses.items():
        found[f"ocsp {name}"] = lint("lint_ocsp_response", str(path))

    expected = {key: [] for key in found}
    for name in ("doctor", "revoked", "tsa"):
        expected[f"cert {name}"] = [QUALIFIER]
    assert found == expected
