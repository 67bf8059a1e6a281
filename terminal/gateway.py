"""Connects one WebSocket client to the session host: in-process (embedded) or over a Unix socket.

The web side knows the database: it decides whether this attach may open the session (a new session,
its owner) and records what happened. The host knows only sandboxes, PTYs and recordings. How to reach
the host, and the hooks that record its events, are terminal/control.py's.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from sandbox import SandboxError
from terminal import control, protocol, trace
from terminal.host import GONE, Attachment, AttachRequest, Client
from terminal.keeper import PLATFORM_REASON
from terminal.models import SessionStatus
from terminal.remote import frame_message, read_message
from terminal.selectors import AttachInfo
from terminal.services import TryLaterError

NOT_STARTED = "the session has not been started by its owner yet"
PARKED_PAGE = (
    "this session was parked while it was paused: your files are kept; press Resume to bring it back "
    "(programs that were running did not survive)"
)
log = logging.getLogger(__name__)


class Gateway(abc.ABC):
    def __init__(self, info: AttachInfo, client: Client) -> None:
        self.info = info
        self.client = client

    async def attach(self, hello: protocol.ClientFrame) -> bool:
        """Attach this client; False (after telling the client why) when it cannot be."""
        session = self.info.session
        role = "owner" if self.info.role == "owner" else "watcher"
        open_req = None
        if session.status == SessionStatus.PARKED:
            await self.refuse("parked", PARKED_PAGE)
            return False
        if session.status == SessionStatus.NEW and role == "owner":
            try:
                open_req = await database_sync_to_async(control.open_request)(session, hello.cols, hello.rows)
            except TryLaterError as exc:
                await self.refuse("unavailable", str(exc))  # nothing started; the session stays new
                return False
            except SandboxError as exc:
                reason = f"could not start the sandbox: {exc}"
                await control.mark_failed(str(session.id), reason)
                await self.refuse("failed", reason)
                return False
        req = AttachRequest(str(session.id), role, hello.offset, hello.cols, hello.rows, open_req)  # type: ignore[arg-type]
        refusal = await self.attach_host(req)
        if refusal is None:
            return True
        state, reason = refusal
        if state == "ended":
            if session.status == SessionStatus.NEW:
                state, reason = "new", NOT_STARTED
            elif session.status == SessionStatus.LIVE:
                await control.mark_failed(str(session.id), GONE)
            else:
                reason = session.end_reason or reason
                if session.status == SessionStatus.FAILED:
                    state = "failed"
        await self.refuse(state, reason)
        return False

    async def refuse(self, state: str, reason: str) -> None:
        await self.client.send_frame(
            protocol.status_frame({"state": state, "reason": reason, "input": False})
        )
        # 1013, "try again later": the browser keeps reconnecting (the platform is back soon); 4000 is final
        await self.client.close_client(1013 if state == "unavailable" else 4000)

    @abc.abstractmethod
    async def attach_host(self, req: AttachRequest) -> tuple[str, str] | None:
        """Attach through the host; a (state, reason) refusal, or None once attached."""

    @abc.abstractmethod
    async def client_frame(self, frame: protocol.ClientFrame, raw: bytes) -> None: ...

    @abc.abstractmethod
    async def detach(self) -> None: ...


class EmbeddedGateway(Gateway):
    att: Attachment | None = None

    async def attach_host(self, req: AttachRequest) -> tuple[str, str] | None:
        result = await control.host_with_hooks().attach_request(req, self.client)
        if isinstance(result, tuple):
            return result
        self.att = result
        return None

    async def client_frame(self, frame: protocol.ClientFrame, raw: bytes) -> None:
        if self.att is None:
            return
        reply = control.host_with_hooks().handle_frame(self.att, frame)
        if reply is not None:
            await self.client.send_frame(reply)

    async def detach(self) -> None:
        if self.att is not None:
            control.host_with_hooks().detach(self.att)
            self.att = None


class RemoteGateway(Gateway):
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    relay: asyncio.Task[None] | None = None

    async def attach_host(self, req: AttachRequest) -> tuple[str, str] | None:
        try:
            address = await database_sync_to_async(control.host_address)(req.session_id)
            self.reader, self.writer = await control.connect(address)
        except OSError as exc:
            log.warning("session %s: the session host is not reachable: %s", req.session_id, exc)
            return ("unavailable", PLATFORM_REASON)
        try:
            return await self._attach_over_socket(req)
        except BaseException:
            # Cancelled (the browser left while the sandbox was starting) or failed: do not leave the
            # host an attachment that nobody reads.
            self.writer.close()
            raise

    async def _attach_over_socket(self, req: AttachRequest) -> tuple[str, str] | None:
        if self.writer is None or self.reader is None:
            return ("unavailable", "not connected")
        attach = control.authenticated({"op": "attach", "request": req.to_json()})
        self.writer.write(frame_message(json.dumps(attach).encode()))
        await self.writer.drain()
        # Until attached, the host may send a "starting" status; a JSON object means a refusal.
        while True:
            try:
                msg = await read_message(self.reader)
            except asyncio.IncompleteReadError:
                return ("unavailable", PLATFORM_REASON)
            if msg[:1] == b"{":
                doc = json.loads(msg)
                if not doc.get("ok"):
                    return (str(doc.get("state", "ended")), str(doc.get("reason", "")))
                continue
            await self.client.send_frame(msg)
            if msg[0] == protocol.STATUS and json.loads(msg[1:]).get("state") == "live":
                break
        self.relay = asyncio.ensure_future(self._relay())
        return None

    async def _relay(self) -> None:
        if self.reader is None:
            return
        try:
            while True:
                msg = await read_message(self.reader)
                if trace.ON:
                    trace.stamp_frame(msg, trace.OUTPUT, b"web_recv")
                await self.client.send_frame(msg)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The host went away (restart) or ended the session: let the browser reconnect and find out.
            with contextlib.suppress(Exception):
                await self.client.close_client(1012)

    async def client_frame(self, frame: protocol.ClientFrame, raw: bytes) -> None:
        if self.writer is not None:
            if trace.ON and frame.kind == protocol.INPUT:
                trace.stamp(b"sock_send")
            self.writer.write(frame_message(raw))
            await self.writer.drain()

    async def detach(self) -> None:
        if self.relay is not None:
            self.relay.cancel()
        if self.writer is not None:
            self.writer.close()


def get_gateway(info: AttachInfo, client: Client) -> Gateway:
    if settings.SESSION_HOST_SOCKET:
        return RemoteGateway(info, client)
    return EmbeddedGateway(info, client)
