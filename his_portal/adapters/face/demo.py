"""The offline provider of demo mode: the phone page simulates the check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from his_portal.adapters.face.base import (
    DEMO_FACE_OK,
    DEMO_REF_PREFIX,
    MATCHED_MESSAGE,
    MISMATCH_MESSAGE,
    FaceResult,
    FaceSession,
)


@dataclass(frozen=True, kw_only=True)
class DemoFaceCheckProvider:
    """Offline provider: the phone page simulates the check (see module docstring).

    Matched exactly when ``evidence == DEMO_FACE_OK`` for a ``ref`` it issued.
    """

    name: str = field(default="demo", init=False)
    demo: bool = field(default=True, init=False)

    def begin(self, *, name: str, id_number: str, return_url: str) -> FaceSession:
        """Issue a demo transaction id; there is no page to visit."""
        return FaceSession(ref=f"{DEMO_REF_PREFIX}{uuid.uuid4().hex}", url="")

    def result(
        self, *, ref: str, name: str, id_number: str, evidence: str = ""
    ) -> FaceResult:
        """Match the demo evidence; anything else is not matched."""
        if evidence == DEMO_FACE_OK and ref.startswith(DEMO_REF_PREFIX):
            return FaceResult(matched=True, reference=ref, message=MATCHED_MESSAGE)
        return FaceResult(matched=False, reference=ref, message=MISMATCH_MESSAGE)
