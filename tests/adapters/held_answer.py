"""A fake service holding its answer back, to see a client give up on its own
timeout without measuring the time it took (tests only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest

E = TypeVar("E", bound=Exception)


def gave_up(
    fake: type, error: type[E], call: Callable[[], object], *, timeout: float
) -> E:
    """Runs ``call`` while ``fake`` (a handler class with a ``hold`` event) keeps
    its answer back; returns the ``error`` raised, once it is sure the client read
    no answer and waited with the configured ``timeout``."""
    fake.hold.clear()
    try:
        with pytest.raises(error) as caught:
            call()
    finally:
        fake.hold.set()  # the fake answers now, to a client that gave up
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.ReadTimeout)  # the server never answered
    assert cause.request.extensions["timeout"]["read"] == timeout
    return caught.value
