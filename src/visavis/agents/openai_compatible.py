"""An agent backed by any OpenAI-compatible chat-completions server, streaming.

OpenAI, Ollama, vLLM, the llama.cpp server and LM Studio all speak this API; the official
``openai`` SDK talks to them. SDK errors become ``visavis.agents.errors`` types, the
first token and every later chunk have their own deadlines, and the key is never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from visavis.agents.base import Agent, Message
from visavis.agents.errors import (
    AgentAuthError,
    AgentBadResponse,
    AgentError,
    AgentRateLimited,
    AgentTimeout,
    AgentUnavailable,
)


@dataclass(frozen=True, kw_only=True)
class OpenAICompatibleOptions:
    """Where the server is, which model, and how long to wait for it."""

    base_url: str
    model: str
    #: Empty for local servers that take no key (no ``Authorization`` header is sent).
    api_key: str = field(default="", repr=False)
    system_prompt: str | None = None
    #: Budget of one HTTP exchange (connect, each read) inside the SDK.
    timeout_s: float = 30.0
    #: From sending the request to the first token of the reply.
    first_token_timeout_s: float = 10.0
    #: Longest silence between two chunks once the reply has started.
    stall_timeout_s: float = 10.0
    #: Retries of a failed request (connection error, 5xx, short 429) before the first token.
    max_retries: int = 1
    retry_backoff_s: float = 0.25
    #: A 429 asking to wait longer than this is reported at once instead of waited out.
    max_retry_after_s: float = 2.0
    temperature: float | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not urlsplit(self.base_url).scheme.startswith("http"):
            raise ValueError("base_url must be an http(s) URL, e.g. http://127.0.0.1:11434/v1")
        if not self.model.strip():
            raise ValueError("model must name the model to use")
        for name in ("timeout_s", "first_token_timeout_s", "stall_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.max_retries <= 5:
            raise ValueError("max_retries must be between 0 and 5")
        if self.retry_backoff_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("retry_backoff_s and max_retry_after_s must not be negative")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValueError("temperature must be between 0 and 2")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")


class OpenAICompatibleAgent(Agent):
    """Streams replies from an OpenAI-compatible server."""

    name = "openai"

    def __init__(self, options: OpenAICompatibleOptions) -> None:
        self.options = options
        self._client: AsyncOpenAI | None = None
        self._where = _public_url(options.base_url)

    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply; raises ``AgentError`` subclasses (see ``visavis.agents.errors``)."""
        chunks, first = await self._open(self._request_messages(messages))
        try:
            yield first
            while True:
                try:
                    async with asyncio.timeout(self.options.stall_timeout_s):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise AgentTimeout(
                        f"the agent server at {self._where} stopped sending the reply for "
                        f"{self.options.stall_timeout_s:g} s; the model may be overloaded"
                    ) from None
                except (openai.OpenAIError, ValueError) as exc:
                    raise self._translate(exc) from exc
                text = self._content(chunk)
                if text:
                    yield text
        finally:
            await chunks.close()

    async def aclose(self) -> None:
        """Close the HTTP client; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # --- internals --------------------------------------------------------------------
    def _request_messages(self, messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
        prompt = self.options.system_prompt
        request: list[dict[str, str]] = [{"role": "system", "content": prompt}] if prompt else []
        # An assistant reply interrupted before anything was spoken carries no content.
        request.extend(
            {"role": m.role, "content": m.content}
            for m in messages
            if m.role != "assistant" or m.content.strip()
        )
        return request  # type: ignore[return-value]  # dicts of the SDK's TypedDict shape

    def _http(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = AsyncOpenAI(
                # The SDK refuses an empty key; the Authorization header is omitted instead.
                api_key=self.options.api_key or "unused",
                base_url=self.options.base_url,
                timeout=self.options.timeout_s,
                max_retries=0,  # retried here, only before the first token
            )
        return self._client

    async def _open(
        self, request: list[ChatCompletionMessageParam]
    ) -> tuple[AsyncStream[ChatCompletionChunk], str]:
        """Send the request and wait for the first token, retrying what may pass."""
        attempt = 0
        while True:
            try:
                return await self._open_once(request)
            except (AgentUnavailable, AgentRateLimited) as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_delay(self, exc: AgentError, attempt: int) -> float | None:
        if attempt >= self.options.max_retries:
            return None
        if isinstance(exc, AgentRateLimited):
            wait = exc.retry_after_s
            if wait is None:
                return self.options.retry_backoff_s * 2.0**attempt
            return wait if wait <= self.options.max_retry_after_s else None
        return self.options.retry_backoff_s * 2.0**attempt

    async def _open_once(
        self, request: list[ChatCompletionMessageParam]
    ) -> tuple[AsyncStream[ChatCompletionChunk], str]:
        options = self.options
        extra: dict[str, Any] = {}
        if options.temperature is not None:
            extra["temperature"] = options.temperature
        if options.max_tokens is not None:
            extra["max_tokens"] = options.max_tokens
        if not options.api_key:
            extra["extra_headers"] = {"Authorization": openai.omit}
        chunks: AsyncStream[ChatCompletionChunk] | None = None
        finish_reason: str | None = None
        try:
            async with asyncio.timeout(options.first_token_timeout_s):
                chunks = await self._http().chat.completions.create(
                    model=options.model, messages=request, stream=True, **extra
                )
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    text = self._content(chunk)
                    if text:
                        return chunks, text
                    finish_reason = _finish_reason(chunk) or finish_reason
        except TimeoutError:
            await _close(chunks)
            raise AgentTimeout(
                f"the agent server at {self._where} sent no reply within "
                f"{options.first_token_timeout_s:g} s; check that model {options.model!r} "
                "is loaded, or raise the first-token timeout"
            ) from None
        except (openai.OpenAIError, ValueError) as exc:
            await _close(chunks)
            raise self._translate(exc) from exc
        except BaseException:
            await _close(chunks)
            raise
        raise AgentBadResponse(
            f"the agent server at {self._where} returned an empty reply "
            f"(finish reason: {finish_reason or 'none'}); check the model and its limits"
        )

    def _content(self, chunk: object) -> str:
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise AgentBadResponse(
                f"the agent server at {self._where} sent a chunk without choices; "
                "is it really an OpenAI-compatible chat-completions endpoint?"
            )
        if not choices:
            return ""  # e.g. the usage chunk at the end
        content = getattr(getattr(choices[0], "delta", None), "content", None)
        if content is None:
            return ""
        if not isinstance(content, str):
            raise AgentBadResponse(
                f"the agent server at {self._where} sent reply content that is not text"
            )
        return content

    def _translate(self, exc: Exception) -> AgentError:
        """The typed error, with a message a person can act on, for an SDK failure."""
        where, opts = self._where, self.options
        if isinstance(exc, openai.APITimeoutError):
            return AgentTimeout(
                f"the agent server at {where} did not answer within {opts.timeout_s:g} s"
            )
        if isinstance(exc, openai.APIConnectionError):
            return AgentUnavailable(
                f"cannot reach the agent server at {where}: is it running, and is the base URL "
                "right (it usually ends in /v1)?"
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return AgentAuthError(
                f"the agent server at {where} refused the API key (HTTP {exc.status_code}); "
                "check the key configured for this agent (VISAVIS_OPENAI_API_KEY)"
            )
        if isinstance(exc, openai.RateLimitError):
            retry_after = _retry_after_s(exc.response.headers)
            hint = f"retry in {retry_after:g} s" if retry_after is not None else "retry later"
            return AgentRateLimited(
                f"the agent server at {where} is rate limiting requests (HTTP 429); {hint} "
                "or raise the account's limits",
                retry_after_s=retry_after,
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status >= 500:
                return AgentUnavailable(
                    f"the agent server at {where} failed (HTTP {status}); try again later"
                )
            if status == 404:
                return AgentBadResponse(
                    f"the agent server at {where} does not know model {opts.model!r} or the path "
                    "(HTTP 404); check the model name and that the base URL ends in /v1"
                )
            return AgentBadResponse(
                f"the agent server at {where} rejected the request (HTTP {status}): "
                f"{_short(exc.message)}"
            )
        if isinstance(exc, openai.APIError):
            return AgentBadResponse(
                f"the agent server at {where} reported an error mid-reply: {_short(exc.message)}"
            )
        if isinstance(exc, ValueError):
            return AgentBadResponse(
                f"the agent server at {where} sent a chunk that could not be parsed"
            )
        return AgentBadResponse(f"the agent server at {where} failed: {_short(str(exc))}")


def _finish_reason(chunk: object) -> str | None:
    choices = getattr(chunk, "choices", None)
    if isinstance(choices, list) and choices:
        reason = getattr(choices[0], "finish_reason", None)
        return reason if isinstance(reason, str) else None
    return None


def _retry_after_s(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _public_url(url: str) -> str:
    """The URL without user info, query or fragment: safe in messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _close(chunks: AsyncStream[ChatCompletionChunk] | None) -> None:
    if chunks is not None:
        await chunks.close()
