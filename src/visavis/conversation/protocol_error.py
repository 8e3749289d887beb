"""The error a client message that cannot be accepted raises, with what the client is told."""

from __future__ import annotations


class ProtocolError(Exception):
    """A client message the server cannot accept: ``code`` and ``message`` go to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
