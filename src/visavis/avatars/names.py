"""Provider names: the ones this version offers, and the old names that still mean one of them.

HeyGen's streaming avatars moved to LiveAvatar: ``heygen`` in a tenant's preferences or a
request is read as ``liveavatar``, so nothing stored under the old name breaks. Records are
always written under the canonical name (the sweeper matches provider sessions by it).
"""

from __future__ import annotations

LOCAL = "local"
REMOTE = ("liveavatar", "akool", "simli", "tavus")
ALIASES = {"heygen": "liveavatar"}


def canonical(name: str) -> str:
    """The provider a (possibly old) name means."""
    return ALIASES.get(name, name)
