"""Typed errors of the avatar providers' HTTP layer.

Every failure of a provider call surfaces as one of these, never as a raw ``httpx``
error. ``retryable`` tells the retry policy what it may try again; ``reason`` is the
short word the avatar records and events use (connection_failed, timeout, ...).
"""

from __future__ import annotations

from typing import ClassVar

from visavis.errors import VisavisError


class ProviderError(VisavisError):
    """A provider answered with an error, or could not be reached.

    ``provider`` names the vendor ("heygen", "akool"), ``status`` is the HTTP status
    when there was an answer, ``provider_code`` the vendor's own error code if it gave one.
    """

    code = "provider_error"
    reason: ClassVar[str] = "provider_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        provider_code: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.provider_code = provider_code

    def __str__(self) -> str:
        details = [self.provider]
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.provider_code is not None:
            details.append(f"code {self.provider_code}")
        return f"{self.message} ({', '.join(details)})"


class ProviderAuthError(ProviderError):
    """Missing, invalid or expired credentials, or a banned account; never retried."""

    code = "provider_auth"


class ProviderQuotaError(ProviderError):
    """Out of credits or over the account's quota; never retried."""

    code = "provider_quota"
    reason: ClassVar[str] = "quota_exceeded"


class ProviderConcurrencyLimit(ProviderError):
    """The account already holds as many sessions as it may; not retried."""

    code = "provider_concurrency_limit"
    reason: ClassVar[str] = "quota_exceeded"


class ProviderRateLimited(ProviderError):
    """HTTP 429; ``retry_after_s`` is the provider's Retry-After, when it sent one."""

    code = "provider_rate_limited"
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = 429,
        provider_code: int | str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, provider_code=provider_code)
        self.retry_after_s = retry_after_s


class ProviderUnavailable(ProviderError):
    """A 5xx answer or a connection failure: worth another try."""

    code = "provider_unavailable"
    reason: ClassVar[str] = "connection_failed"
    retryable: ClassVar[bool] = True


class ProviderTimeout(ProviderUnavailable):
    """The provider did not answer within the call's timeout (or the overall deadline)."""

    code = "provider_timeout"
    reason: ClassVar[str] = "timeout"


class ProviderInvalidRequest(ProviderError):
    """The provider refused the request's parameters (missing or invalid); a bug or bad config."""

    code = "provider_invalid_request"


class ProviderNotFound(ProviderError):
    """Unknown avatar or session at the provider."""

    code = "provider_not_found"


class ProviderSessionStateError(ProviderError):
    """The session cannot do this now: not started yet, already closed, or expired."""

    code = "provider_session_state"


class ProviderSessionFailed(ProviderError):
    """The provider reports that the session failed to come up (Akool status 4)."""

    code = "provider_session_failed"


class ProviderProtocolError(ProviderError):
    """A success status whose body is not what the contract promises."""

    code = "provider_protocol_error"


class DataStreamMessageTooLarge(VisavisError):
    """A data-stream message would exceed the transport's byte limit once encoded."""

    code = "datastream_message_too_large"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class ProviderRefused(ProviderError):
    """The account may not do this (needs verification, no permission); never retried."""

    code = "provider_refused"


class ProviderBusy(ProviderConcurrencyLimit):
    """The avatar is busy with another session (Akool 1215); not retried."""

    code = "provider_busy"


class ProviderNotReady(ProviderUnavailable):
    """The provider is still preparing what was asked for (Akool 1214); worth another try."""

    code = "provider_not_ready"
