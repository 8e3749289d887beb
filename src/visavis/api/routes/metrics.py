"""``/metrics``: the Prometheus scrape, behind the admin key (or on a port of its own)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response

from visavis.api.deps import ContextDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.admin import require_admin
from visavis.ops.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


def _served_here(ctx: ContextDep) -> None:
    if ctx.settings.metrics_port is not None:
        raise HTTPProblem(
            404,
            f"metrics are served on port {ctx.settings.metrics_port} (VISAVIS_METRICS_PORT)",
        )


@router.get(
    "/metrics",
    dependencies=[Depends(_served_here), Depends(require_admin)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(ctx: ContextDep) -> Response:
    """Every metric of this instance, for Prometheus (``Authorization: Bearer <admin key>``)."""
    # Rendered off the event loop: a scrape must not hold up the audio of live conversations.
    body = await asyncio.to_thread(ctx.metrics.scrape)
    return Response(body, media_type=CONTENT_TYPE)
