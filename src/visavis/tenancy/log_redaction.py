"""No key, token or secret reaches a log line.

Every log record is redacted when it is created (a log-record factory, installed by the app
factory and the CLI), so whichever handler later formats it — ours, uvicorn's access log,
pytest's capture — sees ``[REDACTED]`` instead of: API keys, client tokens, bearer tokens,
Fernet tokens, ``key=value`` pairs whose name says secret, and the literal values of the
configured secrets.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import SecretStr

from visavis.config import Settings

REDACTED = "[REDACTED]"
_MIN_LITERAL = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Our API keys and client tokens.
    (re.compile(r"vv_[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"\bv1\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"), REDACTED),
    # Fernet tokens (secrets at rest) and JSON web tokens (provider session tokens).
    (re.compile(r"gAAAAA[A-Za-z0-9_\-=]{20,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),
    # "Authorization: Bearer <x>", "x-api-key: <x>".
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!%)[A-Za-z0-9._~+/=\-]{6,}"), rf"\1 {REDACTED}"),
    # api_key=..., "token": "...", secret: ..., password=..., x-api-key: ... (a %-placeholder
    # is left alone: its argument is redacted on its own, or with the formatted message).
    (
        re.compile(
            r"(?i)([\"']?\b(?:[a-z0-9_\-]*(?:api[_\-]?key|secret|password|passwd|token"
            r"|authorization|credential)s?)[\"']?\s*[:=]\s*)([\"']?)"
            # not a placeholder, not a plain number (max_tokens=5 is no secret)
            r"(?!%|\d+(?:\.\d+)?(?:[\s\"',;&}]|$))[^\s\"',;&}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
)


class SecretRedactor:
    """Replaces secrets in text: known literal values first, then the patterns."""

    def __init__(self) -> None:
        self._literals: set[str] = set()
        self._lock = threading.Lock()

    def add_secrets(self, values: Iterable[str | None]) -> None:
        """Also redact these exact values (too short ones are ignored: they'd redact words)."""
        with self._lock:
            self._literals |= {v for v in values if v and len(v) >= _MIN_LITERAL}

    def redact(self, text: str) -> str:
        for literal in sorted(self._literals, key=len, reverse=True):
            if literal in text:
                text = text.replace(literal, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """``value`` itself when it shows no secret; else its redacted text."""
        if isinstance(value, int | float | bool) or value is None:
            return value
        text = value if isinstance(value, str) else str(value)
        redacted = self.redact(text)
        return value if redacted == text else redacted

    def redact_record(self, record: logging.LogRecord) -> None:
        """Redact a record in place: message, arguments, exception and stack text.

        Arguments are redacted one by one (uvicorn's access log needs them as a tuple); when
        a secret only shows once message and arguments are put together, the record is
        replaced by its redacted, formatted text.
        """
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        else:
            record.msg = self.redact_value(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: self.redact_value(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self.redact_value(v) for v in record.args)
        if record.args:
            try:
                formatted = record.getMessage()
            except (TypeError, ValueError, KeyError):
                formatted = None  # a broken format string: logging itself will report it
            if formatted is not None:
                redacted = self.redact(formatted)
                if redacted != formatted:
                    record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret setting's value (each key of a comma-separated list too)."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            values += [text, *(part.strip() for part in text.split(",") if "," in text)]
    return values


_install_lock = threading.Lock()
_redactor: SecretRedactor | None = None


def install_log_redaction(secrets: Iterable[str | None] = ()) -> SecretRedactor:
    """Redact every log record of this process from now on (idempotent; adds ``secrets``)."""
    global _redactor
    with _install_lock:
        if _redactor is None:
            redactor = SecretRedactor()
            previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                redactor.redact_record(record)
                return record

            logging.setLogRecordFactory(factory)
            _redactor = redactor
        _redactor.add_secrets(secrets)
        return _redactor
