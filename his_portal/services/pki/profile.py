"""The certificate profile: which policies our certificates assert, where validators
find the CA's status services, and how a doctor's name appears in the subject.
The default policy OIDs and their check are :mod:`.oids`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from his_portal.services.pki.oids import DOCTOR_POLICY_OID, TSA_POLICY_OID, is_valid_oid

__all__ = [
    "DOCTOR_POLICY_OID",
    "TSA_POLICY_OID",
    "IssuingProfile",
    "certificate_policies",
    "is_valid_oid",
    "person_name_attributes",
    "practice_statement",
]


@dataclass(frozen=True)
class IssuingProfile:
    """What certificates say beyond the CRL distribution point (deployment-wide).

    Attributes:
        ocsp_url: The OCSP responder (AIA id-ad-ocsp); empty: no OCSP pointer.
        ca_issuers_url: The CA certificate, DER (AIA id-ad-caIssuers); empty: none.
        policy_oid: The certificate policy of doctors' signing certificates.
        cps_url: The certification practice statement (policy qualifier); empty:
            the policy goes without a qualifier.
        tsa_policy_oid: The TSA's policy: in its certificate and in every token.
        tsa_renew_before: The TSA certificate is re-issued when it has less than
            this left: archive renewal's margin (``HIS_ARCHIVE_RENEW_DAYS``) plus
            60 days, so archive timestamps are never made with a certificate
            that is itself due for renewal.
    """

    ocsp_url: str = ""
    ca_issuers_url: str = ""
    policy_oid: str = DOCTOR_POLICY_OID
    cps_url: str = ""
    tsa_policy_oid: str = TSA_POLICY_OID
    tsa_renew_before: timedelta = timedelta(days=365 + 60)


def certificate_policies(oid: str, cps_url: str = "") -> x509.CertificatePolicies:
    """One policy, with the CPS URI qualifier when there is one."""
    qualifiers = [cps_url] if cps_url else None
    return x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(oid), qualifiers)]
    )


# Two-character (复姓) surnames; any other Han name has a one-character surname.
_COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "令狐",
        "端木",
        "轩辕",
        "南宫",
        "西门",
        "独孤",
        "呼延",
        "钟离",
        "闻人",
        "万俟",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "太叔",
        "申屠",
        "赫连",
        "百里",
        "东郭",
        "拓跋",
        "夏侯",
        "司空",
        "仲孙",
        "左丘",
        "第五",
        "谷梁",
        "梁丘",
        "羊舌",
        "乐正",
    }
)
_HAN_NAME = re.compile(r"[\u4e00-\u9fff]{2,5}")


def person_name_attributes(name: str) -> list[x509.NameAttribute]:
    """surname and givenName of a Han name, as ETSI EN 319 412-2 (NAT-4.2.4-1) asks of
    a natural person beside the commonName.

    Only names whose split is certain get them: two to five Han characters, the
    surname being a known 复姓 or else the first character. Other names (with
    ``·``, Latin letters, ...) keep the commonName alone rather than a guessed split.
    """
    if not _HAN_NAME.fullmatch(name):
        return []
    size = 2 if name[:2] in _COMPOUND_SURNAMES and len(name) > 2 else 1
    return [
        x509.NameAttribute(NameOID.SURNAME, name[:size]),
        x509.NameAttribute(NameOID.GIVEN_NAME, name[size:]),
    ]


def practice_statement(
    *, clinic_name: str, public_url: str, profile: IssuingProfile
) -> str:
    """The built-in CPS (``/pki/cps``, the default ``HIS_CPS_URL``): what this
    system does, with the configured policy OIDs."""
    template = (Path(__file__).parent / "cps.txt").read_text(encoding="utf-8")
    return template.format(
        clinic=clinic_name,
        public_url=public_url,
        doctor_policy=profile.policy_oid,
        tsa_policy=profile.tsa_policy_oid,
    )
