"""The clinic's trust: its CA and CRLs (authority), doctors' certificates
(certificates), keys at rest and per-purpose MAC keys (keyvault), and the built-in
RFC 3161 timestamp authority, the server side (timestamp_authority; the client of an
external TSA is his_portal.adapters.tsa_client)."""
