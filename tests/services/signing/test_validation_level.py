"""The level validate_with_pyhanko reports (the integrity check's) counts a
document timestamp only when its token verifies."""

from __future__ import annotations

from his_portal.services.pki import certificates
from his_portal.services.signing.pades_level import PadesLevel
from his_portal.services.signing.validation import validate_with_pyhanko
from tests.services.signing.test_record_signing import ready  # noqa: F401
from tests.services.signing.test_verification import (  # noqa: F401
    forge_document_timestamp,
    signed,
)


def test_a_forged_document_timestamp_does_not_make_the_file_b_lta(signed):  # noqa: F811
    session, _, pdf = signed
    roots = [certificates.ca_certificate_pem(session=session)]
    assert validate_with_pyhanko(pdf, trust_roots_pem=roots).level == PadesLevel.B_LTA
    forged = validate_with_pyhanko(forge_document_timestamp(pdf), trust_roots_pem=roots)
    assert not forged.archived
    assert forged.level == PadesLevel.B_LT
