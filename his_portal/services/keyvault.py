"""Private keys at rest: the key-encryption key (KEK) and per-key encryption.

Keys are stored as AES-256 encrypted PKCS#8 PEM. Each key has its own password,
HMAC-SHA256(KEK, "his-portal key " + key id), so a database dump alone opens
nothing and one leaked password opens one key. The KEK is a file outside the
database; losing it loses every key, so it is created once and never regenerated.

Used through :mod:`his_portal.services.pki`, which re-exports these names.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "KEK_SIZE",
    "KekError",
    "PkiError",
    "decrypt_private_key",
    "encrypt_private_key",
    "load_or_create_kek",
]

KEK_SIZE = 32


class PkiError(Exception):
    """Base error of the PKI services; ``message`` is the Chinese text for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KekError(PkiError):
    """The key-encryption key is missing, malformed, or does not open a key."""


def load_or_create_kek(path: Path, *, create: bool) -> bytes:
    """Read the 32-byte KEK, creating it (mode 0600, new parent dirs 0700) if asked.

    Args:
        path: The KEK file; keep it outside the database and its backups.
        create: Create a random KEK when the file is missing (first start only).

    Returns:
        The 32 KEK bytes.

    Raises:
        KekError: The file is missing and ``create`` is false, or has a bad length.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise KekError(
                f"密钥加密密钥文件不存在：{path}（请恢复该文件，切勿重新生成）"
            )
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
            path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask
        try:
            # O_EXCL: if two workers start at once, only one writes a KEK.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEK_SIZE))
                fh.flush()
                os.fsync(fh.fileno())
    kek = path.read_bytes()
    if len(kek) != KEK_SIZE:
        raise KekError(f"密钥加密密钥文件长度应为{KEK_SIZE}字节，实际为{len(kek)}字节")
    return kek


def _key_password(kek: bytes, key_id: str) -> bytes:
    if len(kek) != KEK_SIZE:
        raise KekError(f"密钥加密密钥长度应为{KEK_SIZE}字节")
    # Hex so an operator can also open a key with `openssl pkey -passin`.
    digest = hmac.new(kek, b"his-portal key " + key_id.encode(), hashlib.sha256)
    return digest.hexdigest().encode("ascii")


def encrypt_private_key(key: rsa.RSAPrivateKey, *, kek: bytes, key_id: str) -> bytes:
    """Serialise a private key as AES-256 encrypted PKCS#8 PEM.

    Args:
        key: The private key.
        kek: The 32-byte key-encryption key.
        key_id: A stable id stored next to the PEM; it is mixed into the password.

    Returns:
        PEM bytes (``-----BEGIN ENCRYPTED PRIVATE KEY-----``).
    """
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_key_password(kek, key_id)),
    )


def decrypt_private_key(pem: bytes, *, kek: bytes, key_id: str) -> rsa.RSAPrivateKey:
    """Open a key made by :func:`encrypt_private_key`.

    Raises:
        KekError: Wrong KEK or key id, a corrupted PEM, or an unencrypted key.
    """
    try:
        key = serialization.load_pem_private_key(pem, _key_password(kek, key_id))
    except TypeError:
        raise KekError("私钥未加密存储，拒绝使用") from None
    except ValueError:
        raise KekError("密钥加密密钥不正确或私钥已损坏，无法解密私钥") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KekError("私钥类型不受支持（应为RSA）")
    return key
