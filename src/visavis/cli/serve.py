"""``visavis serve``: apply migrations, then run the HTTP server."""

from __future__ import annotations

import logging
from typing import Any

import typer
import uvicorn

from visavis.cli.db import upgrade_database
from visavis.cli.errors import load_settings, run_async
from visavis.config import Settings

#: WebSocket frames up to this many times the message limit are read (and answered with an error).
WS_FRAME_SLACK = 4


def serve(
    host: str | None = typer.Option(None, help="Interface to listen on (VISAVIS_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (VISAVIS_PORT)."),
) -> None:
    """Apply pending migrations, then serve the API, the WebSocket and the built-in page."""
    from visavis.app import create_app  # the server's imports are heavy: only for serve

    settings = load_settings(host=host, port=port)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_async(upgrade_database(settings.database_url))
    if settings.env == "development" and settings.twin_demo_seed:
        from visavis.cli.twins import seed_demo_for_serve

        demo = run_async(seed_demo_for_serve(settings))
        if demo is not None:
            typer.echo(
                f"Demo twin: http://{settings.host}:{settings.port}/?agent=twin&twin={demo}",
                err=True,
            )
    typer.echo(f"Visavis on http://{settings.host}:{settings.port}/ ({settings.env})", err=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings),
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the HTTP server must run the app: the same in ``serve`` and in the tests."""
    return {
        "ws": "websockets-sansio",
        # h11 bounds a request's head (httptools would buffer any size); the header count is
        # checked by the app (RequestLimitsMiddleware).
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # Frames far over the message limit are refused by the protocol before they are
        # buffered (close 1009); those a little over it get an ``error`` and the socket stays.
        "ws_max_size": settings.ws_max_message_bytes * WS_FRAME_SLACK,
    }
