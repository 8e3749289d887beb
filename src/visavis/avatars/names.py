"""The avatar providers this build knows, by name: the one list every layer uses.

HeyGen's streaming avatars moved to LiveAvatar: ``heygen`` in a tenant's preferences or a
request is read as ``liveavatar``, so nothing stored under the old name breaks. Records are
always written under the canonical name (the sweeper matches provider sessions by it).
"""

from __future__ import annotations

from typing import Literal, get_args

from visavis.config import Settings

ProviderName = Literal["local", "liveavatar", "akool", "simli", "tavus", "heygen"]
#: Every provider name a conversation or a tenant preference may use (old names included).
PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)
#: Old names that still mean a provider of today.
ALIASES: dict[str, ProviderName] = {"heygen": "liveavatar"}
#: The providers that run at a vendor (they need an avatar id, credentials, and cost money).
REMOTE_PROVIDERS: tuple[ProviderName, ...] = tuple(p for p in PROVIDERS if p != "local")


def canonical(name: str) -> str:
    """The provider a (possibly old) name means."""
    return ALIASES.get(name, name)


def provider_configured(settings: Settings, provider: str) -> bool:
    """Whether this instance holds credentials for ``provider``."""
    match canonical(provider):
        case "local":
            return True
        case "liveavatar":
            return settings.liveavatar_api_key is not None
        case "simli":
            return settings.simli_api_key is not None
        case "tavus":
            return settings.tavus_api_key is not None and settings.tavus_pal_id is not None
        case "akool":
            return settings.akool_api_key is not None or (
                settings.akool_client_id is not None and settings.akool_client_secret is not None
            )
    return False
