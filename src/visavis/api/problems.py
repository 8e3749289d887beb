"""Every error as ``application/problem+json`` (RFC 9457) with a message a person can act on."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from visavis.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    VisavisError,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemResponse(JSONResponse):
    """A JSON response with the problem media type."""

    media_type = PROBLEM_JSON


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """Render one problem document."""
    body: dict[str, Any] = {
        "type": f"https://visavis.dev/problems/{code or status}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


class HTTPProblem(VisavisError):
    """An error raised at the HTTP edge with its status (and optional headers/extra fields)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, code=code or f"http_{status}")
        self.status = status
        self.headers = headers
        self.extra = extra


_STATUS_BY_ERROR: tuple[tuple[type[VisavisError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (ConfigurationError, 503),
)


def status_for(error: VisavisError) -> int:
    """The HTTP status of a typed error (domain errors choose their own with ``http_status``)."""
    explicit = getattr(error, "http_status", None)
    if isinstance(explicit, int):
        return explicit
    for error_type, status in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 400


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = str(error.get("msg", "invalid"))
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "the request is invalid"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(HTTPProblem)
    async def _http_problem(_request: Request, exc: HTTPProblem) -> ProblemResponse:
        return problem(exc.status, exc.message, code=exc.code, headers=exc.headers, **exc.extra)

    @app.exception_handler(VisavisError)
    async def _domain(_request: Request, exc: VisavisError) -> ProblemResponse:
        extra = getattr(exc, "problem_extra", None) or {}
        headers = getattr(exc, "problem_headers", None)
        return problem(status_for(exc), exc.message, code=exc.code, headers=headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(422, _validation_detail(errors), code="validation_error", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint: see /docs for the API"
        if exc.status_code == 405:
            detail = "this method is not allowed on this endpoint: see /docs"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> ProblemResponse:
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "an unexpected error occurred; it has been logged", code="internal")
