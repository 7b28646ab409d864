"""The certificate profile: which policies our certificates assert, where validators
find the CA's status services, and how a doctor's name appears in the subject.

Default policy OIDs sit under ``1.3.6.1.4.1.32473``, the Private Enterprise Number
IANA reserves for documentation and examples (RFC 5612): nobody can own an OID
there, so a certificate carrying one says plainly "no registered policy, for
testing only". (X.660's example arc ``2.999`` would say the same, but pkilint's DER
decoder, pyasn1-fasder 0.1.3, misreads every OID under ``2.N`` with N ≥ 48.) A clinic
replaces them with OIDs under its own PEN (or its CA vendor's) through
``HIS_CERT_POLICY_OID`` and ``HIS_TSA_POLICY_OID`` (README, 证书策略).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "DOCTOR_POLICY_OID",
    "TSA_POLICY_OID",
    "IssuingProfile",
    "certificate_policies",
    "is_valid_oid",
    "person_name_attributes",
]

#: Doctors' signing certificates (example arc: for testing only).
DOCTOR_POLICY_OID = "1.3.6.1.4.1.32473.1.1"
#: The clinic TSA: its certificate's policy and the RFC 3161 TSAPolicyId of its
#: tokens (example arc: for testing only).
TSA_POLICY_OID = "1.3.6.1.4.1.32473.1.2"

_ARC = re.compile(r"0|[1-9][0-9]*")


def is_valid_oid(dotted: str) -> bool:
    """Whether ``dotted`` is a well-formed OID (X.660: at least two arcs, the first
    0, 1 or 2, the second below 40 under 0 and 1, no leading zeros)."""
    arcs = dotted.split(".")
    if len(arcs) < 2 or not all(_ARC.fullmatch(arc) for arc in arcs):
        return False
    first, second = int(arcs[0]), int(arcs[1])
    return first <= 2 and (first == 2 or second < 40)


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
    """

    ocsp_url: str = ""
    ca_issuers_url: str = ""
    policy_oid: str = DOCTOR_POLICY_OID
    cps_url: str = ""
    tsa_policy_oid: str = TSA_POLICY_OID


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
