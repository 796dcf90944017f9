"""API key format, hashing and display. Pure functions: no I/O.

A key is `ug_` + 32 base62 characters (190 random bits) + a 6-character base62 CRC32 of those 32.
The checksum lets the authorizer refuse mistyped or invented keys without a database read, and
secret scanners can recognise the format. Only the SHA-256 of the whole key is stored: the key has
far more entropy than a password, so a slow hash would add latency to every request and no safety.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

PREFIX = "ug_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 32
_CHECK_LEN = 6
KEY_LENGTH = len(PREFIX) + _BODY_LEN + _CHECK_LEN
_KEY_RE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}\Z")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))
    return PREFIX + body + _checksum(body)


def generate_key_id() -> str:
    """The public handle of a key (for listing and revoking); unrelated to the secret."""
    return "key_" + secrets.token_hex(8)


def is_well_formed(key: str) -> bool:
    if len(key) != KEY_LENGTH or not _KEY_RE.match(key):
        return False
    body, check = key[len(PREFIX) : len(PREFIX) + _BODY_LEN], key[-_CHECK_LEN:]
    return hmac.compare_digest(_checksum(body), check)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hint(key: str) -> str:
    """What may be shown again after creation: the prefix and the last four characters."""
    return f"{PREFIX}...{key[-4:]}"


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when the header is absent or blank."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()
