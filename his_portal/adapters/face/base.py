"""What every face-check provider speaks: sessions, results, errors, the Protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from his_portal.errors import ConfigError, HisError

#: The evidence the demo phone page sends for 模拟人脸核验通过.
DEMO_FACE_OK = "demo-face-ok"
DEMO_REF_PREFIX = "demo-"
MAX_REF_LENGTH = 128

MATCHED_MESSAGE = "人脸核验通过"
MISMATCH_MESSAGE = "人脸核验未通过"
UNFINISHED_MESSAGE = "人脸核验尚未完成"
OTHER_PERSON_MESSAGE = "人脸核验未通过：核验的身份与本人不一致"


@dataclass(frozen=True, kw_only=True)
class FaceSession:
    """A face-check transaction the phone is about to run."""

    ref: str  # the provider's transaction id (Tencent: BizToken); <= 128 chars
    url: str  # where the phone goes to do the check; "" = simulated (demo only)


@dataclass(frozen=True, kw_only=True)
class FaceResult:
    """A provider's definite answer."""

    matched: bool
    reference: str  # provider transaction id for the audit log
    message: str  # Chinese, shown on the phone
    finished: bool = True  # False: the person has not completed the check yet


class FaceCheckError(HisError):
    """The provider could not answer; ``message`` is Chinese for the doctor."""

    def __init__(self, message: str, *, reference: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference  # the provider's request id, if it answered


class FaceConfigError(ConfigError):
    """The face-check settings are unusable; ``message`` is one line of Chinese."""


class FaceCheckProvider(Protocol):
    """Anything that can run a face check for a verified identity."""

    name: str
    demo: bool  # True only for the demo provider (the phone page simulates it)

    def begin(self, *, name: str, id_number: str, return_url: str) -> FaceSession:
        """Open a face-check transaction.

        Args:
            name: The doctor's verified real name.
            id_number: The full, verified ID number.
            return_url: Where the provider sends the phone back when done.

        Raises:
            FaceCheckError: The provider could not open the transaction.
        """
        ...

    def result(
        self, *, ref: str, name: str, id_number: str, evidence: str = ""
    ) -> FaceResult:
        """Ask what transaction ``ref`` found, for this identity only.

        Args:
            ref: :attr:`FaceSession.ref` from :meth:`begin`.
            name: The doctor's verified real name.
            id_number: The full, verified ID number.
            evidence: What the phone sent (demo only; real providers ignore it).

        Raises:
            FaceCheckError: The provider could not give a definite answer.
        """
        ...
