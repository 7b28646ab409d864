"""Wiring: the settings-built objects that states hand to services."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from his_portal import routes
from his_portal.adapters.face import FaceCheckProvider, make_face_provider
from his_portal.adapters.identity_check import IdentityProvider, make_identity_provider
from his_portal.adapters.sms import SmsProvider, make_sms_provider
from his_portal.adapters.tsa_client import HttpTimestampSource, TimestampSource
from his_portal.services.audit import Actor, clinic_tsa
from his_portal.services.identity.verification import IssueContext
from his_portal.services.pki.keyvault import load_or_create_kek, mac_key
from his_portal.services.pki.profile import IssuingProfile
from his_portal.settings import get_settings


@lru_cache(maxsize=1)
def kek() -> bytes:
    """The key-encryption key. It is created by ``cli init`` only: at run time a
    missing or damaged file fails loudly instead of silently starting a new one."""
    return load_or_create_kek(get_settings().kek_file, create=False)


def crl_url() -> str:
    return get_settings().public_url + routes.CRL


def issuing_profile() -> IssuingProfile:
    """AIA pointers (OCSP, the CA certificate) and policies for new certificates."""
    settings = get_settings()
    return IssuingProfile(
        ocsp_url=settings.public_url + routes.OCSP,
        ca_issuers_url=settings.public_url + routes.CA_CERT_DER,
        policy_oid=settings.cert_policy_oid,
        cps_url=settings.cps_url,
        tsa_policy_oid=settings.tsa_policy_oid,
        tsa_renew_before=timedelta(days=settings.archive_renew_days + 60),
    )


def identity_provider() -> IdentityProvider:
    settings = get_settings()
    return make_identity_provider(
        settings.identity_provider,
        url=settings.identity_url,
        api_key=settings.identity_key,
        api_secret=settings.identity_secret,
    )


def issue_context(actor: Actor, clinic_name: str) -> IssueContext:
    settings = get_settings()
    return IssueContext(
        kek=kek(),
        clinic_name=clinic_name,
        valid_days=settings.cert_valid_days,
        crl_url=crl_url(),
        actor=actor,
        profile=issuing_profile(),
    )


def sms_provider() -> SmsProvider:
    settings = get_settings()
    return make_sms_provider(settings.sms_provider, **dict(settings.sms_config))


def face_provider() -> FaceCheckProvider | None:
    """方式2's face check, or None when no face provider is configured."""
    settings = get_settings()
    return make_face_provider(settings.face_provider, **dict(settings.face_config))


def willingness_secret() -> bytes:
    """The key for 意愿校验 codes and tokens, derived from the KEK."""
    return mac_key(kek(), "willingness")


def file_ticket_key() -> bytes:
    """The key for single-use signed-file links (``services.file_tickets``),
    derived from the KEK."""
    return mac_key(kek(), "file-ticket")


def audit_tsa(session) -> TimestampSource:
    """The TSA that anchors the audit head: ``HIS_TSA_URL``'s, else the clinic's own."""
    url = get_settings().tsa_url
    return HttpTimestampSource(url=url) if url else clinic_tsa(session, kek())
