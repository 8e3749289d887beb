"""HTTP plumbing shared by the provider clients.

One request with a timeout; transport failures become typed errors; JSON bodies are
decoded defensively; Retry-After is parsed in both of its forms.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderConcurrencyLimit,
    ProviderError,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

JSONDict = dict[str, Any]

# Substrings of a provider's message that tell what kind of refusal it is, for the
# codes the contracts do not list. Lower-case.
QUOTA_WORDS = ("quota", "credit", "insufficient", "balance", "payment", "billing")
CONCURRENCY_WORDS = ("concurren",)
NOT_FOUND_WORDS = ("not found", "not exist", "does not exist", "no such")


class ProviderCallObserver(Protocol):
    """Told of every provider API call: the path called, its status, how long it took."""

    def provider_call(
        self, *, provider: str, endpoint: str, status: str, seconds: float
    ) -> None: ...


def mentions(message: str, words: tuple[str, ...]) -> bool:
    """True if the lower-cased message contains any of ``words``."""
    lowered = message.lower()
    return any(word in lowered for word in words)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def decode_json(response: httpx.Response) -> JSONDict | None:
    """The body as a JSON object, or None if it is empty, not JSON, or not an object."""
    if not response.content:
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    params: Mapping[str, str | int] | None = None,
    observer: ProviderCallObserver | None = None,
    endpoint: str | None = None,
) -> httpx.Response:
    """Send one request; timeouts and connection failures become typed errors.

    ``observer`` hears of the call under ``endpoint`` (a fixed path, never one with ids).
    """
    started = time.perf_counter()
    status = "cancelled"
    try:
        response = await client.request(
            method,
            url,
            headers=dict(headers) if headers else None,
            json=dict(json_body) if json_body is not None else None,
            params=dict(params) if params else None,
            timeout=httpx.Timeout(timeout_s),
        )
        status = str(response.status_code)
        return response
    except httpx.TimeoutException as exc:
        status = "timeout"
        raise ProviderTimeout(
            f"{method} {url} got no answer within {timeout_s:g} s", provider=provider
        ) from exc
    except httpx.TransportError as exc:
        status = "unreachable"
        raise ProviderUnavailable(
            f"{method} {url} failed: {type(exc).__name__}: {exc}", provider=provider
        ) from exc
    finally:
        if observer is not None:
            observer.provider_call(
                provider=provider,
                endpoint=endpoint or "other",
                status=status,
                seconds=time.perf_counter() - started,
            )


def generic_http_error(
    response: httpx.Response, *, provider: str, message: str, provider_code: int | str | None
) -> ProviderError | None:
    """The error that an HTTP status alone implies (429, 5xx), or None."""
    status = response.status_code
    if status == 429:
        return ProviderRateLimited(
            message or "rate limited",
            provider=provider,
            status=status,
            provider_code=provider_code,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )
    if status >= 500:
        return ProviderUnavailable(
            message or f"server error {status}",
            provider=provider,
            status=status,
            provider_code=provider_code,
        )
    return None


def common_refusal(
    response: httpx.Response,
    *,
    provider: str,
    message: str,
    provider_code: int | None,
    auth_codes: frozenset[int],
) -> ProviderError | None:
    """The refusals every provider signals alike, in order: rate limit and server errors (by
    status), bad credentials, exhausted credit, too many sessions; None for the rest."""
    generic = generic_http_error(
        response, provider=provider, message=message, provider_code=provider_code
    )
    if generic is not None:
        return generic
    status = response.status_code
    kwargs: dict[str, Any] = {"provider": provider, "status": status}
    kwargs["provider_code"] = provider_code
    if provider_code in auth_codes or status in (401, 403):
        return ProviderAuthError(message, **kwargs)
    if status == 402 or mentions(message, QUOTA_WORDS):
        return ProviderQuotaError(message, **kwargs)
    if mentions(message, CONCURRENCY_WORDS):
        return ProviderConcurrencyLimit(message, **kwargs)
    return None


def require_str(data: Mapping[str, Any], key: str, *, provider: str, what: str) -> str:
    """``data[key]`` as a non-empty string, or a protocol error naming what was expected."""
    value = data.get(key)
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ProviderProtocolError(f"{what}: the answer has no {key!r}", provider=provider)


def optional_str(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]`` as a string if it is a string or a number, else None."""
    value = data.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def optional_float(data: Mapping[str, Any], key: str) -> float | None:
    """``data[key]`` as a float if it is a number (or a numeric string), else None."""
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def optional_int(data: Mapping[str, Any], key: str) -> int | None:
    """``data[key]`` as an int if it is a whole number, else None."""
    number = optional_float(data, key)
    return int(number) if number is not None and number.is_integer() else None


_ID_SEGMENT = re.compile(r"^(?=.*\d)[\w-]{8,}$")


def path_template(path: str) -> str:
    """``path`` with its id segments replaced by ``{id}``: a label that names no session."""
    query = path.split("?", 1)[0]
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in query.split("/"))
