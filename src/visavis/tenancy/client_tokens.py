"""Short-lived signed tokens that let a browser join exactly one conversation.

Browsers never see an API key: a tenant's backend mints one of these per conversation. A
token names the API key that minted it, and dies with it: :func:`ensure_key_active` refuses a
token whose key has since been revoked (the WebSocket checks it at ``hello``, the page route
when it opens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import ApiKey
from visavis.errors import VisavisError

_VERSION = "v1"
#: The ``k`` claim of a token minted by the development page's loopback door (no API key).
LOCAL_DOOR = "local"


class InvalidClientToken(VisavisError):
    """The token is malformed, forged, expired, or for another conversation."""

    code = "invalid_client_token"


class RevokedClientToken(InvalidClientToken):
    """The API key that minted the token has been revoked (or deleted) since."""

    code = "client_token_revoked"


@dataclass(frozen=True, slots=True)
class ClientTokenClaims:
    """What a valid token grants; ``key_id`` is the minting API key (None: the local door)."""

    conversation_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: int
    key_id: uuid.UUID | None = None


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
    key_id: uuid.UUID | None,
    ttl_s: int,
    now: float | None = None,
) -> tuple[str, int]:
    """A token for one conversation, and its expiry as a Unix time.

    ``key_id``: the API key the token is minted with (it stops working when that key is
    revoked); None only for the development page's loopback door.
    """
    expires_at = int((time.time() if now is None else now) + ttl_s)
    claims = {
        "c": str(conversation_id),
        "t": str(tenant_id),
        "k": LOCAL_DOOR if key_id is None else str(key_id),
        "e": expires_at,
    }
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
        key = claims.get("k")
        if key is None:
            raise InvalidClientToken(
                "client token is from an older version: ask the application for a new one"
            )
        result = ClientTokenClaims(
            conversation_id=uuid.UUID(claims["c"]),
            tenant_id=uuid.UUID(claims["t"]),
            expires_at=int(claims["e"]),
            key_id=None if key == LOCAL_DOOR else uuid.UUID(key),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidClientToken("client token is malformed") from exc
    if result.expires_at < (time.time() if now is None else now):
        raise InvalidClientToken("client token has expired: ask the application for a new one")
    return result


async def ensure_key_active(db: AsyncSession, claims: ClientTokenClaims) -> None:
    """Raise ``RevokedClientToken`` unless the key that minted the token is still active.

    Tokens of the local door (``key_id`` None) have no key; the door mints them only in
    development, from loopback.
    """
    if claims.key_id is None:
        return
    found = await db.scalar(
        select(ApiKey.id).where(
            ApiKey.id == claims.key_id,
            ApiKey.tenant_id == claims.tenant_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    if found is None:
        raise RevokedClientToken(
            "the API key this client token was minted with has been revoked: "
            "ask the application for a new token"
        )
