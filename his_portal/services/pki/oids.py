"""Policy OIDs: the defaults and a syntax check (no cryptography import, so that
settings can use it cheaply).

Default policy OIDs sit under ``1.3.6.1.4.1.32473``, the Private Enterprise Number
IANA reserves for documentation and examples (RFC 5612): nobody can own an OID
there, so a certificate carrying one says plainly "no registered policy, for
testing only". (X.660's example arc ``2.999`` would say the same, but pkilint's DER
decoder, pyasn1-fasder 0.1.3, misreads every OID under ``2.N`` with N ≥ 48.) A clinic
replaces them with OIDs under its own PEN (or its CA vendor's) through
``HIS_CERT_POLICY_OID`` and ``HIS_TSA_POLICY_OID`` (README, 证书策略).
"""

from __future__ import annotations

import re

__all__ = ["DOCTOR_POLICY_OID", "TSA_POLICY_OID", "is_valid_oid"]

#: Doctors' signing certificates (example arc: for testing only).
DOCTOR_POLICY_OID = "1.3.6.1.4.1.32473.1.1"
#: The clinic TSA: its certificate's policy and the RFC 3161 TSAPolicyId of its
#: tokens (example arc: for testing only).
TSA_POLICY_OID = "1.3.6.1.4.1.32473.1.2"

_ARC = re.compile(r"0|[1-9][0-9]*")


def is_valid_oid(dotted: str) -> bool:
    """Whether ``dotted`` is a well-formed OID (X.660: at least two arcs, the first
    0, 1 or 2, the second below 40 under 0 and 1, no leading zeros)."""
    arcs = dotted.split(".")
    if len(arcs) < 2 or not all(_ARC.fullmatch(arc) for arc in arcs):
        return False
    first, second = int(arcs[0]), int(arcs[1])
    return first <= 2 and (first == 2 or second < 40)
