"""Short-lived signed tokens that let a browser join exactly one conversation.

Browsers never see an API key: a tenant's backend mints one of these per conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

from visavis.errors import VisavisError

_VERSION = "v1"


class InvalidClientToken(VisavisError):
    """The token is malformed, forged, expired, or for another conversation."""

    code = "invalid_client_token"


@dataclass(frozen=True, slots=True)
class ClientTokenClaims:
    """What a valid token grants."""

    conversation_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), f"{_VERSION}.{payload}".encode("ascii"), hashlib.sha256
    ).digest()
    return _b64(digest)


def mint(
    *,
    secret: str,
    conversation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    ttl_s: int,
    now: float | None = None,
) -> tuple[str, int]:
    """A token for one conversation, and its expiry as a Unix time."""
    expires_at = int((time.time() if now is None else now) + ttl_s)
    claims = {"c": str(conversation_id), "t": str(tenant_id), "e": expires_at}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return f"{_VERSION}.{payload}.{_signature(secret, payload)}", expires_at


def verify(token: str, *, secret: str, now: float | None = None) -> ClientTokenClaims:
    """The claims of a genuine, unexpired token; raises ``InvalidClientToken`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise InvalidClientToken("client token is malformed")
    _, payload, signature = parts
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidClientToken("client token signature is invalid")
    try:
        claims = json.loads(_unb64(payload))
        result = ClientTokenClaims(
            conversation_id=uuid.UUID(claims["c"]),
            tenant_id=uuid.UUID(claims["t"]),
            expires_at=int(claims["e"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidClientToken("client token is malformed") from exc
    if result.expires_at < (time.time() if now is None else now):
        raise InvalidClientToken("client token has expired: ask the application for a new one")
    return result
