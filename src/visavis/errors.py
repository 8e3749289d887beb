"""The root of Visavis' typed errors.

Each capability defines its own subclasses next to its code (``speech.errors``,
``agents.errors``, ``avatars.errors``, ...); the HTTP edge maps them to problem+json.
"""

from __future__ import annotations


class VisavisError(Exception):
    """Base of every error Visavis raises on purpose.

    ``code`` is a short, stable, machine-readable name; the message is for a person.
    """

    code: str = "visavis_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(VisavisError):
    """The object does not exist, or belongs to another tenant (never say which)."""

    code = "not_found"


class ConflictError(VisavisError):
    """The request clashes with the current state of the object."""

    code = "conflict"


class InvalidInputError(VisavisError):
    """Input a person can fix: the message says how."""

    code = "invalid_input"


class ConfigurationError(VisavisError):
    """Settings that cannot work (missing key, default secret in production, ...)."""

    code = "configuration_error"
