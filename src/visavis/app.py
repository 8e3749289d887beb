"""The FastAPI app factory and its lifespan: engine, registries, background jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from visavis import __version__
from visavis.api import db_outage, problems, ws
from visavis.api.limits import RequestLimitsMiddleware
from visavis.api.routes import admin, conversations, flags, health, local, plans, tenant, usage, web
from visavis.api.routes import avatars as avatar_routes
from visavis.api.routes import console as console_routes
from visavis.api.routes import events as events_route
from visavis.api.routes import lipsync as lipsync_routes
from visavis.api.routes import metrics as metrics_route
from visavis.api.routes import mind as mind_routes
from visavis.api.routes import twins as twin_routes
from visavis.api.routes import voices as voice_routes
from visavis.api.routes import webhooks as webhooks_route
from visavis.api.routes.audio import router as audio_router
from visavis.avatars.catalogue import AvatarCatalogueCache
from visavis.avatars.launcher import AvatarLauncher
from visavis.avatars.store import AvatarStore
from visavis.components import (
    build_agents,
    build_avatars,
    build_cloning,
    build_mind,
    build_stt,
    build_tts,
    register_twin,
    speech_schedulers,
)
from visavis.config import Settings
from visavis.context import AppContext
from visavis.conversation.live import LiveConversations, new_instance_id
from visavis.conversation.notices import OwnerNotices
from visavis.conversation.voice_input import turn_model
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import install_tenant_scoping
from visavis.errors import ConflictError, VisavisError
from visavis.ops.events import EventRecorder
from visavis.ops.metrics import Metrics
from visavis.ops.metrics_server import MetricsServer
from visavis.ops.sweeper import Sweeper
from visavis.ops.webhook_delivery import DeliveryOptions, WebhookDispatcher
from visavis.speech.stt.base import STTEngine
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.measured import MeasuredTTS
from visavis.speech.turn_model import TurnModelUnavailableError
from visavis.tenancy.auth_backoff import BackoffPolicy, build_auth_backoff
from visavis.tenancy.breaker import RedisBreaker
from visavis.tenancy.crypto import SecretBox
from visavis.tenancy.flags import FlagCache
from visavis.tenancy.log_redaction import install_log_redaction, secrets_of
from visavis.tenancy.ratelimit import build_rate_limiter
from visavis.voices.jobs import CloningJobs
from visavis.voices.speaking import ProfileVoices

logger = logging.getLogger(__name__)


async def _warm_up(tts: TTSEngine, stt: STTEngine | None, settings: Settings) -> None:
    """Load the voice and speak once in the background, so no conversation pays for it; then
    the live recognizer (``stt_warm_up``) and the audio turn model, if asked for."""
    try:
        async for _ in tts.synthesize("Hello there, and welcome."):
            pass
    except VisavisError:  # reported again, to the conversation, at its first synthesis
        logger.exception("could not warm up the voice")
    if stt is not None and settings.stt_warm_up:
        try:
            await stt.load()
        except VisavisError:  # reported again, to the conversation, at its first decode
            logger.exception("could not load the speech recognizer")
    model = turn_model(settings, end_silence_ms=settings.stt_end_silence_ms)
    if model is not None:
        try:
            await asyncio.to_thread(model.load)
        except TurnModelUnavailableError as exc:  # each conversation then goes without it
            logger.warning("could not load the turn model: %s", exc)


async def ensure_local_tenant(ctx: AppContext) -> None:
    """In development, an empty database gets the ``local`` tenant the built-in page uses."""
    if ctx.settings.env != "development":
        return
    async with ctx.sessions() as session:
        repo = TenantRepository(session)
        if await repo.count() > 0:
            return
        try:
            await repo.create(name=local.LOCAL_TENANT)
            await session.commit()
            logger.info("created the 'local' tenant for the built-in page")
        except ConflictError:
            pass  # another instance created it first


def delivery_options(settings: Settings) -> DeliveryOptions:
    """How this instance delivers webhooks, from ``VISAVIS_WEBHOOK_*``."""
    return DeliveryOptions(
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        retry_base_s=settings.webhook_retry_base_s,
        retry_max_s=settings.webhook_retry_max_s,
        disable_after_failures=settings.webhook_disable_after_failures,
        disable_after_s=settings.webhook_disable_after_s,
        poll_interval_s=settings.webhook_poll_interval_s,
        concurrency=settings.webhook_concurrency,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Visavis application; ``settings`` default to the environment."""
    settings = settings or Settings()
    install_log_redaction(secrets_of(settings))
    # One registry per app, never the client library's global one.
    metrics = Metrics(version=__version__, database=settings.database_url.split(":", 1)[0])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = create_session_factory(engine)
        install_tenant_scoping(sessions)
        # One breaker for every user of the instance's Redis: a hung Redis costs one timeout.
        redis_breaker = RedisBreaker(
            name="Redis", timeout_s=settings.redis_timeout_s, cooldown_s=settings.redis_cooldown_s
        )
        tts: TTSEngine = MeasuredTTS(build_tts(settings), metrics)
        providers = build_avatars(settings, tts, metrics)
        box = SecretBox.from_config(
            encryption_keys=(
                settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
            ),
            secret_key=settings.secret_key.get_secret_value(),
        )
        store = AvatarStore(sessions, providers, box, metrics)
        agents = build_agents(settings)
        mind = build_mind(settings)
        register_twin(agents, settings=settings, mind=mind, sessions=sessions, box=box)
        events = EventRecorder(sessions, metrics)
        webhooks = WebhookDispatcher(
            sessions=sessions,
            box=store.box,
            options=delivery_options(settings),
            events=events,
            metrics=metrics,
        )
        cloning_backends = build_cloning(settings)
        synthesis, decodes = speech_schedulers(settings, remote_voices=bool(cloning_backends))
        ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=sessions,
            agents=agents,
            tts=tts,
            synthesis=synthesis,
            providers=providers,
            launcher=AvatarLauncher(
                settings=settings, store=store, providers=providers, metrics=metrics
            ),
            sweeper=Sweeper(
                sessions=sessions,
                store=store,
                providers=providers,
                client_timeout_s=settings.client_heartbeat_timeout_s,
                stop_unknown=settings.sweep_unknown_sessions,
                metrics=metrics,
            ),
            flags=FlagCache.for_database(settings.database_url, ttl_s=settings.flags_cache_ttl_s),
            rate_limiter=build_rate_limiter(
                settings.redis_url,
                timeout_s=settings.redis_timeout_s,
                cooldown_s=settings.redis_cooldown_s,
                breaker=redis_breaker,
            ),
            auth_backoff=build_auth_backoff(
                BackoffPolicy(
                    max_failures=settings.auth_failures_per_window,
                    window_s=settings.auth_failure_window_s,
                ),
                redis_url=settings.redis_url,
                timeout_s=settings.redis_timeout_s,
                cooldown_s=settings.redis_cooldown_s,
                breaker=redis_breaker,
            ),
            mind=mind,
            secret_box=box,
            cloning=CloningJobs(
                sessions,
                cloning_backends,
                switch_role=settings.database_rls,
                stale_s=settings.cloning_job_stale_s,
            ),
            metrics=metrics,
            events=events,
        )
        instance_id = new_instance_id()
        notices = (
            OwnerNotices(
                settings.redis_url,
                channel=settings.redis_notice_channel,
                instance_id=instance_id,
                breaker=redis_breaker,
                timeout_s=settings.redis_timeout_s,
            )
            if settings.redis_url
            else None
        )
        ctx.live = LiveConversations(
            sessions,
            instance_id=instance_id,
            check_s=settings.lease_check_s,
            notices=notices,
            metrics=metrics,
        )
        ctx.catalogue = AvatarCatalogueCache(providers, ttl_s=settings.avatar_catalogue_ttl_s)
        ctx.stt, ctx.stt_files = build_stt(settings, scheduler=decodes, observer=metrics)
        if ctx.cloning is not None and ctx.cloning.backends:
            ctx.twin_voices = ProfileVoices(
                sessions,
                ctx.cloning.backends,
                switch_role=settings.database_rls,
                cache_max_bytes=settings.tts_cache_max_bytes,
                cache_ttl_s=settings.tts_cache_ttl_s,
            )
        app.state.ctx = ctx
        metrics.watch_conversations(lambda: len(ctx.live))
        metrics_server = (
            MetricsServer(metrics, host=settings.metrics_host, port=settings.metrics_port)
            if settings.metrics_port is not None
            else None
        )
        warm_up = asyncio.create_task(_warm_up(ctx.tts, ctx.stt, settings), name="voice-warm-up")
        try:
            if metrics_server is not None:
                metrics_server.start()
            await ensure_local_tenant(ctx)
            ctx.live.start()
            if settings.webhook_delivery:
                webhooks.start()
            if ctx.sweeper is not None and settings.sweeper_interval_s > 0:
                ctx.sweeper.start(settings.sweeper_interval_s)
            yield
        finally:
            if metrics_server is not None:
                metrics_server.close()
            await webhooks.aclose()
            if ctx.sweeper is not None:
                await ctx.sweeper.aclose()
            await ctx.live.aclose()
            if ctx.launcher is not None:
                await ctx.launcher.aclose()
            for provider in providers.values():
                await provider.aclose()
            await warm_up
            await ctx.tts.aclose()
            if ctx.stt_files is not None and ctx.stt_files is not ctx.stt:
                await ctx.stt_files.aclose()
            if ctx.stt is not None:
                await ctx.stt.aclose()
            if ctx.rate_limiter is not None:
                await ctx.rate_limiter.aclose()
            if ctx.auth_backoff is not None:
                await ctx.auth_backoff.aclose()
            if ctx.flags is not None:
                await ctx.flags.aclose()
            if ctx.cloning is not None:
                await ctx.cloning.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Visavis",
        version=__version__,
        summary="Real-time conversational AI avatars: agent, voice, avatar, tenants, quotas.",
        lifespan=lifespan,
    )
    problems.install(app)
    db_outage.install(app)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_bytes=settings.max_request_bytes,
        max_depth=settings.max_json_depth,
        max_headers=settings.max_headers,
        max_header_bytes=settings.max_header_bytes,
        upload_limits={
            lipsync_routes.LIPSYNC_PATH: settings.lipsync_max_upload_bytes,
            "/v1/audio/transcriptions": settings.stt_max_upload_bytes,
            "/v1/voices/[^/]+/samples": settings.stt_max_upload_bytes,
        },
    )
    for router in (health.router, conversations.router, tenant.router, local.router, ws.router):
        app.include_router(router)
    for router in (usage.router, flags.router, admin.router, plans.router, web.router):
        app.include_router(router)
    app.include_router(avatar_routes.router)
    app.include_router(console_routes.router)
    app.include_router(lipsync_routes.router)
    for router in (twin_routes.router, mind_routes.router, voice_routes.router):
        app.include_router(router)
    app.include_router(audio_router)
    app.include_router(metrics_route.router)
    for router in (events_route.router, webhooks_route.router, webhooks_route.admin_router):
        app.include_router(router)
    return app
