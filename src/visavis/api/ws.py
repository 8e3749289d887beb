"""The conversation WebSocket (protocol v1, docs/protocol.md): authorize, then relay.

The edge checks the client token and moves messages between the socket and the
``ConversationSession``; the protocol module parses and builds every message, and everything
the conversation does lives in the session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from visavis.agents.plans import InterviewPlan, load_stored_plan
from visavis.context import AppContext
from visavis.conversation import mic_frames, protocol
from visavis.conversation.outbox import Outbox, OutboxClosed
from visavis.conversation.session import ConversationSession
from visavis.db.models import Conversation, TranscriptEntry
from visavis.db.outage import is_database_outage
from visavis.db.repositories.conversation_events import ConversationEventRepository
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.interview_plans import InterviewPlanRepository
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.errors import NotFoundError
from visavis.tenancy import client_tokens
from visavis.tenancy.auth_backoff import TooManyFailedAttempts

logger = logging.getLogger(__name__)

router = APIRouter()


class Refusal(Exception):
    """The connection is refused with a close code and a message for the client."""

    def __init__(self, close_code: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.error_code = error_code
        self.message = message


@router.websocket("/v1/conversations/{conversation_id}/ws")
async def conversation_socket(websocket: WebSocket, conversation_id: str) -> None:
    """One live conversation: ``hello`` first, then the messages of docs/protocol.md."""
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    ctx.metrics.websocket_opened()
    code = 1006  # the client vanished
    try:
        code = await _converse(websocket, ctx, conversation_id)
    finally:
        ctx.metrics.websocket_closed(code=code)


async def _converse(websocket: WebSocket, ctx: AppContext, conversation_id: str) -> int:
    """The conversation on this socket; returns the close code it ended with."""
    try:
        session = await _open_session(websocket, ctx, conversation_id)
    except Refusal as refusal:
        await _refuse(websocket, refusal)
        return refusal.close_code
    except WebSocketDisconnect as gone:
        return gone.code
    return await _serve(websocket, ctx, session)


async def _open_session(
    websocket: WebSocket, ctx: AppContext, conversation_id: str
) -> ConversationSession:
    try:
        wanted = uuid.UUID(conversation_id)
    except ValueError:
        raise Refusal(4404, "not_found", "no such conversation") from None
    hello = await _receive_hello(
        websocket, ctx.settings.ws_max_message_bytes, ctx.settings.ws_hello_timeout_s
    )
    address = websocket.client.host if websocket.client is not None else "unknown"
    claims = await _authorize(ctx, hello, address, wanted)
    previous = ctx.live.get(wanted)
    if previous is not None:
        # A reconnecting client takes over; the old session's records land before we read them.
        await previous.aclose(reason="replaced_by_new_connection", code=4409)
    try:
        holding = await ctx.live.take_over(wanted)
        conversation, transcript, plan, turns = await _load(ctx, claims, wanted)
    except Refusal:
        raise
    except Exception as error:
        if not is_database_outage(error):
            raise
        logger.warning("hello refused, the database is unreachable: %s", error)
        raise Refusal(
            1013,
            "storage_unavailable",
            "the conversation's records cannot be reached right now: reconnect in a few seconds",
        ) from error
    outbox = Outbox(max_bytes=ctx.settings.ws_send_queue_bytes)
    return ConversationSession(
        services=ctx.live_services(),
        conversation=conversation,
        outbox=outbox,
        hello=hello,
        transcript=transcript,
        turns_so_far=turns - 1,
        plan=plan,
        holding=holding,
    )


async def _authorize(
    ctx: AppContext, hello: protocol.Hello, address: str, wanted: uuid.UUID
) -> client_tokens.ClientTokenClaims:
    """The token's claims, if it is valid, for this conversation, and its key still active."""
    backoff = ctx.auth_backoff
    if backoff is not None:
        try:
            await backoff.check(address)
        except TooManyFailedAttempts as exc:
            raise Refusal(4429, "too_many_attempts", exc.message) from exc
    try:
        claims = client_tokens.verify(
            hello.token, secret=ctx.settings.secret_key.get_secret_value()
        )
    except client_tokens.InvalidClientToken as exc:
        if backoff is not None:
            await backoff.failed(address)
        raise Refusal(4401, "unauthorized", exc.message) from exc
    if claims.conversation_id != wanted:
        raise Refusal(4401, "unauthorized", "this token is for another conversation")
    return claims


