"""The avatar side of one live conversation: which output speaks, fallback, toggling.

The avatar is an enhancement, never a requirement: whatever fails — the start, a sentence, the
browser's media — the conversation carries on with the local voice, and the client is told. A
face that is not ready by the start deadline is not given up: the local voice speaks meanwhile
and the face joins between two sentences once it is up (within the join limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from visavis.avatars.base import audio_driven
from visavis.avatars.launcher import FALLBACK_HEADROOM_S, AvatarLauncher, Launch
from visavis.avatars.link import AvatarLink
from visavis.conversation import protocol
from visavis.conversation.face_output import FaceOutput
from visavis.conversation.fallback_output import FaceSpeech, FallbackOutput
from visavis.conversation.journal import ConversationJournal
from visavis.conversation.local_output import LocalVoiceOutput
from visavis.conversation.media_quality import QualityEvents
from visavis.conversation.provider_output import Handover, ProviderOutput
from visavis.conversation.speech_output import SpeechOutput
from visavis.db.models import Conversation
from visavis.speech.voice import LocalVoice
from visavis.tasks import TaskSet
from visavis.tenancy.admission import readmit_avatar
from visavis.tenancy.flags import FlagCache

logger = logging.getLogger(__name__)


class ConversationAvatar:
    """Owns the conversation's avatar: its link to the provider and the output that speaks."""

    def __init__(
        self,
        *,
        conversation: Conversation,
        launcher: AvatarLauncher | None,
        flags: FlagCache | None,
        local: LocalVoiceOutput,
        journal: ConversationJournal,
        wanted: bool,
        quality: str | None = None,
    ) -> None:
        self.conversation = conversation
        self.launcher = launcher
        self.flags = flags
        self.local = local
        self.journal = journal
        self.wanted = wanted
        #: The client's ``hello.quality`` ("auto": the conversation's own), for the sessions
        #: started while it is connected (restart, renewal).
        self.quality = None if quality in (None, "auto") else quality
        self.enabled = conversation.avatar_enabled and wanted
        self.reason = conversation.avatar_reason
        self.detail = conversation.avatar_detail
        self.degraded = False
        self.link: AvatarLink | None = None
        self.fallback: FallbackOutput | None = None
        #: Where the next reply is spoken: the local voice, or the provider with the fallback.
        self.output: SpeechOutput = local
        self._tasks = TaskSet("avatar")
        self._joining: asyncio.Task[None] | None = None
        self.quality_events = QualityEvents(
            self._quality_changed, now=lambda: asyncio.get_running_loop().time()
        )

    @property
    def provider(self) -> str | None:
        return self.conversation.avatar_provider

    @property
    def remote(self) -> bool:
        return self.provider not in (None, "local")

    def state(self) -> dict[str, Any]:
        """The avatar as the client should show it (``ready.avatar`` and ``avatar`` messages)."""
        media = self.link.media if self.enabled and self.remote and self.link else None
        state: dict[str, Any] = {
            "enabled": self.enabled,
            "provider": self.provider,
            "reason": self.reason,
            "detail": self.detail,
            "media": dict(media) if media else None,
        }
        if self.degraded:
            state["fallback"] = "audio"
        if self.enabled and self.remote:
            state["status"] = "ready" if media else "connecting"
        return state

    def announce(self) -> None:
        self.journal.send(protocol.avatar(self.state()))

    async def connect(self, *, timeout_s: float) -> None:
        """At ``hello``: take over the session launched at creation, or fall back."""
        if self.launcher is None or not self.conversation.avatar_enabled:
            return
        if not self.wanted:
            # This client asked for audio only: nobody would watch the provider's video.
            self._spawn(self._stop_launched(reason="user_disabled"))
            return
        if not self.remote or self.launcher.launched(self.conversation.id):
            launch = await self.launcher.result(self.conversation, timeout_s=timeout_s)
            self._attach(launch)
            if not launch.ok:
                await self.fail(launch.reason or "connection_failed", launch.detail or "")
            return
        # Still starting: the conversation begins at once and the avatar joins when it is up
        # (or the local voice, prepared meanwhile, goes on without it).
        self._attach(Launch(None, None))
        self._speak_through(self._fallback(self._link())).pending()
        self._joining = asyncio.create_task(self._join(timeout_s), name="avatar-join")

    async def _join(self, timeout_s: float) -> None:
        launcher = self._launcher()
        loop = asyncio.get_running_loop()
        join_by = loop.time() + max(timeout_s, launcher.settings.avatar_join_limit_s)
        # Decided a moment before the deadline, so the local voice is speaking by then.
        decide_s = max(0.5, timeout_s - FALLBACK_HEADROOM_S)
        launch = await launcher.result(self.conversation, timeout_s=decide_s)
        late = False
        if launch.pending:
            # Not ready by the deadline: the local voice speaks now; the face may still come.
            late = True
            if self.fallback is not None:
                await self.fallback.use_local()
            self.reason = "timeout"
            self.detail = "the avatar is still starting; it joins when it is ready"
            self.announce()
            await launcher.store.event(self.conversation, "waiting", reason="timeout")
            remaining = max(0.0, join_by - loop.time())
            launch = await launcher.result(self.conversation, timeout_s=remaining)
        if not launch.ok:
            await self.fail(launch.reason or "connection_failed", launch.detail or "")
            return
        if not self.enabled:
            # Switched off while it was starting: nobody will watch it.
            if launch.row_id is not None:
                await launcher.store.stop(launch.row_id, reason="user_disabled", settle=False)
            return
        self._link().adopt(launch)
        self.reason = self.detail = None
        if self.fallback is not None:
            await (self.fallback.join() if late else self.fallback.use_provider())
        self.announce()
        if late:
            await launcher.store.event(self.conversation, "joined", row_id=launch.row_id)

    def _link(self) -> AvatarLink:
        if self.link is None:
            raise RuntimeError("the avatar has no link yet")
        return self.link

    def _attach(self, launch: Launch) -> None:
        self.link = AvatarLink(
            launcher=self._launcher(),
            conversation=self.conversation,
            sink=self._relay,
            on_failure=self.fail,
            on_renewed=self._renewed,
            quality=self.quality,
        )
        if not launch.ok:
            return
        self.link.adopt(launch)
        if self.remote:
            self._speak_through(self._fallback(self.link))

    def _speak_through(self, fallback: FallbackOutput) -> FallbackOutput:
        self.fallback = self.output = fallback
        return fallback

    def _fallback(self, link: AvatarLink) -> FallbackOutput:
        provider: FaceSpeech
        face = audio_driven(link.provider)
        if face is not None:
            # Our voice drives the face: synthesized once, at the rate the face wants.
            spoken = self.local.voice
            voice = LocalVoice(
                spoken.engine,
                sample_rate=face.audio_sample_rate,
                scheduler=spoken.scheduler,
                rate=spoken.rate,
                pitch=spoken.pitch,
            )
            provider = FaceOutput(
                link,
                voice,
                self.journal.outbox,
                clock=self.local.clock,
                ids=self.local.ids,
                on_failed=_unattached,
            )
        else:
            provider = ProviderOutput(
                link,
                self.journal.outbox,
                clock=self.local.clock,
                ids=self.local.ids,
                on_failed=_unattached,
            )
        fallback = FallbackOutput(provider, self.local)
        fallback.on_failure = self.fail
        return fallback

    def _launcher(self) -> AvatarLauncher:
        if self.launcher is None:
            raise RuntimeError("this instance has no avatar launcher")
        return self.launcher

    async def _relay(self, data: str) -> None:
        """Hand a data-channel message to the browser, which relays it unchanged."""
        self.journal.send(protocol.provider_message(provider=self.provider, data=data))

    def _renewed(self, media: Mapping[str, Any] | None) -> None:
        self.announce()

    async def fail(self, reason: str, detail: str) -> None:
        """The avatar failed: audio-only from now on, said to the client, recorded, stopped."""
        if self.degraded:
            return
        self.degraded = True
        self.enabled = False
        self.reason = reason
        self.detail = f"{detail}; the conversation goes on audio-only" if detail else None
        if self.fallback is not None:
            await self.fallback.use_local()
        await self.journal.set_degraded(True, reason=reason)
        self.announce()
        provider = self.provider or "local"
        metrics = self.launcher.metrics if self.launcher is not None else None
        if metrics is not None:
            metrics.avatar_fallback(provider=provider, reason=reason)
        self.journal.analytics(
            "avatar_fallback",
            {"provider": provider, "reason": reason, "at_ms": self.journal.clock.ms()},
        )
        link = self.link
        if link is not None and self.launcher is not None:
            await self.launcher.store.event(
                self.conversation, "fallback", reason=reason, row_id=link.row_id
            )
            self._spawn(link.stop(reason=reason, settle=False))

    def provider_event(self, data: str) -> None:
        """A packet the browser relayed from the provider's room (``provider_event``): the
        provider's own timing of the sentences it speaks (LiveAvatar FULL)."""
        link = self.link
        if link is None or not self.enabled or not self.remote:
            return
        event = link.relayed(data)
        output = self.fallback.provider if self.fallback is not None else None
        if event is not None and isinstance(output, ProviderOutput):
            output.face_event(event)

    def media_quality(self, quality: str, reason: str) -> None:
        """The browser's word on the provider media's quality (``avatar_quality``)."""
        if self.enabled and self.remote:
            self.quality_events.report(quality, reason, provider=self.provider or "local")

    def _quality_changed(self, event: dict[str, Any]) -> None:
        self.journal.analytics("avatar_quality_changed", event | {"at_ms": self.journal.clock.ms()})

    async def client_media(self, status: str, reason: str | None) -> None:
        """The browser's word on the provider's media (``connected`` or ``failed``)."""
        if status == "failed" and self.enabled and self.remote:
            await self.fail("connection_failed", f"the browser could not show the video ({reason})")

    async def toggle(self, enabled: bool) -> str | None:
        """Switch the avatar off or back on; returns an error message, or None."""
        if enabled == self.enabled:
            self.announce()
            return None
        if not enabled:
            self.enabled = False
            self.reason = "user_disabled"
            self.detail = "the avatar was switched off"
            if self.fallback is not None:
                await self.fallback.use_local()
            if self.link is not None and self.remote:
                self._spawn(self.link.stop(reason="user_disabled", settle=False))
            if self.launcher is not None:
                await self.launcher.store.event(
                    self.conversation, "avatar_off", reason="user_disabled"
                )
            self.announce()
            return None
        if not self.conversation.avatar_requested:
            return "this conversation was created without an avatar"
        if not self.remote:
            self.enabled, self.reason, self.detail = True, None, None
            self.announce()
            return None
        self._spawn(self._restart())
        return None

    async def _restart(self) -> None:
        """Start a fresh provider session (re-admitted if its quota was given back)."""
        launcher = self._launcher()
        refusal = await self._readmit(launcher)
        if refusal is not None:
            self.reason, self.detail = refusal
            self.announce()
            return
        launch = await launcher.start(self.conversation, quality=self.quality)
        if not launch.ok:
            self.reason, self.detail = launch.reason, launch.detail
            self.announce()
            return
        if self.link is not None:
            await self.link.aclose()
        self._attach(launch)
        self.enabled, self.reason, self.detail = True, None, None
        if self.degraded:
            self.degraded = False
            await self.journal.set_degraded(False, reason="avatar_restored")
        self.announce()

    async def _readmit(self, launcher: AvatarLauncher) -> tuple[str | None, str | None] | None:
        async with launcher.store.sessions() as db:
            admission = await readmit_avatar(
                db, settings=launcher.settings, conversation=self.conversation, flags=self.flags
            )
            await db.commit()
        return None if admission.enabled else (admission.reason, admission.detail)

    async def _stop_launched(self, *, reason: str) -> None:
        launcher = self._launcher()
        launch = await launcher.result(
            self.conversation, timeout_s=launcher.settings.avatar_join_limit_s
        )
        if launch.row_id is not None:
            await launcher.store.stop(launch.row_id, reason=reason, settle=False)

    async def end(self) -> None:
        """The conversation ended: stop the provider session and settle its quota."""
        await self._stop_joining()
        if self.launcher is not None:
            # A face still starting will never be seen: stop starting it.
            await self.launcher.abandon(self.conversation.id)
        await self._drain()
        if self.link is not None:
            await self.link.stop(reason="conversation_ended", settle=True)
        elif self.launcher is not None:
            await self.launcher.conversation_ended(self.conversation.id)

    async def aclose(self) -> None:
        """The client left (it may come back): stop keeping the session alive; idempotent."""
        self.quality_events.close()
        await self._stop_joining()
        await self._drain()
        if self.fallback is not None:
            await self.fallback.aclose()
        await self.local.aclose()
        if self.link is not None:
            await self.link.aclose()

    async def _stop_joining(self) -> None:
        joining, self._joining = self._joining, None
        if joining is not None and not joining.done():
            joining.cancel()
        if joining is not None:
            await asyncio.wait({joining})
            if not joining.cancelled() and (error := joining.exception()) is not None:
                logger.error("joining the avatar failed", exc_info=error)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks.spawn(coro)

    async def _drain(self) -> None:
        await self._tasks.wait(timeout_s=10)


async def _unattached(handover: Handover) -> None:
    raise RuntimeError("a provider output speaks only inside a fallback")
