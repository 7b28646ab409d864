"""Fixtures of the adapter tests: the local fakes of outside services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.fake_tencent import FakeTencent
from tests.fake_server import serve


@pytest.fixture(scope="module")
def tencent() -> Iterator[str]:
    """A fake Tencent FaceID on a free port (one per test module); its base URL."""
    with serve(FakeTencent) as base:
        yield base
