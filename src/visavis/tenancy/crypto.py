"""Secrets at rest (provider tokens, credentials): Fernet (AES-128-CBC + HMAC-SHA256), rotatable.

Keys come from ``VISAVIS_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first): the
newest encrypts, every one decrypts, and ``rotate`` re-encrypts a value under the newest. When
unset, one key is derived from ``VISAVIS_SECRET_KEY`` (HKDF-SHA256); that derived key always
stays a decryption fallback, so setting real keys later and running ``visavis secrets rotate``
moves old values over without losing any.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from visavis.errors import ConfigurationError, VisavisError

_DERIVATION_INFO = b"visavis secrets at rest v1"


class SecretDecryptionError(VisavisError):
    """A stored secret cannot be decrypted with any configured key (wrong keys, or tampering)."""

    code = "secret_undecryptable"


def derive_key(secret_key: str) -> str:
    """A Fernet key derived from the instance's secret key."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def generate_key() -> str:
    """A new random Fernet key, for ``VISAVIS_ENCRYPTION_KEYS``."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    """The keys of a comma-separated list, newest first; ``ConfigurationError`` if one is bad."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                f"VISAVIS_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); make one with 'visavis secrets generate-key'"
            ) from exc
    return keys


class SecretBox:
    """Encrypts with the newest key; decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError("at least one encryption key is needed")
        unique = list(dict.fromkeys(keys))
        self._fernet = MultiFernet([Fernet(key) for key in unique])
        self._primary = Fernet(unique[0])

    @classmethod
    def from_config(cls, *, encryption_keys: str | None, secret_key: str) -> SecretBox:
        """The keys of ``VISAVIS_ENCRYPTION_KEYS``, then the key derived from the secret key."""
        configured = parse_keys(encryption_keys) if encryption_keys else []
        return cls([*configured, derive_key(secret_key)])

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` encrypted under the newest key (a url-safe ASCII token)."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token made by ``encrypt`` with any configured key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted with the configured VISAVIS_ENCRYPTION_KEYS"
            ) from exc

    def rotate(self, token: str) -> str:
        """The same plaintext, encrypted under the newest key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted with the configured VISAVIS_ENCRYPTION_KEYS"
            ) from exc

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already encrypted under the newest key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True
