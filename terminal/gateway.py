"""Connects one WebSocket client to the session host: in-process (embedded) or over a Unix socket."""

from __future__ import annotations

import abc
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from tasks.services.environment import sandbox_spec, task_sandbox_check, task_sandbox_prepare
from terminal import protocol
from terminal.host import Attachment, Client, OpenRequest, SessionHost, embedded_host
from terminal.models import SessionStatus, TerminalSession
from terminal.sandbox import Sandbox, SandboxError
from terminal.selectors import AttachInfo
from terminal.services import terminal_session_end, terminal_session_mark_live

GONE = "this session's sandbox no longer exists (the server restarted or the session ended)"
NOT_STARTED = "the session has not been started by its owner yet"


def open_request(session: TerminalSession, cols: int, rows: int) -> OpenRequest:
    """What the host needs to start this session; raises SandboxError if the backend cannot run it."""
    tv = session.task_version
    task_sandbox_check(tv)

    def prepare(sandbox: Sandbox) -> None:
        task_sandbox_prepare(sandbox, tv)

    return OpenRequest(
        session_id=str(session.id),
        spec=sandbox_spec(tv),
        recording_path=session.recording_path,
        title=f"{tv.task.task_id} v{tv.version}",
        cols=cols,
        rows=rows,
        prepare=prepare,
    )


class Gateway(abc.ABC):
    def __init__(self, info: AttachInfo, client: Client) -> None:
        self.info = info
        self.client = client

    @abc.abstractmethod
    async def attach(self, hello: protocol.ClientFrame) -> None: ...

    @abc.abstractmethod
    async def client_frame(self, frame: protocol.ClientFrame, raw: bytes) -> None: ...

    @abc.abstractmethod
    async def detach(self) -> None: ...

    async def refuse(self, state: str, reason: str) -> None:
        await self.client.send_frame(
            protocol.status_frame({"state": state, "reason": reason, "input": False})
        )
        await self.client.close_client(4000)


async def _mark_ended(session_id: str, reason: str) -> None:
    await database_sync_to_async(terminal_session_end)(session_id=session_id, reason=reason)


def host_with_hooks() -> SessionHost:
    host = embedded_host()
    if _mark_ended not in host.on_end:
        host.on_end.append(_mark_ended)
    return host


async def open_or_get(host: SessionHost, session: TerminalSession, role: str, cols: int, rows: int) -> Any:
    """The live session, opening it if its owner attaches to a new one. Returns (live, refusal)."""
    live = host.get(str(session.id))
    if live is not None:
        return live, None
    if session.status == SessionStatus.NEW and role == "owner":
        try:
            req = await database_sync_to_async(open_request)(session, cols, rows)
            live = await host.open(req)
        except SandboxError as exc:
            await database_sync_to_async(terminal_session_end)(
                session_id=session.id, reason=f"could not start: {exc}", failed=True
            )
            return None, ("failed", f"could not start the sandbox: {exc}")
        await database_sync_to_async(terminal_session_mark_live)(
            session_id=session.id, fingerprint=live.sandbox.fingerprint()
        )
        return live, None
    if session.status == SessionStatus.NEW:
        return None, ("new", NOT_STARTED)
    if session.status == SessionStatus.LIVE:
        await database_sync_to_async(terminal_session_end)(session_id=session.id, reason=GONE, failed=True)
    return None, ("ended", session.end_reason or GONE)


class EmbeddedGateway(Gateway):
    att: Attachment | None = None

    async def attach(self, hello: protocol.ClientFrame) -> None:
        host = host_with_hooks()
        session = self.info.session
        if (
            host.get(str(session.id)) is None
            and session.status == SessionStatus.NEW
            and self.info.role == "owner"
        ):
            await self.client.send_frame(protocol.status_frame({"state": "starting", "input": False}))
        live, refusal = await open_or_get(host, session, self.info.role, hello.cols, hello.rows)
        if refusal is not None:
            await self.refuse(*refusal)
            return
        role = "owner" if self.info.role == "owner" else "watcher"
        self.att = await host.attach(live, self.client, role, hello.offset)
        if role == "owner":
            live.resize(hello.cols, hello.rows)

    async def client_frame(self, frame: protocol.ClientFrame, raw: bytes) -> None:
        if self.att is None:
            return
        reply = host_with_hooks().handle_frame(self.att, frame)
        if reply is not None:
            await self.client.send_frame(reply)

    async def detach(self) -> None:
        if self.att is not None:
            host_with_hooks().detach(self.att)
            self.att = None


def get_gateway(info: AttachInfo, client: Client) -> Gateway:
    if settings.SESSION_HOST_SOCKET:
        from terminal.remote import RemoteGateway

        return RemoteGateway(info, client)
    return EmbeddedGateway(info, client)
