"""How every command fails: one clear line on stderr and a non-zero exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from visavis.config import Settings
from visavis.errors import VisavisError

T = TypeVar("T")


def fail(message: str, *, exit_code: int = 1) -> NoReturn:
    """Print ``message`` as one line on stderr and exit."""
    typer.echo(f"visavis: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(exit_code)


def fail_invalid(what: str, exc: ValueError) -> NoReturn:
    """Fail with what is wrong in ``what`` (a model that did not validate): the first
    problem, with where it is."""
    if not isinstance(exc, ValidationError):
        fail(f"invalid {what}: {exc}")
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "not valid")).removeprefix("Value error, ")
    fail(f"invalid {what}{f' ({where})' if where else ''}: {message}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, or a one-line explanation of what is wrong."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fail_invalid("settings", exc)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning expected failures into one line."""
    try:
        return asyncio.run(coro)
    except VisavisError as exc:
        fail(exc.message)
    except SQLAlchemyError as exc:
        fail(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    except OSError as exc:
        fail(f"cannot reach the database or a file: {exc.strerror or exc}")
