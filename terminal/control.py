"""The host client: everything on the web side that reaches the session host, wherever it runs.

Embedded (no SESSION_HOST_SOCKET): the host lives on the web process's event loop (`host_with_hooks`);
synchronous callers schedule onto it and wait. Remote: one request per connection over SESSION_HOST_SOCKET,
in terminal/remote.py's wire format. Here too: the hooks that record the host's events in the database
(on the embedded host, and in `manage.py session_host`), what the host needs to open a session
(`open_request`), the synchronous calls for services and Celery jobs (set_input, marker, end, ...), and
`sandbox_for`, a handle that runs commands in the live sandbox either way, so scoring sees exactly the
contractor's files. The per-WebSocket relay (terminal/gateway.py) builds on this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from sandbox import ExecResult, Sandbox, SandboxError, backend_provides
from sandbox.base import MAX_EXEC_OUTPUT, User
from tasks.services.environment import sandbox_spec, task_sandbox_check
from terminal import signals
from terminal.host import OpenRequest, SessionHost, embedded_host, start_slots
from terminal.models import SandboxHost, SessionStatus, TerminalSession
from terminal.remote import MAX_MESSAGE, frame_message, read_message
from terminal.services import (
    TryLaterError,
    terminal_disk_check,
    terminal_session_end,
    terminal_session_mark_live,
    terminal_session_park,
    terminal_session_place,
    terminal_session_recording_truncated,
)

log = logging.getLogger(__name__)

# --- The host's events, recorded in the database -------------------------------------------------------


async def mark_live(session_id: str, fingerprint: dict[str, Any]) -> None:
    await database_sync_to_async(terminal_session_mark_live)(session_id=session_id, fingerprint=fingerprint)


async def mark_failed(session_id: str, reason: str) -> None:
    await database_sync_to_async(terminal_session_end)(session_id=session_id, reason=reason, failed=True)


async def mark_ended(session_id: str, reason: str) -> None:
    await database_sync_to_async(terminal_session_end)(session_id=session_id, reason=reason)


async def mark_parked(session_id: str, image: str) -> None:
    await database_sync_to_async(terminal_session_park)(session_id=session_id, image=image)


async def mark_truncated(session_id: str, at: float) -> None:
    await database_sync_to_async(terminal_session_recording_truncated)(session_id=session_id, at=at)


def _activity(signal: Any) -> Any:
    async def hook(session_id: str, at: datetime) -> None:
        await database_sync_to_async(signal.send)(sender=TerminalSession, session_id=session_id, at=at)

    return hook


on_idle = _activity(signals.session_idle)
on_owner_left = _activity(signals.session_owner_left)
on_owner_back = _activity(signals.session_owner_back)
on_owner_attached = _activity(signals.session_owner_attached)


async def on_platform_outage(session_id: str, since: datetime, until: datetime) -> None:
    await database_sync_to_async(signals.session_platform_outage.send)(
        sender=TerminalSession, session_id=session_id, since=since, until=until
    )


def install_hooks[H: SessionHost](host: H) -> H:
    """Record the host's events in the database (the web process embedded, or the session_host process)."""
    pairs: list[tuple[list[Any], Any]] = [
        (host.on_live, mark_live),
        (host.on_failed, mark_failed),
        (host.on_end, mark_ended),
        (host.on_idle, on_idle),
        (host.on_owner_left, on_owner_left),
        (host.on_owner_back, on_owner_back),
        (host.on_owner_attached, on_owner_attached),
        (host.on_recording_truncated, mark_truncated),
        (host.on_platform_outage, on_platform_outage),
        (host.on_parked, mark_parked),
    ]
    for hooks, hook in pairs:
        if hook not in hooks:
            hooks.append(hook)
    host.idle_after = settings.IDLE_PAUSE_AFTER
    host.disconnect_grace = settings.DISCONNECT_PAUSE_AFTER
    host.capacity = settings.SESSION_HOST_CAPACITY
    host.start_queue.slots = settings.SANDBOX_START_CONCURRENCY or start_slots()
    return host


def host_with_hooks() -> SessionHost:
    """The embedded session host (this process's), its events recorded."""
    return install_hooks(embedded_host())


