"""The clinic's built-in RFC 3161 timestamp authority (TSA).

《电子病历应用管理规范》 asks for an authoritative time source; this TSA certifies
"this signature existed at time T" with the TSA key (issued by the clinic CA,
EKU timeStamping). Signing calls it in-process; the app also serves it over HTTP
(``POST /pki/tsa``, content types in :mod:`his_portal.adapters.tsa_client`) for
anyone who
wants a token from us. A deployment that needs a third-party TSA sets
``SigningOptions.tsa_url`` instead.

A malformed or unsupported request gets an RFC 3161 *rejection* response (status
``rejection`` with a failInfo), never an exception: that is what an HTTP TSA owes
its clients, and the signer turns it into a Chinese message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Sequence

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from his_portal.adapters.tsa_client import TimeStampResp
from his_portal.services.pki.profile import TSA_POLICY_OID
from his_portal.services.signing.pades import SigningError

__all__ = ["DEFAULT_POLICY_OID", "TimestampAuthority"]

#: The TSA policy (RFC 3161 §2.4.2 TSAPolicyId) of a TSA certificate that names
#: none: the example-arc default of :mod:`..profile` (for testing only; a clinic
#: sets ``HIS_TSA_POLICY_OID``, which goes into its TSA certificate).
DEFAULT_POLICY_OID = TSA_POLICY_OID
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_cert(pem: bytes) -> x509.Certificate:
    der = cx509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return x509.Certificate.load(der)


class _Rejected(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class TimestampAuthority:
    """Issues RFC 3161 timestamp tokens signed with the clinic TSA key.

    Thread-safe: it holds no mutable state (serial numbers are random).
    """

    def __init__(
        self,
        *,
        cert_pem: bytes,
        key: rsa.RSAPrivateKey,
        ca_chain_pems: Sequence[bytes] = (),
        policy_oid: str | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        """Check and hold the TSA certificate and key.

        Args:
            cert_pem: The TSA certificate (EKU timeStamping, critical).
            key: Its RSA private key, decrypted, in memory.
            ca_chain_pems: Issuer certificates to ship in tokens (the clinic CA).
            policy_oid: The TSA policy written into every token; by default the
                one policy the TSA certificate asserts (``HIS_TSA_POLICY_OID`` when
                it was issued), else :data:`DEFAULT_POLICY_OID`.
            clock: Returns the current aware time (tests pin it).

        Raises:
            SigningError: Key and certificate do not match, or the certificate is
                not a timestamping certificate.
        """
        certificate = cx509.load_pem_x509_certificate(cert_pem)
        if not isinstance(key, rsa.RSAPrivateKey) or (
            key.public_key().public_numbers()
            != certificate.public_key().public_numbers()
        ):
            raise SigningError("时间戳服务的私钥与证书不匹配")
        try:
            eku = certificate.extensions.get_extension_for_class(cx509.ExtendedKeyUsage)
        except cx509.ExtensionNotFound:
            eku = None
        if eku is None or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
            raise SigningError("时间戳服务证书缺少专用的时间戳用途（timeStamping）")
        self._key = key
        self._cert = _load_cert(cert_pem)
        self._chain = [_load_cert(pem) for pem in ca_chain_pems]
        self._ess_attribute, self._sid, self._tsa_name = _static_parts(self._cert)
        self._certs_der = b"".join(c.dump() for c in [self._cert, *self._chain])
        self._not_before = certificate.not_valid_before_utc
        self._not_after = certificate.not_valid_after_utc
        self._policy = policy_oid or _certificate_policy(certificate)
        self._policy_der = core.ObjectIdentifier(self._policy).dump()
        self._clock = clock

    def timestamp(self, request_der: bytes) -> bytes:
        """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp``.

        Args:
            request_der: The request, as POSTed to a TSA.

        Returns:
            A granted response with a token over the request's imprint, or a
            rejection (badDataFormat, badAlg, unacceptedPolicy, ...).
        """
        try:
            request = self._parse(request_der)
            now = self._clock().astimezone(dt.UTC).replace(microsecond=0)
            if not self._not_before <= now <= self._not_after:
                raise _Rejected("system_failure", "TSA certificate not valid now")
            token = self._token(request, now)
        except _Rejected as rejected:
            status = tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [rejected.text],
                    "fail_info": tsp.PKIFailureInfo({rejected.fail_info}),
                }
            )
            return TimeStampResp({"status": status}).dump()
        return _tlv(0x30, _GRANTED + token)

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            request.native  # noqa: B018 - parse every field now, not lazily later
        except (ValueError, TypeError, KeyError) as exc:
            raise _Rejected("bad_data_format", "malformed request") from exc
        if request["version"].native != "v1":
            raise _Rejected("bad_request", "unsupported version")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGEST_SIZES:
            raise _Rejected("bad_alg", f"unsupported hash {algorithm}")
        if len(imprint["hashed_message"].native) != _DIGEST_SIZES[algorithm]:
            raise _Rejected("bad_data_format", "imprint length")
        policy = request["req_policy"].native
        if policy is not None and policy != self._policy:
            raise _Rejected("unaccepted_policy", "unknown policy")
        if request["extensions"].native:
            raise _Rejected("unaccepted_extension", "no extensions supported")
        return request

    def _token(self, request: tsp.TimeStampReq, now: dt.datetime) -> bytes:
        """The token's DER, written directly: only the imprint, serial number, time,
        nonce and signature change from token to token; the rest is encoded once
        (:func:`_static_parts`). asn1crypto building it took ≈ 2 of its 3 ms."""
        # Unique per token (RFC 3161 §2.4.2); 127 random bits, no shared state.
        serial = secrets.randbits(127) + 1
        nonce = request["nonce"]
        tst_info = _tlv(
            0x30,
            _INT_1
            + self._policy_der
            + request["message_imprint"].dump()
            + _integer(serial)
            + _tlv(0x18, now.strftime("%Y%m%d%H%M%SZ").encode("ascii"))
            + _ACCURACY_1S
            + (nonce.dump() if nonce.native is not None else b"")
            + _tlv(0xA0, self._tsa_name),
        )
        digest = _tlv(0x31, _tlv(0x04, hashlib.sha256(tst_info).digest()))
        # A DER SET OF in order: these three encodings sort as written.
        attrs = (
            _CONTENT_TYPE_ATTR
            + _tlv(0x30, _MESSAGE_DIGEST_OID + digest)
            + self._ess_attribute
        )
        signature = self._key.sign(
            _tlv(0x31, attrs), padding.PKCS1v15(), hashes.SHA256()
        )
        signer_info = _tlv(
            0x30,
            _INT_1
            + self._sid
            + _SHA256
            + _tlv(0xA0, attrs)
            + _SHA256_RSA
            + _tlv(0x04, signature),
        )
        # RFC 3161 §2.4.1: certificates only when asked for (certReq).
        certificates = (
            _tlv(0xA0, self._certs_der) if request["cert_req"].native else b""
        )
        signed_data = _tlv(
            0x30,
            _INT_3
            + _tlv(0x31, _SHA256)
            + _tlv(0x30, _TST_INFO_OID + _tlv(0xA0, _tlv(0x04, tst_info)))
            + certificates
            + _tlv(0x31, signer_info),
        )
        return _tlv(0x30, _SIGNED_DATA_OID + _tlv(0xA0, signed_data))


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element (single-byte tag)."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _integer(value: int) -> bytes:
    """A non-negative DER INTEGER (a leading zero byte where the top bit is set)."""
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


_INT_1, _INT_3 = _integer(1), _integer(3)
_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_SHA256_RSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}).dump()
_ACCURACY_1S = tsp.Accuracy({"seconds": 1}).dump()
_SIGNED_DATA_OID = cms.ContentType("signed_data").dump()
_TST_INFO_OID = cms.ContentType("tst_info").dump()
_MESSAGE_DIGEST_OID = cms.CMSAttributeType("message_digest").dump()
_CONTENT_TYPE_ATTR = cms.CMSAttribute(
    {"type": "content_type", "values": ["tst_info"]}
).dump()


def _certificate_policy(certificate: cx509.Certificate) -> str:
    try:
        ext = certificate.extensions.get_extension_for_class(cx509.CertificatePolicies)
    except cx509.ExtensionNotFound:
        return DEFAULT_POLICY_OID
    policies = [info.policy_identifier.dotted_string for info in ext.value]
    return policies[0] if len(policies) == 1 else DEFAULT_POLICY_OID


def _static_parts(cert: x509.Certificate) -> tuple[bytes, bytes, bytes]:
    """DER of what every token repeats; encoding them once per token from
    asn1crypto objects took most of the time (≈ 15 ms of 18 ms)."""
    issuer_serial = {
        "issuer": [x509.GeneralName({"directory_name": cert.issuer})],
        "serial_number": cert.serial_number,
    }
    # ESS signing-certificate-v2 (RFC 5816): binds the token to this TSA cert.
    # hash_algorithm is left out: its DEFAULT is sha256, and DER omits defaults.
    cert_id = {"cert_hash": hashlib.sha256(cert.dump()).digest()}
    cert_id["issuer_serial"] = issuer_serial
    ess = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [cert_id]})],
        }
    )
    sid = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": {
                "issuer": cert.issuer,
                "serial_number": cert.serial_number,
            }
        }
    )
    name = x509.GeneralName({"directory_name": cert.subject})
    return ess.dump(), sid.dump(), name.dump()
