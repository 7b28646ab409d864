"""The one error root: every error whose message a person reads (Chinese for the
doctor, manager or admin; English one-liners for the operator's configuration).

Services raise a subclass of :class:`HisError`; pages catch ``HisError`` only and show
``message``. Anything else (KeyError, TypeError, ...) is a bug: it is logged, never
shown as a message.
"""

from __future__ import annotations

__all__ = ["AccessDenied", "ConfigError", "HisError", "InvalidInput"]


class HisError(Exception):
    """A refusal with a message for a person.

    ``retry_after`` (seconds) is set when the refusal is only a matter of waiting.
    """

    def __init__(self, message: str, *, retry_after: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class AccessDenied(HisError):
    """The account asking may not see or do this."""


class InvalidInput(HisError):
    """The input cannot be used; nothing was changed."""


class ConfigError(HisError):
    """A deployment setting cannot be used."""