def open_request(session: TerminalSession, cols: int, rows: int, *, restore: bool = False) -> OpenRequest:
    """What the host needs to start this session, placed on a machine first (remote); raises SandboxError if
    the backend cannot run it, and TryLaterError (DiskSpaceError, NoRoomError: the session stays new)
    while the server is low on disk or no machine has room."""
    tv = session.task_version
    if settings.SESSION_HOST_SOCKET:
        host = terminal_session_place(session=session, provides=backend_provides)
        if host is None:  # one machine, this one: its backend decides
            task_sandbox_check(tv)
    else:
        task_sandbox_check(tv)
    terminal_disk_check()
    spec = sandbox_spec(tv)
    if restore:  # a parked session: its snapshot, on its machine (where the image is); no start() again
        spec = dataclasses.replace(spec, restore_image=session.parked_image)
    return OpenRequest(
        session_id=str(session.id),
        spec=spec,
        recording_path=session.recording_path,
        title=f"{tv.task.task_id} v{tv.version}",
        cols=cols,
        rows=rows,
        start=None if restore else (tv.family_version.family.name, tv.task.name),
        restored=restore,
        method_timeout=settings.TASK_METHOD_TIMEOUT,
        recording_max_bytes=int(settings.RECORDING_MAX_MB * 1024 * 1024),
        recording_sample_bytes=settings.RECORDING_SAMPLE_KB * 1024,
    )


# --- Requests to the session host process (remote) ------------------------------------------------------


def host_address(session_id: str | None) -> str:
    """Where the session's machine's session host listens: "HOST:PORT" (TCP) or a Unix socket's path. A
    session not placed (or none given) is the default host's, SESSION_HOST_SOCKET."""
    if session_id is None:
        return settings.SESSION_HOST_SOCKET
    address = TerminalSession.objects.filter(pk=session_id).values_list("host__address", flat=True).first()
    return address or settings.SESSION_HOST_SOCKET


