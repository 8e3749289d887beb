"""Secrets at rest: encrypted, decryptable with any configured key, rotated to the newest."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET, TenantFactory
from visavis.cli import app as cli
from visavis.context import AppContext
from visavis.db.models import AvatarSession, Conversation
from visavis.errors import ConfigurationError
from visavis.tenancy.crypto import SecretBox, SecretDecryptionError, generate_key


async def _cli(*args: str) -> Result:
    """The command line, off the event loop (it runs its own)."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def test_encrypts_with_the_newest_key_and_decrypts_with_any() -> None:
    old, new = generate_key(), generate_key()
    before = SecretBox.from_config(encryption_keys=old, secret_key=TEST_SECRET)
    token = before.encrypt("heygen-session-token")
    assert "heygen-session-token" not in token
    assert before.decrypt(token) == "heygen-session-token"

    after = SecretBox.from_config(encryption_keys=f"{new},{old}", secret_key=TEST_SECRET)
    assert after.decrypt(token) == "heygen-session-token"
    assert not after.is_current(token)
    rotated = after.rotate(token)
    assert after.is_current(rotated)
    assert after.decrypt(rotated) == "heygen-session-token"
    with pytest.raises(SecretDecryptionError):
        SecretBox([old]).decrypt(rotated)  # encrypted under the new key only


def test_the_key_derived_from_the_secret_key_stays_a_fallback() -> None:
    derived_only = SecretBox.from_config(encryption_keys=None, secret_key=TEST_SECRET)
    token = derived_only.encrypt("credential")
    with_real_keys = SecretBox.from_config(encryption_keys=generate_key(), secret_key=TEST_SECRET)
    assert with_real_keys.decrypt(token) == "credential"
    other_secret = SecretBox.from_config(encryption_keys=None, secret_key="x" * 40)
    with pytest.raises(SecretDecryptionError):
        other_secret.decrypt(token)


def test_bad_keys_and_tampered_tokens_are_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="key 2 is not a Fernet key"):
        SecretBox.from_config(encryption_keys=f"{generate_key()},nope", secret_key=TEST_SECRET)
    box = SecretBox([generate_key()])
    token = box.encrypt("secret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SecretDecryptionError):
        box.decrypt(tampered)
    with pytest.raises(SecretDecryptionError):
        box.decrypt("not a token at all é")


async def test_secrets_rotate_reencrypts_every_stored_secret(
    ctx: AppContext,
    make_tenant: TenantFactory,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_id = uuid.UUID((await make_tenant("acme")).tenant_id)
    old, new = generate_key(), generate_key()
    old_box = SecretBox.from_config(encryption_keys=old, secret_key=TEST_SECRET)
    async with ctx.sessions() as session:
        conversation = Conversation(tenant_id=tenant_id, agent="interviewer")
        session.add(conversation)
        await session.flush()
        for n in range(3):
            session.add(
                AvatarSession(
                    tenant_id=tenant_id,
                    conversation_id=conversation.id,
                    provider="heygen",
                    browser_token_encrypted=old_box.encrypt(f"livekit-token-{n}"),
                )
            )
        session.add(
            AvatarSession(tenant_id=tenant_id, conversation_id=conversation.id, provider="local")
        )
        await session.commit()

    monkeypatch.setenv("VISAVIS_DATABASE_URL", database_url)
    monkeypatch.setenv("VISAVIS_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("VISAVIS_ENCRYPTION_KEYS", f"{new},{old}")
    first = await _cli("secrets", "rotate")
    assert first.exit_code == 0, first.output
    assert "re-encrypted 3 secrets; 0 already current" in first.stdout
    second = await _cli("secrets", "rotate")
    assert "re-encrypted 0 secrets; 3 already current" in second.stdout

    new_only = SecretBox([new])
    async with ctx.sessions() as session:
        tokens = (
            await session.execute(
                select(AvatarSession.browser_token_encrypted).where(
                    AvatarSession.browser_token_encrypted.is_not(None)
                )
            )
        ).scalars()
        assert sorted(new_only.decrypt(t) for t in tokens) == [
            "livekit-token-0",
            "livekit-token-1",
            "livekit-token-2",
        ]

    monkeypatch.setenv("VISAVIS_ENCRYPTION_KEYS", "not-a-key")
    refused = await _cli("secrets", "rotate")
    assert refused.exit_code != 0
    assert "not a Fernet key" in refused.stderr
