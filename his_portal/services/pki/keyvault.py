"""Private keys at rest: the key-encryption key (KEK) and per-key encryption.

Keys are stored as AES-256 encrypted PKCS#8 PEM. Each key has its own password,
HMAC-SHA256(KEK, "his-portal key " + key id), so a database dump alone opens
nothing and one leaked password opens one key. The KEK is a file outside the
database; losing it loses every key, so it is created once and never regenerated.

Short secrets in database columns (ID numbers) are sealed with AES-256-GCM under a
key derived from the KEK per column purpose (:func:`encrypt_field`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from his_portal.errors import HisError

__all__ = [
    "KEK_SIZE",
    "KekError",
    "PkiError",
    "decrypt_field",
    "decrypt_private_key",
    "encrypt_field",
    "encrypt_private_key",
    "load_or_create_kek",
    "mac_key",
    "open_issuer_key",
]

#: Every HMAC use has its own key derived from the KEK (HKDF ``info`` = purpose).
MAC_PURPOSES = frozenset({"willingness", "audit", "file-ticket"})

KEK_SIZE = 32


class PkiError(HisError):
    """Base error of the PKI services; ``message`` is the Chinese text for the user."""


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
        # OpenSSL's own check of a loaded RSA key tests p and q for primality
        # (≈ 50 ms a key). These keys were made by this app and are opened for
        # every signing batch; _consistent checks every other relation, which is
        # what a corrupted or altered stored key would break.
        key = serialization.load_pem_private_key(
            pem, _key_password(kek, key_id), unsafe_skip_rsa_key_validation=True
        )
    except TypeError:
        raise KekError("私钥未加密存储，拒绝使用") from None
    except ValueError:
        raise KekError("密钥加密密钥不正确或私钥已损坏，无法解密私钥") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KekError("私钥类型不受支持（应为RSA）")
    if not _consistent(key):
        raise KekError("私钥已损坏，无法使用")
    return key


def _consistent(key: rsa.RSAPrivateKey) -> bool:
    """n = p·q, e·d ≡ 1 (mod λ(n)) and the CRT values derive from p, q and d:
    RSA_check_key's relations without its primality tests."""
    numbers = key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    p, q, d = numbers.p, numbers.q, numbers.d
    return (
        1 < p < n
        and 1 < q < n
        and p * q == n
        and e * d % math.lcm(p - 1, q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and numbers.iqmp == pow(q, -1, p)
    )


_issuer_keys_lock = threading.Lock()
# The clinic's own keys (CA, TSA, OCSP signer) are opened once per process and KEK;
# a renewed one has another key id.
_issuer_keys: dict[tuple[bytes, str, bytes], rsa.RSAPrivateKey] = {}


def open_issuer_key(pem: bytes, *, kek: bytes, key_id: str) -> rsa.RSAPrivateKey:
    """:func:`decrypt_private_key` for the clinic's CA, TSA and OCSP keys, kept
    open in this process (doctors' keys are not: a batch keeps its own).

    Raises:
        KekError: As :func:`decrypt_private_key`.
    """
    cache_key = (
        hashlib.sha256(kek).digest(),
        key_id,
        hashlib.sha256(pem).digest(),
    )
    with _issuer_keys_lock:
        key = _issuer_keys.get(cache_key)
    if key is None:
        key = decrypt_private_key(pem, kek=kek, key_id=key_id)
        with _issuer_keys_lock:
            _issuer_keys[cache_key] = key
    return key


def _derive(kek: bytes, info: str) -> bytes:
    """A 32-byte key for one use, derived from the KEK with HKDF-SHA256."""
    if len(kek) != KEK_SIZE:
        raise KekError(f"密钥加密密钥长度应为{KEK_SIZE}字节")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()
    ).derive(kek)


def _field_key(kek: bytes, purpose: str) -> bytes:
    return _derive(kek, "his-portal field " + purpose)


def mac_key(kek: bytes, purpose: str) -> bytes:
    """The HMAC key for one purpose (``MAC_PURPOSES``), derived from the KEK.

    Raises:
        KekError: A malformed KEK.
        ValueError: An unknown purpose (a programming error).
    """
    if purpose not in MAC_PURPOSES:
        raise ValueError(f"unknown MAC purpose {purpose!r}")
    return _derive(kek, "his-portal mac " + purpose)


def encrypt_field(value: str, *, kek: bytes, purpose: str) -> str:
    """AES-256-GCM encrypt a short secret (e.g. an ID number) for a database column.

    Args:
        value: The plaintext.
        kek: The 32-byte key-encryption key.
        purpose: Binds the ciphertext to its column: decrypting it as another
            purpose fails.

    Returns:
        URL-safe base64 of nonce + ciphertext.
    """
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_field_key(kek, purpose)).encrypt(
        nonce, value.encode(), purpose.encode()
    )
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def decrypt_field(token: str, *, kek: bytes, purpose: str) -> str:
    """Open a value made by :func:`encrypt_field`.

    Raises:
        KekError: Wrong KEK or purpose, or a damaged value.
    """
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        plain = AESGCM(_field_key(kek, purpose)).decrypt(
            raw[:12], raw[12:], purpose.encode()
        )
    except (InvalidTag, ValueError):
        raise KekError("密钥加密密钥不正确或数据已损坏，无法解密") from None
    return plain.decode()
