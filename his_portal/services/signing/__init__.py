"""Signing medical records: the record PDF (record_pdf), PAdES with endesive
(pades, _endesive), one record signed and locked (records), the batch of a spent
意愿校验 — the one way records get signed (batch), signed versions and 撤销签名
(versions), validation with pdfsig and pyHanko (validation)."""
