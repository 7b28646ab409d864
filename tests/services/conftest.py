"""Fixtures for service tests that need the clinic CA."""

from __future__ import annotations

import pytest

from his_portal.services import certificates
from tests.conftest import NOW
from tests.services.identity_helpers import CRL_URL, KEK


@pytest.fixture
def clinic(demo):
    """The demo clinic with its CA and timestamp authority."""
    assert certificates.ensure_authority(
        session=demo,
        kek=KEK,
        clinic_name="上海维乐海趣路门诊",
        crl_url=CRL_URL,
        now=NOW,
    )
    demo.commit()
    return demo
