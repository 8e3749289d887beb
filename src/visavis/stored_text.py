"""Text that both databases can store: no NUL character, no lone UTF-16 surrogate.

PostgreSQL refuses NUL in ``text`` and ``jsonb`` and neither engine can encode a lone
surrogate as UTF-8, so such a string would fail at the first write (a 500 on one engine, a
stored poison value on the other). Every string a request may store is of the type
:data:`StoredText` instead, which refuses them at the edge with a message that says which
character and where.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from visavis.errors import InvalidInputError

_SURROGATES = range(0xD800, 0xE000)


class UnstorableTextError(InvalidInputError):
    """A string holds a character no database column can keep."""

    code = "unstorable_text"


def unstorable_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored (``None`` when it can)."""
    for index, char in enumerate(value):
        point = ord(char)
        if point == 0:
            return f"contains a NUL character (\\u0000) at position {index}: remove it"
        if point in _SURROGATES:
            return (
                f"contains a lone surrogate (\\u{point:04x}) at position {index}: "
                "send valid UTF-8 text"
            )
    return None


def check_storable(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` with the reason (a pydantic validator)."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(f"text {reason}")
    return value


def refuse_unstorable(value: Any, *, where: str = "text") -> None:
    """Raise ``UnstorableTextError`` when any string in ``value`` (deeply, keys too) is bad."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason is not None:
                raise UnstorableTextError(f"{path} {reason}")
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((f"{path}.{key}", key))
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


#: A string any column of either database can hold; add length rules with ``Field``.
StoredText = Annotated[str, AfterValidator(check_storable)]


def storable(value: str) -> str:
    """``value`` made storable for text we must keep rather than refuse (an agent's reply):
    NUL characters dropped, lone surrogates replaced by U+FFFD."""
    if unstorable_reason(value) is None:
        return value
    return "".join("\ufffd" if ord(c) in _SURROGATES else c for c in value.replace("\x00", ""))
