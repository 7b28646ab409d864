"""Face verification (人脸核身) for 意愿校验 by QR code on the doctor's phone.

The phone opens ``<public_url>/confirm/<token>``, sees what it is about to confirm
and runs a face check; the willingness service hands the result of that check
(``evidence``) to a :class:`FaceCheckProvider`, which answers matched / not matched
for the doctor's *verified* identity, or raises :class:`FaceCheckError` when it
cannot answer. A failure never turns into a fake match.

Only the offline :class:`DemoFaceCheckProvider` exists. A real WeChat adapter
(微信人脸核身, the 2.0 interface of the WeChat mini-program platform; the older
``getinfo``/``verify_result`` interface is being retired) would be a frozen dataclass
``WechatFaceCheckProvider(app_id, app_secret, timeout)`` with ``name = "wechat"``,
implementing this Protocol plus one step before the scan:

1. ``begin(*, name, id_number, out_seq_no, openid) -> verify_id``: server side,
   ``POST /cityservice/face/identify/getverifyid?access_token=...`` with the real
   name and full ID number (decrypted by the caller with the KEK just for this call)
   and our sequence number; keep ``verify_id → (out_seq_no, openid, cert_hash)`` in
   its own table, never the ID number. The phone page passes ``verify_id`` to
   ``wx.requestFacialVerify`` in the mini-program (the QR URL opens it).
2. ``verify(*, name, id_number_masked, evidence)`` with ``evidence = verify_id``:
   ``POST /cityservice/face/identify/queryverifyinfo`` with ``verify_id``,
   ``out_seq_no``, ``cert_hash`` and ``openid`` from step 1. ``verify_ret == 10000``
   is a match; user cancel, bad capture or timeout codes (900xx) are not matched
   with a Chinese reason; ``errcode != 0`` or transport errors raise
   :class:`FaceCheckError`. ``reference`` is ``verify_id`` (kept in the audit log).
   It must also check that the stored mapping was begun for the same ``name``, so a
   face check done for someone else cannot confirm this doctor.

``access_token`` comes from ``/cgi-bin/token`` (cache it until shortly before expiry;
it is per app). Tested like the other adapters: against a local fake server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DEMO_FACE_OK",
    "DemoFaceCheckProvider",
    "FaceCheckError",
    "FaceCheckProvider",
    "FaceResult",
    "make_face_provider",
]

#: The evidence the demo phone page sends for 模拟人脸核验通过.
DEMO_FACE_OK = "demo-face-ok"
MATCHED_MESSAGE = "人脸核验通过"
MISMATCH_MESSAGE = "人脸核验未通过"


@dataclass(frozen=True, kw_only=True)
class FaceResult:
    """A provider's definite answer."""

    matched: bool
    reference: str  # provider transaction id for the audit log; "" if none
    message: str  # Chinese, shown on the phone


class FaceCheckError(Exception):
    """The check could not be completed; ``message`` is Chinese for the doctor."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FaceCheckProvider(Protocol):
    """Anything that can tell whether a face check matched a verified identity."""

    name: str

    def verify(self, *, name: str, id_number_masked: str, evidence: str) -> FaceResult:
        """Judge the evidence a phone produced for this identity.

        Args:
            name: The doctor's verified real name.
            id_number_masked: The masked ID number (for display and logs only).
            evidence: What the phone's face check produced (provider specific).

        Raises:
            FaceCheckError: The provider could not give a definite answer.
        """
        ...


@dataclass(frozen=True, kw_only=True)
class DemoFaceCheckProvider:
    """Offline provider: matched exactly when ``evidence == DEMO_FACE_OK``."""

    name: str = field(default="demo", init=False)

    def verify(self, *, name: str, id_number_masked: str, evidence: str) -> FaceResult:
        """Match the demo evidence; anything else is not matched."""
        if evidence == DEMO_FACE_OK:
            reference = f"demo-face-{uuid.uuid4().hex[:16]}"
            return FaceResult(
                matched=True, reference=reference, message=MATCHED_MESSAGE
            )
        return FaceResult(matched=False, reference="", message=MISMATCH_MESSAGE)


def make_face_provider(kind: str) -> FaceCheckProvider:
    """Build the provider named by settings (only ``"demo"`` exists so far).

    Raises:
        ValueError: Any other kind.
    """
    if kind == "demo":
        return DemoFaceCheckProvider()
    raise ValueError(f"未知的人脸核身方式：{kind!r}（目前仅支持 demo）")
