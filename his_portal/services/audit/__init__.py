"""Append-only audit log: a keyed MAC chain, a MAC'd head, and RFC 3161 anchors.

The scheme
----------
* Every entry's ``hash`` is ``HMAC-SHA256(audit_key, canonical fields + prev_hash)``
  where ``audit_key = keyvault.mac_key(kek, "audit")``. Plain SHA-256 could be
  recomputed by anyone with write access to the database; the MAC cannot be
  recomputed without the KEK, so an edited, forged, renumbered or moved entry no
  longer verifies.
* The single ``AuditHead`` row holds the newest ``seq`` and ``hash`` and
  ``mac = HMAC(audit_key, "head", seq, hash)``, rewritten in the same transaction as
  every append. Deleting the newest entries and resetting the head to match needs
  a head MAC, i.e. the key. Appends bump the head row first: that write takes the
  lock that serialises concurrent appends on PostgreSQL and SQLite alike.
* An append that finds a head whose MAC does not verify (forged, reset, or missing
  while entries exist) does not launder it by writing a fresh valid MAC: it first
  appends an ``audit.head_invalid`` entry recording what the head claimed, and
  :func:`verify_chain` reports that entry for ever after.
* :func:`anchor_head` gets an RFC 3161 timestamp token over
  ``SHA-256("seq|hash|mac")`` of the head from a TSA (the clinic's own or an
  external one) and stores it in ``AuditAnchor``. :func:`verify_chain` checks each
  token (signature, TSA certificate chain, imprint) and that the anchored entry is
  still in the log with the same hash, so restoring the log *and* the head to an
  older, internally consistent copy is caught against the latest anchor.

What it does not protect against
--------------------------------
* Anyone holding the KEK (a file outside the database) can rewrite the whole log
  with valid MACs, and since the KEK also opens the clinic TSA's key, can mint
  clinic-TSA anchors with any time as well. Anchors from an external TSA
  (``HIS_TSA_URL``) bound that damage in time: history before the latest such
  anchor cannot be rewritten without the rewrite showing, as long as its token
  survives.
* Anchors live in the same database: someone with write access can delete the
  anchor rows together with the entries they cover. Copies of the tokens kept
  outside the database (``anchor-audit`` prints each one it makes) survive that.
  Likewise the default trust root for tokens is the clinic CA certificate stored
  in the database.
* Restoring an older copy of the log and the head (every MAC in it valid) is
  caught only for history covered by an anchor: entries written after the latest
  anchor can vanish that way unnoticed. The window is the anchoring interval, so
  call :func:`anchor_head` often (it costs two reads when nothing changed).
  Wiping the log, the head and the anchors leaves what looks like a fresh install.
* Entries written by the earlier unkeyed scheme (plain SHA-256) do not verify
  under the key; such a log has to be re-sealed deliberately by an operator who
  has checked it, which this module does not do.
"""

from his_portal.services.audit.anchors import anchor_head, clinic_tsa
from his_portal.services.audit.chain import (
    HEAD_INVALID_ACTION,
    Actor,
    AuditError,
    configure,
    record_event,
)
from his_portal.services.audit.verify import ChainReport, Problem, verify_chain

__all__ = [
    "HEAD_INVALID_ACTION",
    "Actor",
    "AuditError",
    "ChainReport",
    "Problem",
    "anchor_head",
    "clinic_tsa",
    "configure",
    "record_event",
    "verify_chain",
]
