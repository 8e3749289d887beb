"""Shared HTTP plumbing: Retry-After in both forms, and the wording checks of refusals."""

from __future__ import annotations

import email.utils

from visavis.avatars.errors import ProviderRateLimited, ProviderTimeout
from visavis.avatars.transport import QUOTA_WORDS, mentions, parse_retry_after


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-2") == 0.0


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_missing_or_garbled_retry_after_is_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None


def test_refusal_wording() -> None:
    assert mentions("Insufficient Credits", QUOTA_WORDS)
    assert not mentions("avatar not found", QUOTA_WORDS)


def test_errors_say_who_failed_and_how() -> None:
    limited = ProviderRateLimited("slow down", provider="akool", retry_after_s=2.0)
    assert str(limited) == "slow down (akool, HTTP 429)"
    assert limited.retryable and limited.code == "provider_rate_limited"
    timeout = ProviderTimeout("no answer", provider="heygen")
    assert str(timeout) == "no answer (heygen)"
    assert (timeout.retryable, timeout.reason) == (True, "timeout")
