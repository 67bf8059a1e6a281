"""The session host as its own process, reached over a Unix socket (production): the wire format and the
host's side of it (`HostServer`, run by `manage.py session_host`). The web side's requests are in
terminal/control.py, its per-WebSocket relay in terminal/gateway.py.

Each connection starts with one JSON request, then carries the terminal frames of docs/terminal-protocol.md
unchanged in both directions. Every message is length-prefixed (4 bytes, big-endian). Requests:

    {"op": "attach", "request": AttachRequest}  -> frames, or {"ok": false, "state", "reason"}
    {"op": "open", "request": OpenRequest}      -> {"ok": true}, or {"ok": false, "state", "reason"}
    {"op": "list"}                              -> {"ok": true, "sessions": [session ids]}
    {"op": "close", "session_id", "reason"}     -> {"ok": true}
    {"op": "set_input", "session_id", "reason", "marker"} -> {"ok": true}
    {"op": "marker", "session_id", "label"}     -> {"ok": true, "at": seconds | null}
    {"op": "exec", "session_id", "argv", "user", "stdin", "timeout"} -> {"ok", "returncode", "stdout", ...}

Backpressure crosses the socket: the web side reads the next frame only after the browser's WebSocket has
taken the previous one, so the host's pump waits on a full socket and the PTY stops being read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sandbox.base import MAX_EXEC_OUTPUT, SandboxError
from terminal import protocol, trace
from terminal.host import AttachRequest, OpenRequest, SessionHost

log = logging.getLogger(__name__)
MAX_MESSAGE = 16 * 1024 * 1024  # exec results carry a command's output


async def read_message(reader: asyncio.StreamReader) -> bytes:
    size = int.from_bytes(await reader.readexactly(4), "big")
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes exceeds {MAX_MESSAGE}")
    return await reader.readexactly(size)


def frame_message(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


# -- The same messages on a raw non-blocking socket, with descriptors passed alongside (SCM_RIGHTS) -------
# A session host hands a browser's connection to the session's keeper this way (terminal/keepers.py). A raw
# socket is read exactly to the end of the first message, never beyond: what follows belongs to whoever the
# connection is handed to.
MAX_FDS = 4
FIRST_MESSAGE_TIMEOUT = 30.0


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _recv_exactly(sock: socket.socket, size: int, fds: list[int]) -> bytes:
    data = bytearray()
    while len(data) < size:
        try:
            chunk, got, _flags, _addr = socket.recv_fds(sock, size - len(data), MAX_FDS)
        except BlockingIOError:
            await _readable(sock)
            continue
        fds.extend(got)
        if not chunk:
            raise asyncio.IncompleteReadError(bytes(data), size)
        data += chunk
    return bytes(data)


async def recv_raw(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One length-prefixed message from a raw socket, and the descriptors that came with it."""
    fds: list[int] = []
    try:
        size = int.from_bytes(await _recv_exactly(sock, 4, fds), "big")
        if size > MAX_MESSAGE:
            raise ValueError(f"message of {size} bytes exceeds {MAX_MESSAGE}")
        return await _recv_exactly(sock, size, fds), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


async def send_raw(sock: socket.socket, payload: bytes, fd: int | None = None) -> None:
    """One length-prefixed message on a raw socket; with fd, that descriptor goes with its first byte."""
    data = frame_message(payload)
    if fd is not None:
        while True:
            try:
                sent = socket.send_fds(sock, [data], [fd])
                break
            except BlockingIOError:
                await asyncio.sleep(0.005)
        data = data[sent:]
    if data:
        await asyncio.get_running_loop().sock_sendall(sock, data)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


async def serve_raw(
    listener: socket.socket,
    handle: Callable[[socket.socket, dict[str, Any], list[int]], Awaitable[None]],
    tasks: set[asyncio.Task[None]],
    *,
    same_user_only: bool,
) -> None:
    """Accept connections for ever; each one's first message (a JSON request) goes to handle(conn, doc, fds),
    which owns conn from then on. With same_user_only, only this process's user (or root) may connect (an
    abstract socket has no file mode); otherwise the socket file's mode decides."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)

    async def one(conn: socket.socket) -> None:
        try:
            if same_user_only and peer_uid(conn) not in (0, os.geteuid()):
                log.warning("refused a connection from uid %d", peer_uid(conn))
                conn.close()
                return
            # A peer that connects and says nothing is not kept waiting on for ever (nor its descriptor).
            msg, fds = await asyncio.wait_for(recv_raw(conn), FIRST_MESSAGE_TIMEOUT)
            await handle(conn, json.loads(msg), fds)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            conn.close()
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("bad request: %s", exc)
            conn.close()

    while True:
        conn, _ = await loop.sock_accept(listener)
        conn.setblocking(False)
        task = asyncio.ensure_future(one(conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


class SocketClient:
    """The host's Client for one Unix-socket connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._lock = asyncio.Lock()

    async def send_frame(self, frame: bytes) -> None:
        async with self._lock:
            if trace.ON:
                trace.stamp_frame(frame, trace.OUTPUT, b"host_send")
            self.writer.write(frame_message(frame))
            await self.writer.drain()

    async def close_client(self, code: int) -> None:
        self.writer.close()


