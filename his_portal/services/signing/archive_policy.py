"""When a document timestamp is due for archive renewal: what the newest one in
a file is made of (its TSA certificate, its digests), and the policy that judges it
(``HIS_ARCHIVE_RENEW_DAYS``, ``HIS_ARCHIVE_AGEING_ALGORITHMS``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import cms, x509

from his_portal.services.signing.ltv import signature_contents
from his_portal.services.signing.pades import SigningError
from his_portal.settings import Settings

__all__ = [
    "RenewalPolicy",
    "StampFacts",
    "certificate_reason",
    "newest_document_timestamp",
    "renewal_reason",
]


@dataclass(frozen=True)
class RenewalPolicy:
    """When a document timestamp is due for renewal."""

    margin: timedelta
    """Renew when the TSA certificate expires sooner than this."""
    ageing: tuple[str, ...] = ("sha1", "rsa<2048")
    """Digests (asn1crypto names) and ``rsa<BITS`` entries no longer trusted."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RenewalPolicy:
        return cls(
            margin=timedelta(days=settings.archive_renew_days),
            ageing=settings.archive_ageing_algorithms,
        )

    @property
    def min_rsa_bits(self) -> int:
        return max(
            (int(entry[4:]) for entry in self.ageing if entry.startswith("rsa<")),
            default=0,
        )


@dataclass(frozen=True)
class StampFacts:
    """What renewal needs to know of a document timestamp."""

    gen_time: datetime
    tsa_cert: x509.Certificate
    digests: frozenset[str]
    """The token's imprint and signature digests, and the TSA certificate's."""


def _signer_certificate(signed_data: cms.SignedData, sid) -> x509.Certificate | None:
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (
                cert.issuer == sid.chosen["issuer"]
                and cert.serial_number == sid.chosen["serial_number"].native
            ):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def newest_document_timestamp(pdf: bytes) -> StampFacts | None:
    """The facts of the file's last signature if it is a document timestamp
    (None: the last one is a regular signature, e.g. a B-T file).

    Raises:
        SigningError: No signature, or its token cannot be read.
    """
    try:
        content = cms.ContentInfo.load(signature_contents(pdf))
        signed_data = content["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            return None
        info = encap["content"].parsed
        signer = signed_data["signer_infos"][0]
        cert = _signer_certificate(signed_data, signer["sid"])
        digests = {
            info["message_imprint"]["hash_algorithm"]["algorithm"].native,
            signer["digest_algorithm"]["algorithm"].native,
        }
        if cert is not None:
            digests.add(cert["signature_algorithm"].hash_algo)
    except (ValueError, TypeError, KeyError) as exc:
        raise SigningError("文档时间戳无法解析") from exc
    if cert is None:
        raise SigningError("文档时间戳缺少时间戳服务证书")
    return StampFacts(
        gen_time=info["gen_time"].native, tsa_cert=cert, digests=frozenset(digests)
    )


def certificate_reason(
    cert: x509.Certificate, policy: RenewalPolicy, now: datetime
) -> str:
    expires = cert["tbs_certificate"]["validity"]["not_after"].native
    if expires < now + policy.margin:
        return f"时间戳服务证书将于 {expires:%Y-%m-%d} 到期"
    key = cert.public_key
    if key.algorithm == "rsa" and key.bit_size < policy.min_rsa_bits:
        return f"时间戳服务证书的 RSA 密钥仅 {key.bit_size} 位"
    return ""


def renewal_reason(facts: StampFacts, policy: RenewalPolicy, now: datetime) -> str:
    """Why this timestamp must be renewed now, or "" when it need not be."""
    weak = sorted(facts.digests & set(policy.ageing))
    if weak:
        return f"时间戳使用老化算法 {', '.join(weak)}"
    return certificate_reason(facts.tsa_cert, policy, now)
