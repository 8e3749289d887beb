"""Prometheus metrics of one instance: one registry per app, typed methods to record with.

Built in the app factory (never the client library's global registry) and held on the app
context. Label values are short names from code (providers, reasons, outcomes), never ids:
anything else is folded into ``other`` so a bug cannot explode the number of series.
Names follow Prometheus conventions: ``visavis_`` prefix, seconds, ``_total`` counters.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Content type of a scrape (text exposition format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Turn latencies: tens of milliseconds to several seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
#: Provider HTTP calls and avatar starts: up to the provider timeout.
CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

_LABEL = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9_.:/\-]{0,63}$")
# A UUID, or a long run of digits or hex: an id that slipped into a label.
_ID_LIKE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}|[0-9]{6,}|[0-9a-f]{16,}")


def label(value: str | int | None) -> str:
    """A label value safe to export: a short name or path from code, else ``other``."""
    text = "none" if value is None else str(value)
    if not _LABEL.match(text) or _ID_LIKE.search(text):
        return "other"
    return text


class Metrics:
    """Every metric of the instance, and one method per thing that happens."""

    def __init__(self, *, version: str, database: str = "unknown") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Info("visavis_build", "Version of this instance", registry=r).info(
            {
                "version": version,
                "python": platform.python_version(),
                "database": label(database.split("+", 1)[0]),
            }
        )
        # --- conversations and turns -------------------------------------------------
        self.conversations_active = Gauge(
            "visavis_conversations_active", "Live conversations on this instance", registry=r
        )
        self.conversations_started = Counter(
            "visavis_conversations_started_total",
            "Conversations that went live, by agent",
            ["agent"],
            registry=r,
        )
        self.conversations_ended = Counter(
            "visavis_conversations_ended_total",
            "Conversations that ended, by reason",
            ["reason"],
            registry=r,
        )
        self.owner_changes_heard = Counter(
            "visavis_owner_changes_heard_total",
            "Live conversations closed here because of a change made on another instance "
            "(kind: end, takeover), by how it was heard (path: pubsub notice, poll)",
            ["kind", "path"],
            registry=r,
        )
        self.turn_first_text = Histogram(
            "visavis_turn_first_text_seconds",
            "From the person's turn to the agent's first text",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turn_first_audio = Histogram(
            "visavis_turn_first_audio_seconds",
            "From the person's turn to the first audio of the reply",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.voice_turn = Histogram(
            "visavis_voice_turn_seconds",
            "From the end of the person's speech to the first audio of the reply",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audio_underruns = Counter(
            "visavis_audio_underruns_total",
            "Times a client ran out of audio while the agent was speaking",
            registry=r,
        )
        # --- voice ---------------------------------------------------------------------
        self.tts_audio = Counter(
            "visavis_tts_audio_seconds_total", "Audio synthesized", ["engine"], registry=r
        )
        self.tts_compute = Counter(
            "visavis_tts_compute_seconds_total",
            "Time spent synthesizing it",
            ["engine"],
            registry=r,
        )
        self.stt_audio = Counter(
            "visavis_stt_audio_seconds_total", "Speech recognized", ["engine"], registry=r
        )
        self.stt_compute = Counter(
            "visavis_stt_compute_seconds_total",
            "Time spent recognizing it",
            ["engine"],
            registry=r,
        )
        # --- avatars and providers -----------------------------------------------------
        self.avatar_starts = Counter(
            "visavis_avatar_starts_total",
            "Avatar session starts, by provider and outcome (started, failed, timeout, refused)",
            ["provider", "outcome"],
            registry=r,
        )
        self.avatar_start_time = Histogram(
            "visavis_avatar_start_seconds",
            "Time until an avatar was streaming",
            ["provider"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.avatar_fallbacks = Counter(
            "visavis_avatar_fallbacks_total",
            "Conversations that went on without their avatar, by provider and reason",
            ["provider", "reason"],
            registry=r,
        )
        self.avatar_renewals = Counter(
            "visavis_avatar_renewals_total",
            "Provider sessions renewed before their maximum length, by outcome",
            ["provider", "outcome"],
            registry=r,
        )
        self.avatar_cost = Counter(
            "visavis_avatar_cost_microusd_total",
            "Cost of avatar sessions in micro-USD, by provider",
            ["provider"],
            registry=r,
        )
        self.provider_requests = Counter(
            "visavis_provider_requests_total",
            "Provider API calls, by endpoint and HTTP status (timeout, unreachable)",
            ["provider", "endpoint", "status"],
            registry=r,
        )
        self.provider_request_time = Histogram(
            "visavis_provider_request_duration_seconds",
            "Duration of provider API calls",
            ["provider", "endpoint"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.sweeper_stops = Counter(
            "visavis_sweeper_stops_total",
            "Orphaned provider sessions the sweeper stopped, by provider and reason",
            ["provider", "reason"],
            registry=r,
        )
        # --- tenancy -------------------------------------------------------------------
        self.quota_refusals = Counter(
            "visavis_quota_refusals_total",
            "Refusals by a tenant's limits, by kind (monthly limits, rate limits)",
            ["kind"],
            registry=r,
        )
        # --- connections ---------------------------------------------------------------
        self.websockets_active = Gauge(
            "visavis_websocket_connections_active", "Open conversation WebSockets", registry=r
        )
        self.websockets_opened = Counter(
            "visavis_websocket_connections_total", "Conversation WebSockets accepted", registry=r
        )
        self.websocket_disconnects = Counter(
            "visavis_websocket_disconnects_total",
            "Conversation WebSockets closed, by close code",
            ["code"],
            registry=r,
        )
        # --- analytics events and webhooks ---------------------------------------------
        self.events_recorded = Counter(
            "visavis_events_recorded_total",
            "Analytics events stored, by type",
            ["type"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "visavis_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome (delivered, failed, gave_up)",
            ["outcome"],
            registry=r,
        )
        self.webhook_delay = Histogram(
            "visavis_webhook_delivery_delay_seconds",
            "From an event to its first delivery attempt",
            buckets=CALL_BUCKETS,
            registry=r,
        )

    # --- recording: conversations -------------------------------------------------------
    def watch_conversations(self, count: Callable[[], int]) -> None:
        """Read the active conversation gauge from ``count`` at every scrape."""
        self.conversations_active.set_function(lambda: float(count()))

    def conversation_started(self, *, agent: str) -> None:
        self.conversations_started.labels(label(agent)).inc()

    def conversation_ended(self, *, reason: str) -> None:
        self.conversations_ended.labels(label(reason)).inc()

    def owner_change_heard(self, *, kind: str, path: str) -> None:
        """A conversation held here was ended or taken over elsewhere; ``path`` says whether a
        Redis notice or the lease poll brought the news."""
        self.owner_changes_heard.labels(label(kind), label(path)).inc()

    def turn_first_text_after(self, seconds: float, *, agent: str) -> None:
        """The agent's first text of a turn came ``seconds`` after the turn began."""
        self.turn_first_text.labels(label(agent)).observe(max(0.0, seconds))

    def turn_first_audio_after(self, seconds: float, *, agent: str) -> None:
        """The reply's first audio was sent ``seconds`` after the turn began."""
        self.turn_first_audio.labels(label(agent)).observe(max(0.0, seconds))

    def voice_turn_after(self, seconds: float, *, agent: str) -> None:
        """The reply's first audio came ``seconds`` after the person stopped speaking."""
        self.voice_turn.labels(label(agent)).observe(max(0.0, seconds))

    def audio_underrun(self, count: int = 1) -> None:
        self.audio_underruns.inc(count)

    # --- recording: voice ---------------------------------------------------------------
    def synthesized(self, *, engine: str, audio_s: float, compute_s: float) -> None:
        """``audio_s`` seconds of speech took ``compute_s`` seconds to synthesize."""
        self.tts_audio.labels(label(engine)).inc(max(0.0, audio_s))
        self.tts_compute.labels(label(engine)).inc(max(0.0, compute_s))

    def recognized(self, *, engine: str, audio_s: float, compute_s: float) -> None:
        """``audio_s`` seconds of speech took ``compute_s`` seconds to recognize."""
        self.stt_audio.labels(label(engine)).inc(max(0.0, audio_s))
        self.stt_compute.labels(label(engine)).inc(max(0.0, compute_s))

    # --- recording: avatars and providers -----------------------------------------------
    def avatar_start(self, *, provider: str, outcome: str, seconds: float | None = None) -> None:
        """An avatar start ended in ``outcome``; ``seconds`` until streaming when it started."""
        self.avatar_starts.labels(label(provider), label(outcome)).inc()
        if seconds is not None:
            self.avatar_start_time.labels(label(provider)).observe(max(0.0, seconds))

    def avatar_fallback(self, *, provider: str, reason: str) -> None:
        self.avatar_fallbacks.labels(label(provider), label(reason)).inc()

    def avatar_renewal(self, *, provider: str, outcome: str) -> None:
        self.avatar_renewals.labels(label(provider), label(outcome)).inc()

    def avatar_cost_incurred(self, *, provider: str, microusd: int) -> None:
        if microusd > 0:
            self.avatar_cost.labels(label(provider)).inc(microusd)

    def provider_call(self, *, provider: str, endpoint: str, status: str, seconds: float) -> None:
        """One provider API call answered with ``status`` (or ``timeout``/``unreachable``)."""
        self.provider_requests.labels(label(provider), label(endpoint), label(status)).inc()
        self.provider_request_time.labels(label(provider), label(endpoint)).observe(
            max(0.0, seconds)
        )

    def sweeper_stop(self, *, provider: str, reason: str) -> None:
        self.sweeper_stops.labels(label(provider), label(reason)).inc()

    # --- recording: tenancy, connections, events ----------------------------------------
    def quota_refused(self, *, kind: str) -> None:
        self.quota_refusals.labels(label(kind)).inc()

    def websocket_opened(self) -> None:
        self.websockets_opened.inc()
        self.websockets_active.inc()

    def websocket_closed(self, *, code: int) -> None:
        """A WebSocket counted by ``websocket_opened`` closed with ``code``."""
        self.websockets_active.dec()
        self.websocket_disconnects.labels(label(code)).inc()

    def event_recorded(self, *, type: str) -> None:  # noqa: A002 - the event's field name
        self.events_recorded.labels(label(type)).inc()

    def webhook_attempt(self, *, outcome: str, delay_s: float | None = None) -> None:
        """One delivery attempt; ``delay_s`` from the event when it was the first."""
        self.webhook_deliveries.labels(label(outcome)).inc()
        if delay_s is not None:
            self.webhook_delay.observe(max(0.0, delay_s))

    # --- exposition ---------------------------------------------------------------------
    def scrape(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)
