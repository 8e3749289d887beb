"""The live recognizer is loaded at startup, so the first person who speaks does not wait."""

from __future__ import annotations

import asyncio

from tests.speech.stt.conftest import until_loaded
from visavis.app import create_app
from visavis.config import Settings


async def test_the_live_recognizer_is_loaded_at_startup_when_asked(settings: Settings) -> None:
    configured = Settings(_env_file=None, **(settings.model_dump() | {"stt_warm_up": True}))
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        stt = app.state.ctx.stt
        assert stt is not None and not stt.loaded  # it loads in the background
        await until_loaded(stt)


async def test_without_the_warm_up_the_recognizer_loads_at_its_first_decode(
    settings: Settings,
) -> None:
    assert not settings.stt_warm_up  # the test apps' default: a second of CPU each
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        stt = app.state.ctx.stt
        assert stt is not None
        await asyncio.sleep(0.5)
        assert not stt.loaded
    assert Settings(_env_file=None).stt_warm_up
