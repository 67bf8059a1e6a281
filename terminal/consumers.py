"""The terminal WebSocket endpoint /ws/terminal/<session_id>/: authenticate, parse frames, call the host."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from config.logs import about_session
from terminal import protocol, trace
from terminal.gateway import Gateway, get_gateway
from terminal.selectors import AttachInfo, attach_info

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
MAX_EARLY_FRAMES = 256
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _traced(receive: Receive, send: Send) -> tuple[Receive, Send]:
    """The ASGI receive and send of one connection, stamping input frames as uvicorn hands them over and
    output frames as they are handed to it."""

    async def traced_receive() -> dict[str, Any]:
        message = await receive()
        if message.get("type") == "websocket.receive":
            trace.stamp_frame(message.get("bytes"), trace.INPUT, b"asgi_recv")
        return message

    async def traced_send(message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.send":
            trace.stamp_frame(message.get("bytes"), trace.OUTPUT, b"asgi_send")
        await send(message)

    return traced_receive, traced_send


class RefuseConsumer(AsyncWebsocketConsumer):
    """Every WebSocket path that is no terminal's: the handshake is refused, as for a session one may not
    attach to, and nothing else is read or logged."""

    channel_layer_alias = "__terminal_has_no_channel_layer__"  # as TerminalConsumer: no layer to join

    async def connect(self) -> None:
        await self.close(code=CLOSE_FORBIDDEN)


class TerminalConsumer(AsyncWebsocketConsumer):
    # No channel-layer subscription: terminal bytes and status come from the session host directly, and a
    # Redis hiccup must never close a terminal (seen: channels_redis raising "Timeout reading from
    # 127.0.0.1:6379" inside the consumer's receive loop while the machine was under memory pressure,
    # which ended the WebSocket with 1006). A missing alias makes Channels skip the layer.
    channel_layer_alias = "__terminal_has_no_channel_layer__"
    info: AttachInfo | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if trace.ON:  # uvicorn's side of each frame, stamped (terminal/trace.py)
            receive, send = _traced(receive, send)
        await super().__call__(scope, receive, send)

    async def connect(self) -> None:
        self._send_lock = asyncio.Lock()
        self.gateway: Gateway | None = None
        self._attaching: asyncio.Task[None] | None = None
        self._early: list[tuple[protocol.ClientFrame, bytes]] = []
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        about_session(session_id)  # this connection's task: its log lines name the session
        self.info = await database_sync_to_async(attach_info)(
            session_id=session_id, user=self.scope.get("user")
        )
        if self.info is None:
            # Accept-then-close would leak that the session exists; refuse the handshake for everyone.
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None:
            return
        if bytes_data is None:
            await self.send_frame(protocol.status_frame({"error": "binary frames only"}))
            return
        try:
            frame = protocol.parse_client_frame(bytes_data)
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.status_frame({"error": f"bad frame: {exc}"}))
            return
        if frame.kind == protocol.HELLO:
            if self._attaching is None:
                self._attaching = asyncio.ensure_future(self._attach(frame))
            return
        if self.gateway is None:
            if self._attaching is None:
                await self.send_frame(protocol.status_frame({"error": "not attached yet: send hello first"}))
            elif len(self._early) < MAX_EARLY_FRAMES:
                # Typed while the attach (or the sandbox's start) is under way: applied once attached.
                self._early.append((frame, bytes_data))
            else:
                await self.send_frame(protocol.status_frame({"error": "too much input before attaching"}))
            return
        await self.gateway.client_frame(frame, bytes_data)

    async def _attach(self, hello: protocol.ClientFrame) -> None:
        if self.info is None:
            return
        try:
            gateway = get_gateway(self.info, self)
            if not await gateway.attach(hello):
                return
            self.gateway = gateway
            early, self._early = self._early, []
            for frame, raw in early:
                await gateway.client_frame(frame, raw)
        except Exception as exc:
            log.exception("attach failed")
            await self.send_frame(
                protocol.status_frame({"state": "failed", "reason": str(exc), "input": False})
            )
            await self.close(code=4500)

    async def disconnect(self, code: int) -> None:
        if self._attaching is not None and not self._attaching.done():
            self._attaching.cancel()
        if self.gateway is not None:
            await self.gateway.detach()

    # the host's Client protocol
    async def send_frame(self, frame: bytes) -> None:
        if trace.ON:
            trace.stamp_frame(frame, trace.OUTPUT, b"ws_send")
        async with self._send_lock:
            await self.send(bytes_data=frame)

    async def close_client(self, code: int) -> None:
        await self.close(code=code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch closes stale database connections before every message, a thread hop each
        # time. Terminal frames touch no database (what does runs in database_sync_to_async, which does
        # that itself), and an acknowledgement comes for every output frame: they skip it.
        if message["type"] == "websocket.receive":
            if trace.ON:
                trace.stamp_frame(message.get("bytes"), trace.INPUT, b"ws_recv")
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        # Channels' default decodes text; keep it, but never let one bad frame end the connection.
        try:
            await super().websocket_receive(message)
        except Exception:
            log.exception("terminal frame handling failed")
            await self.send_frame(protocol.status_frame({"error": "internal error handling a frame"}))
