"""The CRL, signed once and served many times.

A CRL is re-signed when the one at hand is a day old (:data:`RESIGN_AFTER`; it is
valid for :data:`NEXT_UPDATE`), when the revoked set differs from the one it lists
(a revocation in any process shows at the next request: the set is read from the
database every time, which is cheap, while signing means opening the CA key), or
when asked for an earlier time than it was made at. The cache is per process and
keyed by the CA certificate, so several workers each sign their own copy, which
RFC 5280 allows (each has a higher CRL number than the ones before it).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from his_portal.services.pki.crl import RevokedEntry

__all__ = ["NEXT_UPDATE", "RESIGN_AFTER", "cached_crl", "invalidate"]

RESIGN_AFTER = timedelta(days=1)
NEXT_UPDATE = timedelta(days=7)


@dataclass(frozen=True)
class _Signed:
    der: bytes
    this_update: datetime
    revoked: tuple[RevokedEntry, ...]


_lock = threading.Lock()
_signed: dict[str, _Signed] = {}


def _listed(revoked: Sequence[RevokedEntry]) -> tuple[RevokedEntry, ...]:
    return tuple(
        sorted(
            (
                RevokedEntry(
                    e.serial,
                    e.revoked_at.astimezone(UTC).replace(microsecond=0),
                    e.reason,
                )
                for e in revoked
            ),
            key=lambda e: e.serial,
        )
    )


def cached_crl(
    *,
    ca_cert_pem: bytes,
    revoked: Sequence[RevokedEntry],
    now: datetime,
    sign: Callable[[datetime], bytes],
) -> bytes:
    """The CRL for ``revoked`` as of ``now``: the cached one while it is fresh and
    lists exactly these entries, else ``sign(this_update)`` (which must sign a CRL
    with that thisUpdate and a nextUpdate :data:`NEXT_UPDATE` later).

    Args:
        ca_cert_pem: The CA certificate (the cache key).
        revoked: Every revoked certificate, as the database has them now.
        now: The time the CRL must be valid at (aware).
        sign: Builds and signs a CRL with the given thisUpdate.

    Returns:
        The CRL, DER.
    """
    key = hashlib.sha256(ca_cert_pem).hexdigest()
    listed = _listed(revoked)
    now = now.astimezone(UTC).replace(microsecond=0)
    with _lock:
        held = _signed.get(key)
        if (
            held is not None
            and held.revoked == listed
            and held.this_update <= now < held.this_update + RESIGN_AFTER
        ):
            return held.der
    der = sign(now)
    with _lock:
        _signed[key] = _Signed(der=der, this_update=now, revoked=listed)
    return der


def invalidate() -> None:
    """Forget every cached CRL (this process); the next request signs anew."""
    with _lock:
        _signed.clear()