async def connect(address: str | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A new connection to a session host process (OSError if it is not there): at address ("HOST:PORT"
    or a socket's path), or the default one."""
    address = address or settings.SESSION_HOST_SOCKET
    if address.startswith("/") or ":" not in address:
        return await asyncio.open_unix_connection(address, limit=MAX_MESSAGE)
    host, _, port = address.rpartition(":")
    return await asyncio.open_connection(host, int(port), limit=MAX_MESSAGE)


def authenticated(doc: dict[str, Any]) -> dict[str, Any]:
    """A request as every session host accepts it: with the platform's shared secret, when there is one."""
    return {**doc, "auth": settings.SESSION_HOST_SECRET} if settings.SESSION_HOST_SECRET else doc


def _session_of(doc: dict[str, Any]) -> str | None:
    sid = doc.get("session_id") or (doc.get("request") or {}).get("session_id")
    return str(sid) if sid else None


async def _request(doc: dict[str, Any], address: str | None = None) -> dict[str, Any]:
    """One request to the session host of the session the request names (or of `address`)."""
    if address is None:
        address = await database_sync_to_async(host_address)(_session_of(doc))
    reader, writer = await connect(address)
    try:
        writer.write(frame_message(json.dumps(authenticated(doc)).encode()))
        await writer.drain()
        return dict(json.loads(await read_message(reader)))
    finally:
        writer.close()


async def remote_open(req: OpenRequest) -> tuple[str, str] | None:
    doc = await _request({"op": "open", "request": req.to_json()})
    return None if doc.get("ok") else (str(doc.get("state", "failed")), str(doc.get("reason", "")))


async def remote_list(address: str | None = None) -> list[str]:
    doc = await _request({"op": "list"}, address or settings.SESSION_HOST_SOCKET)
    return [str(s) for s in doc.get("sessions", [])]


async def remote_close(session_id: str, reason: str, address: str | None = None) -> None:
    """Close a session on its machine's session host (or on the one at `address`: a session whose row is
    gone has no machine to look up)."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        await _request({"op": "close", "session_id": session_id, "reason": reason}, address)


async def remote_set_input(session_id: str, reason: str | None, marker: str | None = None) -> None:
    await _request({"op": "set_input", "session_id": session_id, "reason": reason, "marker": marker})


# --- From synchronous code (services, Celery jobs): embedded or remote -----------------------------------


def _embedded_call(session_id: str, make: Any, *, starting_too: bool = False) -> Any:
    """Run make(host)'s coroutine on the web process's loop and wait for it.

    async_to_sync, not run_coroutine_threadsafe: the host's end-of-session hooks write to the database
    through database_sync_to_async, which in a sync view must come back to the very thread that is
    waiting here; asgiref allows that re-entry, a plain future would deadlock.
    """
    host = host_with_hooks()
    if host.get(session_id) is None and not (starting_too and host.is_opening(session_id)):
        return None

    async def call() -> Any:
        return await make(host)

    return async_to_sync(call)()


def set_input(session_id: str, reason: str | None, marker: str | None = None) -> None:
    """Refuse input with a reason (None allows it again) and mark the recording."""
    if settings.SESSION_HOST_SOCKET:
        async_to_sync(remote_set_input)(session_id, reason, marker)
    else:
        _embedded_call(session_id, lambda host: host.set_input(session_id, reason, marker))


def prepare(session: Any) -> tuple[str, str] | None:
    """Provision a new session's sandbox ahead of its owner (remote host). Embedded: the owner's attach
    does it, on the web process's loop, so this returns None without doing anything."""
    if not settings.SESSION_HOST_SOCKET:
        return None
    return async_to_sync(remote_open)(open_request(session, 120, 32))


# The web process's event loop (set at its ASGI startup, terminal/lifespan.py): where a warm start's
# opening runs without holding up the page that asked for it. None elsewhere (a worker, a shell, a test
# client): no warm starts there, the owner's attach opens the session as any.
_web_loop: asyncio.AbstractEventLoop | None = None
_warming: set[asyncio.Task[None]] = set()


def serve_warm_starts(loop: asyncio.AbstractEventLoop | None) -> None:
    global _web_loop
    _web_loop = loop


def warm(session: TerminalSession) -> bool:
    """Begin preparing a new session's sandbox (placed, provisioned, start() run, the shell waiting) and
    return at once (docs/terminal-protocol.md, Warm starts): the embedded host opens it on the web process's
    loop, or the session host is asked to, in its turn like any start. False when it cannot begin here and
    now (no web loop, low on disk, no room, a backend that cannot run it): the owner's attach opens it then,
    and says why if it still cannot."""
    loop = _web_loop
    if loop is None or loop.is_closed():
        return False
    try:
        req = open_request(session, 120, 32)
    except (TryLaterError, SandboxError) as exc:
        log.info("no warm start for session %s: %s", session.pk, exc)
        return False
    opener = remote_open if settings.SESSION_HOST_SOCKET else host_with_hooks().open_request

    async def begin() -> None:
        try:
            await opener(req)  # a refusal or failure is recorded by the host's hooks, as for any start
        except Exception:
            log.warning("the warm start of session %s did not get through", req.session_id, exc_info=True)

    def schedule() -> None:
        task = loop.create_task(begin())
        _warming.add(task)
        task.add_done_callback(_warming.discard)

    loop.call_soon_threadsafe(schedule)
    return True


def host_queue(name: str) -> str:
    """The Celery queue of a sandbox machine's own worker (`celery worker -Q celery,host.NAME`)."""
    return f"host.{name}"


def job_queue(session: TerminalSession, *, place: bool = False) -> str | None:
    """Where a session's jobs (provisioning, scoring) go: with JOBS_ON_HOST_QUEUES, the queue of its
    machine, so the worker next to its sandbox runs them (place=True places a new session first); else, or
    while it has no machine, None: the default queue."""
    if not settings.JOBS_ON_HOST_QUEUES or not settings.SESSION_HOST_SOCKET:
        return None
    if place and session.host_id is None:
        with contextlib.suppress(TryLaterError):
            terminal_session_place(session=session, provides=backend_provides)
    session.refresh_from_db(fields=["host"])
    return host_queue(session.host.name) if session.host is not None else None


def park(session_id: str) -> str | None:
    """Park the live session (it should be paused): its files into a snapshot, its sandbox ended; the
    snapshot's id, or None if it is not live. SandboxError if the backend cannot (bubblewrap) or it failed."""
    if settings.SESSION_HOST_SOCKET:
        doc = async_to_sync(_request)({"op": "park", "session_id": session_id})
        if not doc.get("ok"):
            raise SandboxError(str(doc.get("reason", "parking failed")))
        image: str | None = str(doc["image"])
    else:
        result = _embedded_call(session_id, lambda host: host.park(session_id, tag=session_id))
        image = str(result) if result is not None else None
    if image is not None:  # recorded now (the host's own report of it may come a moment later)
        terminal_session_park(session_id=session_id, image=image)
    return image


def restore(session: TerminalSession) -> None:
    """Bring a parked session back from its snapshot (files, not processes), on its machine; waits until
    the shell runs. SandboxError (or TryLaterError) if it cannot now."""
    req = open_request(session, 120, 32, restore=True)
    if settings.SESSION_HOST_SOCKET:
        refusal = async_to_sync(remote_open)(req)
    else:
        refusal = async_to_sync(host_with_hooks().open_request)(req)
    if refusal is not None:
        raise SandboxError(refusal[1])
    # Live now (the host's own report of it may come a moment later, and changes nothing then).
    terminal_session_mark_live(session_id=session.id, fingerprint=session.fingerprint)


def live_sessions() -> list[str]:
    """Ids of the sessions live right now on every session host that answers (the default one, and each
    registered machine)."""
    return sorted({sid for sids in live_by_host().values() for sid in sids})


def live_by_host() -> dict[str | None, list[str]]:
    """The sessions live on each session host that answers, by its address (None: the embedded host)."""
    if not settings.SESSION_HOST_SOCKET:
        return {None: list(host_with_hooks().sessions)}
    found: dict[str | None, list[str]] = {}
    addresses = {settings.SESSION_HOST_SOCKET, *SandboxHost.objects.values_list("address", flat=True)}
    for address in sorted(addresses):
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            found[address] = async_to_sync(remote_list)(address)
    return found


def host_of(session_id: str) -> str | None:
    """The address of the session host the session is on (None: embedded), while its row says so."""
    return host_address(session_id) if settings.SESSION_HOST_SOCKET else None


def marker(session_id: str, label: str) -> float | None:
    """Mark the recording now; returns the marker's time in seconds (None if the session is not live)."""
    if settings.SESSION_HOST_SOCKET:
        try:
            at = async_to_sync(_request)({"op": "marker", "session_id": session_id, "label": label}).get("at")
        except OSError:
            return None
        return float(at) if at is not None else None
    host = host_with_hooks()
    if host.get(session_id) is None:
        return None

    async def mark() -> float | None:
        return host.marker(session_id, label)

    result = _embedded_call(session_id, lambda _host: mark())
    return float(result) if result is not None else None


def end(session_id: str, reason: str, address: str | None = None) -> None:
    """End the live session (sandbox destroyed, recording closed); one still starting is destroyed as its
    start ends. No-op if it is neither. `address`: the session host to ask (else its machine's)."""
    if settings.SESSION_HOST_SOCKET:
        async_to_sync(remote_close)(session_id, reason, address)
    else:
        _embedded_call(session_id, lambda host: host.close(session_id, reason), starting_too=True)


def terminal_reap() -> list[str]:
    """End live sandboxes whose session is over (or unknown) in the database: nothing runs unaccounted."""
    by_host = live_by_host()
    live = [sid for sids in by_host.values() for sid in sids]
    known = {
        str(pk): status
        for pk, status in TerminalSession.objects.filter(pk__in=live).values_list("pk", "status")
    }
    reaped = []
    for address, sids in by_host.items():
        for sid in sids:
            if known.get(sid) in (None, SessionStatus.ENDED, SessionStatus.FAILED):
                end(sid, "reaped: the session is over", address)  # where it runs: its row may be gone
                reaped.append(sid)
    return reaped


class HostUnreachable(SandboxError):
    """The session host did not answer (it restarts, or hangs): the sandbox may well be there."""


def _request_within(seconds: float) -> Any:
    """A synchronous call of one session-host request that gives up after `seconds` (TimeoutError)."""

    async def call(doc: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.wait_for(_request(doc), seconds)

    return async_to_sync(call)


class RemoteSandbox(Sandbox):
    """A live sandbox owned by the session host process, used over its socket."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id

    def exec(
        self,
        argv: list[str],
        *,
        user: User,
        stdin: bytes | None = None,
        timeout: float = 60,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        max_output: int = MAX_EXEC_OUTPUT,
    ) -> ExecResult:
        request = _request_within(timeout + 30)
        try:
            doc = request(
                {
                    "op": "exec",
                    "session_id": self.id,
                    "argv": argv,
                    "user": user,
                    "stdin": base64.b64encode(stdin or b"").decode(),
                    "timeout": timeout,
                    "cwd": cwd,
                    "env": env or {},
                    "max_output": min(max_output, MAX_EXEC_OUTPUT),
                }
            )
        except (OSError, EOFError, TimeoutError) as exc:  # the host restarts, or hangs
            raise HostUnreachable(f"the session host did not answer: {exc or type(exc).__name__}") from exc
        if not doc.get("ok"):
            raise SandboxError(str(doc.get("reason", "exec failed")))
        return ExecResult(
            int(doc["returncode"]),
            base64.b64decode(doc["stdout"]),
            base64.b64decode(doc["stderr"]),
            bool(doc["timed_out"]),
            bool(doc.get("truncated")),
        )

    def pty_command(self, *, cols: int, rows: int) -> tuple[list[str], dict[str, str]]:
        raise SandboxError("the shell's PTY belongs to the session host")

    def fingerprint(self) -> dict[str, object]:
        return {}

    def destroy(self) -> None:
        end(self.id, "destroyed")


def sandbox_for(session_id: str) -> Sandbox | None:
    """The live sandbox of a terminal session, or None if it is not live."""
    if settings.SESSION_HOST_SOCKET:
        return RemoteSandbox(session_id)
    live = host_with_hooks().get(session_id)
    return live.sandbox if live is not None else None
