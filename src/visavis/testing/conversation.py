"""Run a live conversation in process: no server, no socket, no Piper, on virtual time.

``ConversationKit`` builds a ``ConversationSession`` over a throwaway SQLite database with a
scripted agent, a fake voice and (optionally) a fake avatar provider, and plays the client:
it sends protocol messages and records everything the client would receive, stamped with the
conversation clock. ``run_session`` does the whole thing from a list of steps.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.fernet import Fernet
from sqlalchemy import select

from visavis.agents.base import Agent
from visavis.agents.registry import AgentRegistry
from visavis.avatars.base import AvatarProvider
from visavis.avatars.launcher import AvatarLauncher
from visavis.avatars.store import AvatarStore
from visavis.config import Settings
from visavis.conversation import mic_frames, protocol
from visavis.conversation.outbox import Outbox, OutboxClosed
from visavis.conversation.services import LiveServices
from visavis.conversation.session import ConversationSession
from visavis.db.base import Base
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.models import Conversation, ConversationTurn, Tenant, TranscriptEntry
from visavis.db.tenant_scope import install_tenant_scoping
from visavis.speech.stt.base import STTEngine
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.scheduler import SynthesisScheduler
from visavis.speech.vad import SpeechDetector
from visavis.tenancy.crypto import SecretBox
from visavis.testing.tts import FakeTTS
from visavis.testing.virtual_time import run_virtual


@dataclass(frozen=True, slots=True)
class Received:
    """One thing the client received: a message or an audio frame, and when (clock ms)."""

    at_ms: int
    message: dict[str, Any] | None = None
    frame: protocol.AudioFrame | None = None

    @property
    def type(self) -> str:
        return "frame" if self.frame is not None else str((self.message or {}).get("type"))


@dataclass(frozen=True, slots=True)
class Pause:
    """A step of ``run_session``: let ``seconds`` pass."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WaitFor:
    """A step of ``run_session``: wait until the client received such a message."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


Step = dict[str, Any] | Pause | WaitFor


class ConversationKit:
    """One conversation and its client, in process. Use as ``async with`` on a running loop.

    ``database_url``: a migrated database to use (by default a throwaway SQLite file);
    ``conversation``: columns of the conversation's row beyond the kit's own
    (``{"end_silence_ms": 1500}``).
    """

    def __init__(
        self,
        *,
        agent: Agent,
        tts: TTSEngine | None = None,
        avatar: AvatarProvider | None = None,
        sample_rate: int = 24000,
        settings: dict[str, Any] | None = None,
        on_received: Callable[[Received], None] | None = None,
        database_url: str | None = None,
        stt: STTEngine | None = None,
        speech_detector: Callable[[], SpeechDetector] | None = None,
        conversation: dict[str, Any] | None = None,
    ) -> None:
        self.agent = agent
        self.conversation_fields = conversation or {}
        self.tts = tts if tts is not None else FakeTTS()
        self.avatar = avatar
        self.sample_rate = sample_rate
        self.overrides = settings or {}
        self.on_received = on_received
        self.database_url = database_url
        self.stt = stt
        self.speech_detector = speech_detector
        self._mic_seq = 0
        self.received: list[Received] = []
        self.session: ConversationSession | None = None
        self.conversation_id: uuid.UUID | None = None
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._engine: Any = None
        self.launcher: AvatarLauncher | None = None

    async def __aenter__(self) -> ConversationKit:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Create the conversation and connect its client (``hello`` is accepted)."""
        url = self.database_url
        if url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="visavis-kit-")
            url = f"sqlite+aiosqlite:///{Path(self._tmp.name) / 'kit.db'}"
        settings = Settings(_env_file=None, database_url=url, database_rls=False, **self.overrides)
        self._engine = create_engine(url)
        if self.database_url is None:  # a database of its own: created here
            async with self._engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
        sessions = create_session_factory(self._engine)
        install_tenant_scoping(sessions)
        agents = AgentRegistry()
        agents.register(self.agent.name, lambda **_: self.agent)
        providers = {self.avatar.name: self.avatar} if self.avatar is not None else {}
        if providers:
            box = SecretBox([Fernet.generate_key().decode()])
            store = AvatarStore(sessions, providers, box)
            self.launcher = AvatarLauncher(settings=settings, store=store, providers=providers)
        services = LiveServices(
            settings=settings,
            sessions=sessions,
            agents=agents,
            tts=self.tts,
            synthesis=SynthesisScheduler(slots=1),
            launcher=self.launcher,
            stt=self.stt,
            speech_detector=self.speech_detector,
        )
        async with sessions() as db:
            tenant = Tenant(name=f"kit-{uuid.uuid4().hex[:8]}")
            db.add(tenant)
            await db.flush()
            conversation = Conversation(
                tenant_id=tenant.id, agent=self.agent.name, **self.conversation_fields
            )
            if self.avatar is not None:
                conversation.avatar_requested = True
                conversation.avatar_enabled = True
                conversation.avatar_provider = self.avatar.name
                conversation.avatar_id = "face-1"
            db.add(conversation)
            await db.commit()
        self.conversation_id = conversation.id
        if self.launcher is not None:
            self.launcher.launch(conversation)  # as the REST creation does
        outbox = Outbox(max_bytes=settings.ws_send_queue_bytes)
        self.session = ConversationSession(
            services=services,
            conversation=conversation,
            outbox=outbox,
            # The kit plays an already authorized client: the token is never checked.
            hello=protocol.Hello(
                token="in-process",  # noqa: S106
                sample_rate=self.sample_rate,
                audio_in=self.stt is not None,
            ),
        )
        self._reader = asyncio.create_task(self._read(outbox), name="kit-client")
        await self.session.open()

    async def _read(self, outbox: Outbox) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                item = await outbox.get()
            except OutboxClosed:
                return
            at_ms = round(loop.time() * 1000)
            if isinstance(item, bytes):
                received = Received(at_ms, frame=protocol.AudioFrame.decode(item))
            else:
                received = Received(at_ms, message=json.loads(item))
            self.received.append(received)
            if self.on_received is not None:
                self.on_received(received)
            self._arrived.set()

    # --- the client ------------------------------------------------------------------------

    def now_ms(self) -> int:
        return round(asyncio.get_running_loop().time() * 1000)

    async def send(self, message: dict[str, Any] | str) -> int:
        """Send one message as the client would (JSON text); returns when it was sent (ms)."""
        session = self._require()
        at_ms = self.now_ms()
        text = message if isinstance(message, str) else json.dumps(message)
        try:
            parsed = protocol.parse_message(
                text, max_bytes=session.services.settings.ws_max_message_bytes
            )
        except protocol.ProtocolError as bad:
            session.error(bad.code, bad.message)
            return at_ms
        await session.handle(parsed)
        return at_ms

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary frame as the client would (a microphone frame, or a bad one)."""
        session = self._require()
        try:
            frame = mic_frames.parse_mic_frame(data)
        except protocol.ProtocolError as bad:
            session.error(bad.code, bad.message)
            return
        await session.handle(frame)

    async def speak(self, pcm: npt.NDArray[np.int16], *, frame_ms: int = 20) -> int:
        """Stream ``pcm`` (16 kHz) as the microphone would: ``frame_ms`` frames in real time.
        Returns when the last frame was sent (ms)."""
        step = 16000 * frame_ms // 1000
        for start in range(0, len(pcm), step):
            self._mic_seq += 1
            await self.send_bytes(
                mic_frames.encode_mic_frame(self._mic_seq, pcm[start : start + step])
            )
            await asyncio.sleep(frame_ms / 1000)
        return self.now_ms()

    async def wait_for(
        self, kind: str, *, after: int = 0, timeout_s: float = 120.0, **fields: Any
    ) -> dict[str, Any]:
        """The first message of ``kind`` (with those field values) from index ``after`` on."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        seen = after
        while True:
            for received in self.received[seen:]:
                message = received.message
                if (
                    message is not None
                    and message.get("type") == kind
                    and all(message.get(k) == v for k, v in fields.items())
                ):
                    return message
            seen = max(seen, len(self.received))
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                kinds = [r.type for r in self.received]
                raise AssertionError(f"no {kind} {fields or ''} within {timeout_s} s: {kinds}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue

    async def until(self, condition: Callable[[], bool], *, timeout_s: float = 120.0) -> None:
        """Wait until ``condition()`` holds (checked every 10 ms of virtual time)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        # Polling costs nothing on virtual time, and the condition may be anyone's state.
        while not condition():  # noqa: ASYNC110
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not reached within {timeout_s} s")
            await asyncio.sleep(0.01)

    async def wait_lines(self, count: int, *, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """The first ``count`` transcript entries shown (a line is shown once it is stored, so
        it may come after its turn's ``turn_end``)."""
        await self.until(lambda: len(self.messages("transcript")) >= count, timeout_s=timeout_s)
        return [m["entry"] for m in self.messages("transcript")][:count]

    def messages(self, kind: str) -> list[dict[str, Any]]:
        return [r.message for r in self.received if r.message and r.message["type"] == kind]

    def frames(self) -> list[Received]:
        return [r for r in self.received if r.frame is not None]

    async def transcript(self) -> list[TranscriptEntry]:
        """The stored transcript (every queued write done first)."""
        session = self._require()
        await session.journal.recorder.aclose()
        session.journal.recorder.start()
        async with session.services.sessions() as db:
            rows = await db.scalars(
                select(TranscriptEntry)
                .where(TranscriptEntry.conversation_id == self.conversation_id)
                .order_by(TranscriptEntry.seq)
            )
            return list(rows)

    async def turns(self) -> list[ConversationTurn]:
        """The stored turn rows (every queued write done first)."""
        session = self._require()
        await session.journal.recorder.aclose()
        session.journal.recorder.start()
        async with session.services.sessions() as db:
            rows = await db.scalars(
                select(ConversationTurn)
                .where(ConversationTurn.conversation_id == self.conversation_id)
                .order_by(ConversationTurn.seq)
            )
            return list(rows)

    def _require(self) -> ConversationSession:
        if self.session is None:
            raise RuntimeError("the kit is not started")
        return self.session

    async def aclose(self) -> None:
        """Disconnect the client and drop the database; idempotent."""
        if self.session is not None:
            await self.session.aclose(reason="client_disconnected", code=1001)
        if self._reader is not None:
            await asyncio.wait({self._reader}, timeout=5)
            self._reader = None
        if self.launcher is not None:
            await self.launcher.aclose()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def run_session(steps: Sequence[Step], *, agent: Agent, **kit: Any) -> list[Received]:
    """Run a conversation from ``steps`` (client messages, pauses, waits) on virtual time;
    returns everything the client received.
    """

    async def play() -> list[Received]:
        async with ConversationKit(agent=agent, **kit) as client:
            for step in steps:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, WaitFor):
                    await client.wait_for(step.type, **step.fields)
                else:
                    await client.send(step)
            return client.received

    return run_virtual(play())
