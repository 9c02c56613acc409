"""Encrypted and compressed profiles: OpenSSL ``enc -aes-256-cbc`` files, gzip.

An encrypted profile is what ``openssl enc -e -aes-256-cbc -k SECRET`` writes: ``Salted__``,
an 8-byte salt, then AES-256-CBC ciphertext with PKCS#7 padding. Key and IV (32 + 16 bytes) come
from the pass phrase and salt by one of three derivations, all accepted:

- ``md5``: ``EVP_BytesToKey`` with MD5, one iteration (OpenSSL < 1.1.0, Cisco SPA tooling);
- ``sha256``: ``EVP_BytesToKey`` with SHA-256 (OpenSSL >= 1.1.0 default, ``-md sha256``);
- ``pbkdf2``: PBKDF2-HMAC-SHA256, 10000 iterations unless told (``-pbkdf2 [-iter N]``).

The file does not say which was used, so without ``--kdf`` each is tried (PBKDF2 first); a
candidate is accepted when the PKCS#7 padding is valid *and* the plaintext looks like a profile
(gzip magic, or UTF-8 text). A wrong key fails both with overwhelming probability, and is
reported as "cannot decrypt" without saying anything about the key.

Compression: plaintext starting with the gzip magic is inflated (the SPA way is gzip first,
then encrypt), with a hard cap on the inflated size against decompression bombs.

The derivations are the standard library's (``hashlib``); only AES-CBC needs ``cryptography``,
which is imported when an encrypted profile is actually decrypted (it costs several MB of
resident memory that a device with plain profiles never needs).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Final

from provisioning.profile_rule import Kdf

MAGIC: Final = b"Salted__"
GZIP_MAGIC: Final = b"\x1f\x8b"
DEFAULT_PBKDF2_ITERATIONS: Final = 10_000
MAX_PROFILE_BYTES: Final = 4 << 20


class ProfileDecodeError(ValueError):
    """The profile could not be decrypted or inflated (message is safe to log)."""


def is_encrypted(data: bytes) -> bool:
    return data.startswith(MAGIC)


def bytes_to_key(password: bytes, salt: bytes, digest: str, length: int = 48) -> bytes:
    """OpenSSL ``EVP_BytesToKey`` with one iteration: D_i = H(D_{i-1} || pass || salt)."""
    out = b""
    block = b""
    while len(out) < length:
        block = hashlib.new(digest, block + password + salt, usedforsecurity=False).digest()
        out += block
    return out[:length]


def derive_key_iv(password: bytes, salt: bytes, kdf: Kdf, iterations: int | None = None) -> bytes:
    if kdf == "pbkdf2":
        rounds = iterations or DEFAULT_PBKDF2_ITERATIONS
        return hashlib.pbkdf2_hmac("sha256", password, salt, rounds, dklen=48)
    return bytes_to_key(password, salt, kdf)


def _decrypt_with(ciphertext: bytes, key_iv: bytes) -> bytes | None:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key_iv[:32]), modes.CBC(key_iv[32:48])).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def _plausible(plaintext: bytes) -> bool:
    if plaintext.startswith(GZIP_MAGIC):
        return True
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text.lstrip("\ufeff")[:4096])


def decrypt_profile(
    data: bytes, password: str, *, kdf: Kdf | None = None, iterations: int | None = None
) -> tuple[bytes, Kdf]:
    """Decrypt an OpenSSL ``Salted__`` file; return (plaintext, the derivation that worked)."""
    if not is_encrypted(data):
        raise ProfileDecodeError(
            "profile is not encrypted (no 'Salted__' header) but a key was given"
        )
    if len(data) < 32 or (len(data) - 16) % 16:
        raise ProfileDecodeError("encrypted profile is truncated")
    salt, ciphertext = data[8:16], data[16:]
    candidates: tuple[Kdf, ...] = (kdf,) if kdf else ("pbkdf2", "sha256", "md5")
    secret = password.encode("utf-8")
    for name in candidates:
        plaintext = _decrypt_with(ciphertext, derive_key_iv(secret, salt, name, iterations))
        if plaintext is not None and _plausible(plaintext):
            return plaintext, name
    raise ProfileDecodeError("cannot decrypt profile: wrong key or corrupted file")


def gunzip_capped(data: bytes, limit: int = MAX_PROFILE_BYTES) -> bytes:
    """Inflate gzip data, refusing more than ``limit`` bytes of output or a truncated stream."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ProfileDecodeError(f"corrupt gzip data: {exc}") from None
    if len(out) > limit:
        raise ProfileDecodeError(f"profile inflates to more than {limit} bytes")
    if not inflater.eof:
        raise ProfileDecodeError("gzip data is truncated")
    return out


def decode_profile_bytes(
    data: bytes, *, key: str | None, kdf: Kdf | None = None, iterations: int | None = None
) -> bytes:
    """Decrypt (when a key is given) and inflate (when gzip) a downloaded profile."""
    if key is not None:
        data, _ = decrypt_profile(data, key, kdf=kdf, iterations=iterations)
    elif is_encrypted(data):
        raise ProfileDecodeError("profile is encrypted but the profile rule has no --key")
    if data.startswith(GZIP_MAGIC):
        data = gunzip_capped(data)
    return data
