"""Face check (人脸核身) for 意愿校验 方式2, done on the doctor's phone.

The flow, whatever the provider:

1. ``begin(name=..., id_number=..., return_url=...)``: the server asks the provider
   to open a face-check transaction for the doctor's *verified* identity (real name
   and full ID number, decrypted by the caller just for this call). The answer is a
   :class:`FaceSession`: ``ref`` (the provider's transaction id, kept with the
   pending confirmation) and ``url`` (where the phone goes to do the check).
2. The phone opens ``url``; the provider's H5 page runs liveness detection and
   compares the face with the authority's photo for that ID number.
3. When it is done the provider redirects the phone back to ``return_url`` (our
   ``/confirm/<token>`` page). Nothing in that redirect is trusted: the query
   string is the phone's to forge.
4. ``result(ref=..., name=..., id_number=...)``: the server asks the provider,
   server to server, what the transaction ``ref`` found. The answer is a
   :class:`FaceResult` (matched / not matched with a Chinese reason), or
   :class:`FaceCheckError` when the provider could not answer (timeout, HTTP
   error, bad credentials, unreadable answer). A failure never turns into a match.

:class:`DemoFaceCheckProvider` (``demo``) has no provider: ``url`` is ``""`` and the
phone page itself shows 模拟通过 / 模拟不通过, sending ``evidence`` to ``result``.

:class:`TencentFaceIdProvider` (``tencent``) speaks Tencent Cloud FaceID (慧眼) H5,
API version ``2018-03-01``, service ``faceid``, as JSON ``POST`` to the endpoint:

* ``DetectAuth`` ``{"RuleId", "IdCard", "Name", "RedirectUrl"}`` answers
  ``{"Response": {"Url", "BizToken", "RequestId"}}``: ``ref = BizToken``.
* ``GetDetectInfoEnhanced`` ``{"BizToken", "RuleId", "InfoType": "0"}`` answers
  ``{"Response": {"Text": {"ErrCode", "ErrMsg", "IdCard", "Name", ...}}}``.
  ``ErrCode`` null means the doctor has not finished; ``0`` is success, anything
  else a failed check with ``ErrMsg`` as reason. Success only counts as a match
  when ``Text.IdCard`` and ``Text.Name`` are the doctor's own, so a face check
  done for somebody else (another BizToken) cannot confirm this doctor.
* Any failure is ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``.

Requests are signed with TC3-HMAC-SHA256 (:func:`tc3_authorization`)::

    canonical_request = "POST\\n/\\n\\n"
        "content-type:application/json; charset=utf-8\\nhost:<host>\\n\\n"
        "content-type;host\\n" + hex(SHA256(body))
    string_to_sign = "TC3-HMAC-SHA256\\n<timestamp>\\n<date>/faceid/tc3_request\\n"
        + hex(SHA256(canonical_request))
    k = HMAC("TC3" + secret_key, date); k = HMAC(k, "faceid")
    k = HMAC(k, "tc3_request"); signature = hex(HMAC(k, string_to_sign))
    Authorization: TC3-HMAC-SHA256 Credential=<secret_id>/<date>/faceid/tc3_request,
        SignedHeaders=content-type;host, Signature=<signature>

with ``date`` the UTC date (``YYYY-MM-DD``) of ``timestamp`` (Unix seconds, also sent
as ``X-TC-Timestamp``), next to ``X-TC-Action``, ``X-TC-Version`` and
``X-TC-Region``. Pure Python: no Tencent SDK.
"""

from his_portal.adapters.face.base import (
    DEMO_FACE_OK,
    FaceCheckError,
    FaceCheckProvider,
    FaceConfigError,
    FaceResult,
    FaceSession,
)
from his_portal.adapters.face.demo import DemoFaceCheckProvider
from his_portal.adapters.face.tencent import TencentFaceIdProvider, tc3_authorization

__all__ = [
    "DEMO_FACE_OK",
    "DemoFaceCheckProvider",
    "FaceCheckError",
    "FaceCheckProvider",
    "FaceConfigError",
    "FaceResult",
    "FaceSession",
    "TencentFaceIdProvider",
    "make_face_provider",
    "tc3_authorization",
]


def make_face_provider(kind: str, **config: str | float) -> FaceCheckProvider | None:
    """Build the provider named by settings.

    Args:
        kind: ``"demo"`` (simulated on the phone page), ``"tencent"`` or ``"none"``.
        **config: :class:`TencentFaceIdProvider` fields (``secret_id``,
            ``secret_key``, ``rule_id``, ``endpoint``, ``region``, ``timeout``),
            e.g. ``**dict(settings.face_config)``; ignored for ``demo``.

    Returns:
        The provider, or ``None`` for ``"none"`` (方式2 is not offered).

    Raises:
        FaceConfigError: Unknown kind, or ``tencent`` with missing settings.
    """
    if kind == "demo":
        return DemoFaceCheckProvider()
    if kind == "tencent":
        known = set(TencentFaceIdProvider.__dataclass_fields__) - {"name", "demo"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise FaceConfigError(f"腾讯云人脸核身配置项未知：{'、'.join(unknown)}")
        if "timeout" in config:
            try:
                config["timeout"] = float(config["timeout"])
            except ValueError as exc:
                raise FaceConfigError("人脸核身服务超时时间应为秒数") from exc
        return TencentFaceIdProvider(**config)
    if kind == "none":
        return None
    raise FaceConfigError(f"未知的人脸核身方式：{kind!r}（应为 demo、tencent 或 none）")
