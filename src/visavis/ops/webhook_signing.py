"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body, replay-safe.

A request carries ``Visavis-Timestamp`` (Unix seconds) and
``Visavis-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A receiver
recomputes the HMAC over the raw body, compares in constant time, refuses a timestamp more than
``tolerance_s`` away from its clock, and drops an ``Visavis-Event-Id`` it has already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Visavis-Signature"
TIMESTAMP_HEADER = "Visavis-Timestamp"
EVENT_ID_HEADER = "Visavis-Event-Id"
ATTEMPT_HEADER = "Visavis-Delivery-Attempt"
DEFAULT_TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """A fresh signing secret, shown to the tenant once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Visavis-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, event_id: str, attempt: int) -> dict[str, str]:
    """Every header of one delivery attempt (signed now)."""
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Visavis-Webhooks/1",
        EVENT_ID_HEADER: event_id,
        ATTEMPT_HEADER: str(attempt),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp_header: str,
    signature_header: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether a received request is authentic and fresh (what receivers should do)."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    offered = [part.strip() for part in signature_header.split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