class HostServer:
    def __init__(self, host: SessionHost, path: Path) -> None:
        self.host = host
        self.path = Path(path)
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=MAX_MESSAGE)
        os.chmod(self.path, 0o660)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            doc = json.loads(await read_message(reader))
            await self.dispatch(doc, reader, SocketClient(writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (ValueError, KeyError, TypeError, protocol.ProtocolError) as exc:
            log.warning("session host: bad request: %s", exc)
        finally:
            writer.close()

    async def dispatch(self, doc: dict[str, Any], reader: asyncio.StreamReader, client: SocketClient) -> None:
        """Serve one connection whose first request, doc, has been read."""
        op = str(doc.get("op"))
        if op == "attach":
            await self._attach(doc, reader, client)
            return
        handler = {
            "open": self._open,
            "list": self._list,
            "close": self._close,
            "set_input": self._set_input,
            "exec": self._exec,
            "marker": self._marker,
            "park": self._park,
        }.get(op)
        if handler is None:
            await client.send_frame(json.dumps({"ok": False, "reason": f"unknown op {op!r}"}).encode())
        else:
            await handler(doc, client)

    async def _attach(self, doc: dict[str, Any], reader: asyncio.StreamReader, client: SocketClient) -> None:
        result = await self.host.attach_request(AttachRequest.from_json(doc["request"]), client)
        if isinstance(result, tuple):
            await client.send_frame(
                json.dumps({"ok": False, "state": result[0], "reason": result[1]}).encode()
            )
            return
        try:
            while True:
                raw = await read_message(reader)
                if trace.ON:
                    trace.stamp_frame(raw, trace.INPUT, b"host_recv")
                frame = protocol.parse_client_frame(raw)
                reply = self.host.handle_frame(result, frame)
                if reply is not None:
                    await client.send_frame(reply)
        finally:
            self.host.detach(result)

    async def _open(self, doc: dict[str, Any], client: SocketClient) -> None:
        refusal = await self.host.open_request(OpenRequest.from_json(doc["request"]))
        answer: dict[str, Any] = {"ok": refusal is None}
        if refusal is not None:
            answer.update(state=refusal[0], reason=refusal[1])
        await client.send_frame(json.dumps(answer).encode())

    async def _list(self, doc: dict[str, Any], client: SocketClient) -> None:
        await client.send_frame(json.dumps({"ok": True, "sessions": sorted(self.host.sessions)}).encode())

    async def _close(self, doc: dict[str, Any], client: SocketClient) -> None:
        await self.host.close(str(doc["session_id"]), str(doc.get("reason", "ended")))
        await client.send_frame(b'{"ok": true}')

    async def _set_input(self, doc: dict[str, Any], client: SocketClient) -> None:
        await self.host.set_input(str(doc["session_id"]), doc.get("reason"), doc.get("marker"))
        await client.send_frame(b'{"ok": true}')

    async def _exec(self, doc: dict[str, Any], client: SocketClient) -> None:
        live = self.host.get(str(doc["session_id"]))
        if live is None:
            await client.send_frame(b'{"ok": false, "reason": "no such live session"}')
            return
        ran = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: live.sandbox.exec(
                list(doc["argv"]),
                user="root" if doc.get("user") == "root" else "agent",
                stdin=base64.b64decode(doc.get("stdin") or ""),
                timeout=float(doc.get("timeout", 60)),
                cwd=doc.get("cwd"),
                env={str(k): str(v) for k, v in (doc.get("env") or {}).items()},
                max_output=min(int(doc.get("max_output", MAX_EXEC_OUTPUT)), MAX_EXEC_OUTPUT),
            ),
        )
        await client.send_frame(
            json.dumps(
                {
                    "ok": True,
                    "returncode": ran.returncode,
                    "stdout": base64.b64encode(ran.stdout).decode(),
                    "stderr": base64.b64encode(ran.stderr).decode(),
                    "timed_out": ran.timed_out,
                    "truncated": ran.truncated,
                }
            ).encode()
        )

    async def _park(self, doc: dict[str, Any], client: SocketClient) -> None:
        sid = str(doc["session_id"])
        try:
            image = await self.host.park(sid, tag=sid)
        except SandboxError as exc:
            await client.send_frame(json.dumps({"ok": False, "reason": str(exc)}).encode())
            return
        await client.send_frame(json.dumps({"ok": True, "image": image}).encode())

    async def _marker(self, doc: dict[str, Any], client: SocketClient) -> None:
        at = self.host.marker(str(doc["session_id"]), str(doc["label"]))
        await client.send_frame(json.dumps({"ok": True, "at": at}).encode())

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
