"""The avatar providers this build knows, by name: the one list every layer uses."""

from __future__ import annotations

from typing import Literal, get_args

from visavis.config import Settings

ProviderName = Literal["local", "heygen", "akool"]
#: Every provider name a conversation or a tenant preference may use.
PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)
#: The providers that run at a vendor (they need an avatar id, credentials, and cost money).
REMOTE_PROVIDERS: tuple[ProviderName, ...] = tuple(p for p in PROVIDERS if p != "local")


def provider_configured(settings: Settings, provider: str) -> bool:
    """Whether this instance holds credentials for ``provider``."""
    if provider == "local":
        return True
    if provider == "heygen":
        return settings.heygen_api_key is not None
    if provider == "akool":
        return settings.akool_api_key is not None or (
            settings.akool_client_id is not None and settings.akool_client_secret is not None
        )
    return False