async def _load(
    ctx: AppContext, claims: client_tokens.ClientTokenClaims, wanted: uuid.UUID
) -> tuple[Conversation, Sequence[TranscriptEntry], InterviewPlan | None, int]:
    """The conversation, its transcript and plan, and the turns it had (refusals if none)."""
    async with ctx.sessions() as db:
        await scope_to_tenant(db, claims.tenant_id, switch_role=ctx.settings.database_rls)
        try:
            await client_tokens.ensure_key_active(db, claims)
        except client_tokens.RevokedClientToken as exc:
            raise Refusal(4401, "unauthorized", exc.message) from exc
        try:
            conversation = await ConversationRepository(db, claims.tenant_id).get(wanted)
        except NotFoundError:
            raise Refusal(4404, "not_found", "no such conversation") from None
        if conversation.status == "ended":
            raise Refusal(4410, "conversation_ended", "the conversation has ended")
        transcript = await TranscriptRepository(db, claims.tenant_id).list(wanted)
        plan = None
        if conversation.agent_plan is not None:
            stored = await InterviewPlanRepository(db, claims.tenant_id).find(
                conversation.agent_plan
            )
            plan = load_stored_plan(stored.plan) if stored is not None else None
        turns = await ConversationEventRepository(db, claims.tenant_id).next_turn_seq(wanted)
    return conversation, transcript, plan, turns


async def _receive_hello(websocket: WebSocket, max_bytes: int, timeout_s: float) -> protocol.Hello:
    try:
        raw = await asyncio.wait_for(websocket.receive(), timeout_s)
    except TimeoutError:
        raise Refusal(4400, "hello_timeout", f"send hello within {timeout_s:g} s") from None
    if raw["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(raw.get("code", 1000))
    text = raw.get("text")
    if text is None:
        raise Refusal(4400, "binary_not_accepted", "messages are JSON text frames")
    try:
        message = protocol.parse_message(text, max_bytes=max_bytes)
    except protocol.ProtocolError as bad:
        raise Refusal(4401 if bad.code == "unauthorized" else 4400, bad.code, bad.message) from None
    if not isinstance(message, protocol.Hello):
        raise Refusal(4400, "hello_expected", "the first message must be hello")
    return message


async def _refuse(websocket: WebSocket, refusal: Refusal) -> None:
    try:
        error = protocol.error(code=refusal.error_code, message=refusal.message)
        await websocket.send_text(json.dumps(error))
        await websocket.close(refusal.close_code, reason=refusal.error_code)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left before hearing why


async def _serve(websocket: WebSocket, ctx: AppContext, session: ConversationSession) -> int:
    settings = ctx.settings
    live = ctx.live
    if not await live.attach(session):  # a newer connection of this conversation won the race
        await session.aclose(reason="replaced_by_new_connection", code=4409)
        await _close(websocket, 4409, "replaced_by_new_connection", 5.0)
        return 4409
    outbox = session.outbox
    writer = asyncio.create_task(
        _write(websocket, outbox, settings.ws_send_timeout_s), name="ws-writer"
    )
    closed = asyncio.create_task(outbox.wait_closed(), name="ws-outbox-closed")
    reader: asyncio.Task[None] | None = None
    try:
        await session.open()
        # Read only once ``ready`` is out: what the client sent meanwhile waits in the socket.
        reader = asyncio.create_task(_read(websocket, session, settings.ws_max_message_bytes))
        await asyncio.wait({reader, writer, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await session.aclose(reason="client_disconnected", code=1001)
        await live.detach(session)
        for task in (reader, closed):
            if task is not None and not task.done():
                task.cancel()
        # The writer sends what is left (the goodbye), within the send deadline.
        await asyncio.wait({writer}, timeout=settings.ws_send_timeout_s + 1)
        if not writer.done():
            writer.cancel()
        await asyncio.wait({t for t in (reader, writer, closed) if t is not None})
    if outbox.overflowed:
        await _close(websocket, 4408, "client_too_slow", settings.ws_close_timeout_s)
        return 4408
    code = session.close_code or 1000
    await _close(websocket, code, session.close_reason, 5.0)
    return code


async def _read(websocket: WebSocket, session: ConversationSession, max_bytes: int) -> None:
    while True:
        raw = await websocket.receive()
        if raw["type"] == "websocket.disconnect":
            return
        try:
            if raw.get("text") is not None:
                message = protocol.parse_message(raw["text"], max_bytes=max_bytes)
            else:
                message = mic_frames.parse_mic_frame(raw.get("bytes") or b"")
        except protocol.ProtocolError as bad:
            session.error(bad.code, bad.message)
            continue
        try:
            await session.handle(message)
        except OutboxClosed:
            return


async def _write(websocket: WebSocket, outbox: Outbox, deadline_s: float) -> None:
    """Send what the outbox holds; a frame the connection does not take in time stalls it."""
    try:
        while True:
            item = await outbox.get()
            async with asyncio.timeout(deadline_s):
                if isinstance(item, bytes):
                    await websocket.send_bytes(item)
                else:
                    await websocket.send_text(item)
    except OutboxClosed:
        return
    except TimeoutError:
        outbox.stalled()
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client is gone


async def _close(websocket: WebSocket, code: int, reason: str, timeout_s: float) -> None:
    """Close with ``code``; a connection that takes nothing more is dropped after ``timeout_s``."""
    if websocket.client_state != WebSocketState.CONNECTED:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await websocket.close(code, reason=reason[:100])
    except (TimeoutError, RuntimeError, OSError):
        pass  # returning lets the server drop the connection
