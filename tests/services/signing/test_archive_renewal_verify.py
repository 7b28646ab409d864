"""验证 after an archive renewal: the renewed file and a copy downloaded before
both belong to the record's version."""

from __future__ import annotations

from tests.services.signing.test_archive_renewal import (  # noqa: F401
    ageing,
    renew,
    stored,
)
from tests.services.signing.test_record_signing import ready  # noqa: F401
from tests.services.signing.test_verification import check


def test_a_copy_downloaded_before_the_renewal_still_matches_its_version(
    ageing,  # noqa: F811
    tmp_path,
):
    session, doc, before = ageing
    assert check(session, before).match == "与本系统第1版签署文件一致"
    renew(session, tmp_path)
    session.refresh(doc)
    renewed = stored(tmp_path, doc)
    assert renewed != before
    for data in (before, renewed):
        report = check(session, data)
        assert report.matched and report.match == "与本系统第1版签署文件一致"
