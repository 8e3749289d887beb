"""API keys: generated once, stored as a SHA-256 hash with a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "vv_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly generated key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    """The stored form of a key (keys are 256 random bits, so a plain hash suffices)."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def generate_key() -> NewApiKey:
    """A new random API key."""
    plaintext = KEY_SCHEME + secrets.token_urlsafe(32)
    return NewApiKey(
        plaintext=plaintext, prefix=key_prefix(plaintext), key_hash=hash_key(plaintext)
    )


def key_prefix(plaintext: str) -> str:
    """The public part of a key that identifies it in listings and revocations."""
    return plaintext[:PREFIX_LENGTH]


def looks_like_key(plaintext: str) -> bool:
    """Cheap shape check before any database work."""
    return plaintext.startswith(KEY_SCHEME) and 20 <= len(plaintext) <= 200


def key_matches(plaintext: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(plaintext), stored_hash)
