"""A verified doctor in the making: profile, identity check, clinic CA (tests only)."""

from __future__ import annotations

from his_portal.adapters.identity_check import DEMO_ZHENG_ID, DemoIdentityProvider
from his_portal.services.audit import Actor
from his_portal.services.identity import profile as identity
from his_portal.services.identity import verification
from tests.conftest import NOW, user_by_login

KEK = bytes(range(32))
CRL_URL = "http://localhost:3000/pki/crl"
DOCTOR = "sh-feihuan@8112"
GOOD = identity.ProfileInput(
    name="郑程",
    id_type="resident",
    id_number=DEMO_ZHENG_ID,
    email="zhengcheng@example.com",
    mobile="13800138000",
    address="上海市黄浦区",
)


def context():
    return verification.IssueContext(
        kek=KEK,
        clinic_name="上海维乐海趣路门诊",
        valid_days=365,
        crl_url=CRL_URL,
        actor=Actor(login_id=DOCTOR),
    )


def save(session, data=GOOD, login=DOCTOR):
    user = user_by_login(session, login)
    return identity.save_profile(
        session=session,
        user=user,
        data=data,
        kek=KEK,
        actor=Actor(login_id=login),
        now=NOW,
    )


def verify(session, provider=None):
    return verification.verify(
        session=session,
        user=user_by_login(session, DOCTOR),
        provider=provider or DemoIdentityProvider(),
        context=context(),
        now=NOW,
    )
