"""No key, token or secret in a log line, whichever way it gets there."""

from __future__ import annotations

import logging
import uuid

import pytest
from pydantic import SecretStr

from tests.conftest import TEST_SECRET
from visavis.config import Settings
from visavis.tenancy import client_tokens
from visavis.tenancy.crypto import SecretBox, generate_key
from visavis.tenancy.keys import generate_key as generate_api_key
from visavis.tenancy.log_redaction import (
    REDACTED,
    SecretRedactor,
    install_log_redaction,
    secrets_of,
)

API_KEY = generate_api_key().plaintext
CLIENT_TOKEN, _ = client_tokens.mint(
    secret=TEST_SECRET,
    conversation_id=uuid.uuid4(),
    tenant_id=uuid.uuid4(),
    key_id=uuid.uuid4(),
    ttl_s=60,
)
FERNET_TOKEN = SecretBox([generate_key()]).encrypt("livekit-room-token")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"auth with {API_KEY} failed", "auth with"),
        (f'GET /v1/ws?token={CLIENT_TOKEN} HTTP/1.1" 101', "GET /v1/ws?token="),
        (f"browser token {CLIENT_TOKEN}", "browser token"),
        (f"stored {FERNET_TOKEN}", "stored"),
        ("headers: {'Authorization': 'Bearer sk-live-abcdef123456'}", "headers"),
        ("x-api-key: ak_live_0123456789", "x-api-key"),
        ('{"client_secret": "s3cr3t-value", "n": 1}', '"n": 1'),
        ("password=hunter2hunter2&user=bob", "user=bob"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", "here"),
    ],
    # Names of their own: the lines hold secrets made at random on import.
    ids=[
        "api-key",
        "socket-token",
        "browser-token",
        "fernet",
        "bearer",
        "x-api-key",
        "client-secret",
        "password",
        "jwt",
    ],
)
def test_patterns_redact_secrets_and_keep_the_rest(line: str, kept: str) -> None:
    redacted = SecretRedactor().redact(line)
    assert REDACTED in redacted
    assert kept in redacted
    for secret in (API_KEY, CLIENT_TOKEN, FERNET_TOKEN, "sk-live", "ak_live", "s3cr3t", "hunter2"):
        assert secret not in redacted


def test_ordinary_lines_and_numbers_are_left_alone() -> None:
    redactor = SecretRedactor()
    for line in (
        "usage: input_tokens=52 max_tokens: 256",
        "conversation 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b ended (ended_by_api)",
        "token bucket refused tenant:abc",
    ):
        assert redactor.redact(line) == line


def test_configured_secrets_are_redacted_literally() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        secret_key=TEST_SECRET,
        liveavatar_api_key=SecretStr("hg-plain-looking-value-42"),
        encryption_keys=SecretStr(f"{generate_key()},{generate_key()}"),
    )
    values = secrets_of(settings)
    assert "hg-plain-looking-value-42" in values
    redactor = SecretRedactor()
    redactor.add_secrets(values)
    first_key = settings.encryption_keys.get_secret_value().split(",")[0]  # type: ignore[union-attr]
    line = f"calling heygen with hg-plain-looking-value-42 and {first_key} ({TEST_SECRET})"
    assert redactor.redact(line) == f"calling heygen with {REDACTED} and {REDACTED} ({REDACTED})"


def test_installed_redaction_covers_arguments_exceptions_and_access_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction(["an-extra-secret-value"])
    logger = logging.getLogger("visavis.test.redaction")
    # A server started earlier in the run may have set uvicorn's own logger levels.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info("key %s for %s", API_KEY, "acme")
        logger.warning("token=%s", "opaque-provider-token-123")  # secret only in the pair
        try:
            raise RuntimeError(f"provider refused Bearer {API_KEY}")
        except RuntimeError:
            logger.exception("call failed with an-extra-secret-value")
        # uvicorn's access log formats its arguments as a tuple: they must stay a tuple.
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/v1/ws?token={CLIENT_TOKEN}",
            "1.1",
            101,
        )
    text = caplog.text
    for secret in (API_KEY, CLIENT_TOKEN, "opaque-provider-token-123", "an-extra-secret-value"):
        assert secret not in text
    access = caplog.records[-1]
    assert isinstance(access.args, tuple) and len(access.args) == 5
    assert "key [REDACTED] for acme" in text
    assert "RuntimeError: provider refused Bearer [REDACTED]" in text
