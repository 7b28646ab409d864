"""The demo clinic with its CA, TSA and OCSP signer issued with a full profile (AIA,
policies, CPS) at the real clock: OpenSSL and pkilint judge certificates against
the current time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from his_portal.models import DoctorCertificate
from his_portal.services.pki import certificates, crl_cache
from his_portal.services.pki.profile import IssuingProfile
from tests.conftest import user_by_login

BASE = "https://his.example.cn"
CRL_URL = BASE + "/pki/crl"
PROFILE = IssuingProfile(
    ocsp_url=BASE + "/pki/ocsp",
    ca_issuers_url=BASE + "/pki/ca.cer",
    cps_url=BASE + "/pki/cps",
)
KEK = bytes(range(32))
CLINIC = "上海维乐海趣路门诊"


def ensure(session: Session, now: datetime, profile: IssuingProfile = PROFILE) -> bool:
    return certificates.ensure_authority(
        session=session,
        kek=KEK,
        clinic_name=CLINIC,
        crl_url=CRL_URL,
        now=now,
        profile=profile,
    )


def issue(
    session: Session, login: str, name: str, now: datetime | None = None
) -> DoctorCertificate:
    """A certificate for the demo account ``login`` (committed)."""
    cert = certificates.issue_for_doctor(
        session=session,
        kek=KEK,
        user_id=user_by_login(session, login).id,
        doctor_name=name,
        clinic_name=CLINIC,
        valid_days=365,
        crl_url=CRL_URL,
        now=now or datetime.now(UTC),
        profile=PROFILE,
    )
    session.commit()
    return cert


@pytest.fixture
def pki_db(demo):
    crl_cache.invalidate()
    assert ensure(demo, datetime.now(UTC))
    demo.commit()
    return demo
