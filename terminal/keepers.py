"""The session host's side of the keepers (terminal/keeper.py): start one per session, adopt those alive at
start, hand each browser connection to its session's keeper, forward every other request.

`manage.py session_host` serves SESSION_HOST_SOCKET with `KeeperHostServer`. Requests arrive as in
terminal/remote.py. An attach is read exactly to the end of its request and its connection is then passed,
as a file descriptor, to the keeper, which speaks to the web process directly from there on: the session
host is not on the keystroke's path, and its death cuts no terminal. Other requests (open, close,
set_input, marker, exec) are forwarded to the keeper on a connection of their own. Each keeper's events
(the session went live, idle, ended...) come back on its link and go to the same hooks as an in-process
host's (terminal/control.py's `install_hooks`: the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import SandboxError
from sandbox.base import readable
from terminal import protocol
from terminal.host import (
    GONE,
    HOST_FULL,
    AttachRequest,
    OpenRequest,
    SessionHost,
    Unavailable,
    unavailable_for,
)
from terminal.keeper import EVENTS, FINAL, address, decode_args, hang_up, live_keepers
from terminal.remote import MAX_MESSAGE, frame_message, read_message, recv_raw, send_raw, serve_raw

log = logging.getLogger(__name__)

KEEPER_DIED = "the session's keeper process died, and its sandbox with it"
REPO = Path(__file__).resolve().parents[1]


def _session_id(value: object) -> str:
    """A session id as given in a request: a UUID, or ValueError (it names the keeper and its log file)."""
    return str(uuid.UUID(str(value)))


def keeper_process(arg: str, log_file: Path) -> subprocess.Popen[bytes]:
    """`python -m terminal.keeper ARG` (a session's id, or --forker), in its own process session, its
    stderr to log_file, pipes on stdin and stdout; the session host's environment without Django (nothing
    in a keeper may reach for the settings without failing loudly)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    with log_file.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "terminal.keeper", arg],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


class Forker:
    """The session host's keeper factory: `python -m terminal.keeper --forker` (terminal/keeper.py's
    forker()), started on first use and again after it died; asked one keeper at a time (a JSON line out,
    "ready" or "exists" back). Its keepers fork away from it: none of them is its child or the session
    host's, and its end (stdin closed, with the session host) ends no session."""

    TIMEOUT = 60.0

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _running(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.proc = keeper_process("--forker", self.log_dir / "forker.log")
        return self.proc

    def spawn(self, config: dict[str, Any]) -> str:
        """Ask for a keeper; its answer ("ready", "exists"), or OSError if the forker did not give one."""
        with self.lock:
            proc = self._running()
            assert proc.stdin is not None and proc.stdout is not None  # noqa: S101  (pipes, as asked)
            try:
                proc.stdin.write(json.dumps(config).encode() + b"\n")
                proc.stdin.flush()
                if not readable(proc.stdout, self.TIMEOUT):
                    raise TimeoutError("the keeper forker did not answer")
                answer = proc.stdout.readline().decode().strip()
            except OSError:
                self._stop(proc)
                raise
            if not answer:
                self._stop(proc)
                raise ConnectionError(f"the keeper forker ended (exit {proc.poll()}; see its log)")
            return answer

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait()
        self.proc = None

    def close(self) -> None:
        """Its end (it reads stdin to the end and exits); no keeper is touched."""
        with self.lock:
            if self.proc is not None and self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
            self.proc = None


class KeeperHost(SessionHost):
    """A session host whose sessions each live in a keeper process; it holds a link to each."""

    def __init__(self, *, instance: str, backend: dict[str, Any], log_dir: Path) -> None:
        super().__init__()
        self.instance = instance
        self.backend_config = backend
        self.log_dir = Path(log_dir)
        self.links: dict[str, socket.socket] = {}
        self._finished: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        # resolved by the keeper's first live, failed, end or refused (a start's turn lasts until then)
        self._starting: dict[str, asyncio.Future[str]] = {}
        self.stopping = False
        self.forker = Forker(self.log_dir)

    def open_count(self) -> int:
        return len(set(self.links) | set(self._starting))

    # -- keepers ----------------------------------------------------------------------------------------
    async def adopt_all(self) -> list[str]:
        """Adopt every keeper of this instance alive on this machine; returns the sandbox ids they hold."""
        held = []
        for sid in live_keepers(self.instance):
            doc = await self.adopt(sid)
            if doc is not None and doc.get("sandbox_id"):
                held.append(str(doc["sandbox_id"]))
        if held:
            log.warning("adopted %d live sessions", len(held))
        return held

    async def _connect(self, sid: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, address(self.instance, sid))
        except BaseException:
            sock.close()
            raise
        return sock

    async def adopt(self, sid: str) -> dict[str, Any] | None:
        """Become the keeper's host: its queued events follow; an outage it lived through is reported."""
        try:
            sock = await self._connect(sid)
        except OSError as exc:
            log.warning("session %s: cannot reach its keeper: %s", sid, exc)
            return None
        try:
            await send_raw(sock, b'{"op": "adopt"}')
            msg, fds = await asyncio.wait_for(recv_raw(sock), 30)
            for fd in fds:
                os.close(fd)
            doc = dict(json.loads(msg))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            sock.close()
            log.warning("session %s: its keeper did not answer: %s", sid, exc)
            return None
        old = self.links.pop(sid, None)
        if old is not None:
            hang_up(old)  # its listener closes it
        self.links[sid] = sock
        lost = doc.get("lost_at")
        if lost is not None and doc.get("state") == "live":
            start, end = datetime.fromtimestamp(float(lost), UTC), datetime.now(UTC)
            seconds = (end - start).total_seconds()
            log.warning("session %s: adopted after %.1f s without a session host", sid, seconds)
            for outage in self.on_platform_outage:
                await _logged(outage(sid, start, end), sid, "platform_outage")
        self.spawn(self._listen(sid, sock))
        return doc

    async def _listen(self, sid: str, sock: socket.socket) -> None:
        """The keeper's events, in order, to this host's hooks; then notice if it went without a word."""
        try:
            while True:
                msg, fds = await recv_raw(sock)
                for fd in fds:
                    os.close(fd)
                doc = json.loads(msg)
                name = doc.get("event")
                if name not in EVENTS:
                    continue
                self._start_settled(sid, name, doc)
                if name in FINAL:  # the keeper exits next: no request may go to it any more
                    self._finished.add(sid)
                    if self.links.get(sid) is sock:
                        del self.links[sid]
                for hook in list(getattr(self, f"on_{name}")):
                    await _logged(hook(sid, *decode_args(list(doc.get("args") or []))), sid, name)
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        finally:
            sock.close()
        if sid in self._finished:
            self._locks.pop(sid, None)
            return
        if self.links.get(sid) is not sock:
            return  # replaced by a newer link
        del self.links[sid]
        self._locks.pop(sid, None)
        if self.stopping:
            return
        self._start_settled(sid, "failed", {})
        log.error("session %s: %s", sid, KEEPER_DIED)
        for failed in self.on_failed:
            await _logged(failed(sid, KEEPER_DIED), sid, "failed")

    def _start_settled(self, sid: str, event: str, doc: dict[str, Any]) -> None:
        """A starting session's keeper said it is live, failed, ended or refused: its turn is over."""
        started = self._starting.get(sid)
        if started is not None and not started.done() and event in ("live", "failed", "end", "refused"):
            started.set_result(event)
        if event == "failed" and doc:
            log.error("session %s failed: %s", sid, (doc.get("args") or [""])[0])

    async def ensure(self, sid: str) -> None:
        """The session's keeper, started if it has none, and linked to this host (SandboxError if not;
        Unavailable when the machine is short of processes or descriptors)."""
        lock = self._locks.setdefault(sid, asyncio.Lock())
        async with lock:
            if sid in self.links:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._start_keeper, sid)
            except OSError as exc:
                short = unavailable_for(exc)
                raise short or SandboxError(f"the session's keeper did not start: {exc}") from exc
            if await self.adopt(sid) is None:
                raise SandboxError("the session's keeper started but does not answer")

    @contextlib.asynccontextmanager
    async def starting(self, sid: str, send: Any = None) -> AsyncIterator[asyncio.Future[str]]:
        """A new session's start, in its turn (StartQueue: `send` is told the place while it waits), held
        until its keeper says it is live, failed, ended or refused (the future given)."""
        started = self._starting.get(sid)  # (a second attach of the same new session shares its start)
        if started is None:
            if self.capacity and self.open_count() >= self.capacity:
                raise Unavailable(HOST_FULL.format(n=self.capacity))
            started = self._starting[sid] = asyncio.get_running_loop().create_future()
        try:
            if send is None:
                await self.start_queue.acquire(sid)
            else:
                await self.start_queue.turn_telling(sid, send)
            try:
                yield started
            finally:
                self.start_queue.release()
        finally:
            if self._starting.get(sid) is started:
                del self._starting[sid]

    def _start_keeper(self, sid: str) -> None:
        """Start the session's keeper: forked by the forker (a few ms), or, if the forker cannot, as a new
        interpreter (~100 ms of CPU). SandboxError if neither started it."""
        self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        logfile = self.log_dir / f"{sid}.log"
        config = {
            "instance": self.instance,
            "session_id": sid,
            "backend": self.backend_config,
            "idle_after": self.idle_after,
            "disconnect_grace": self.disconnect_grace,
        }
        try:
            if self.forker.spawn({**config, "log_file": str(logfile)}) in ("ready", "exists"):
                return
        except OSError as exc:
            if unavailable_for(exc):
                raise
            log.warning("the keeper forker failed (%s): starting the keeper of %s as a new process", exc, sid)
        proc = keeper_process(sid, logfile)  # the id: which keeper is which, in ps
        try:
            out, _ = proc.communicate(json.dumps(config).encode(), timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out = b""
        if out.strip() not in (b"ready", b"exists"):
            raise SandboxError(f"the session's keeper did not start (exit {proc.returncode}; see {logfile})")

    async def forward(self, sid: str, doc: dict[str, Any]) -> dict[str, Any]:
        return await keeper_request(self.instance, sid, doc)

    async def shutdown(self) -> None:
        """This process stops (a deploy, a restart): its keepers, and every session, go on without it."""
        self.stopping = True
        self.forker.close()
        for sock in self.links.values():
            hang_up(sock)  # each link's listener closes its own
        self.links.clear()


async def keeper_request(instance: str, sid: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One request to a session's keeper, on its own connection; its answer."""
    reader, writer = await asyncio.open_unix_connection(address(instance, sid), limit=MAX_MESSAGE)
    try:
        writer.write(frame_message(json.dumps(doc).encode()))
        await writer.drain()
        return dict(json.loads(await read_message(reader)))
    finally:
        writer.close()


async def _logged(call: Any, sid: str, what: str) -> None:
    try:
        await call
    except Exception:
        log.exception("session %s: recording %s failed", sid, what)


# What a request for a session with no keeper gets (nothing to do, or nothing there).
NO_KEEPER: dict[str, dict[str, Any]] = {
    "close": {"ok": True},
    "set_input": {"ok": True},
    "marker": {"ok": True, "at": None},
    "exec": {"ok": False, "reason": "no such live session"},
    "park": {"ok": False, "reason": "no such live session"},
}


class KeeperHostServer:
    """SESSION_HOST_SOCKET, and SESSION_HOST_LISTEN (TCP) if given, served by a KeeperHost (the wire format
    of terminal/remote.py). On TCP every request must carry the platform's shared secret ("auth")."""

    def __init__(self, host: KeeperHost, path: Path, *, listen: str = "", secret: str = "") -> None:
        self.host = host
        self.path = Path(path)
        self.listen = listen
        self.secret = secret
        self.listeners: list[socket.socket] = []
        self.serving: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(str(self.path))
        os.chmod(self.path, 0o660)
        unix.listen(512)
        # SESSION_HOST_SOCKET's mode (0660) decides who connects: in compose the web process is another user
        self._serve(unix, self.handle)
        if self.listen:
            if not self.secret:
                raise SandboxError("SESSION_HOST_LISTEN needs SESSION_HOST_SECRET: a host is never open")
            address, _, port = self.listen.rpartition(":")
            tcp = socket.create_server((address, int(port)), backlog=512, reuse_port=False)
            self._serve(tcp, self.handle_tcp)

    def _serve(self, listener: socket.socket, handle: Any) -> None:
        self.listeners.append(listener)
        self.serving.append(
            asyncio.ensure_future(serve_raw(listener, handle, self._tasks, same_user_only=False))
        )

    async def handle_tcp(self, conn: socket.socket, doc: dict[str, Any], fds: list[int]) -> None:
        """A request from another machine: only with the shared secret (compared in constant time)."""
        given = str(doc.get("auth", ""))
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            for fd in fds:
                os.close(fd)
            log.warning("refused a request without the shared secret from %s", _peer(conn))
            with contextlib.suppress(OSError):
                await send_raw(conn, b'{"ok": false, "reason": "not authenticated"}')
            conn.close()
            return
        await self.handle(conn, doc, fds)

    async def handle(self, conn: socket.socket, doc: dict[str, Any], fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        try:
            op = doc.get("op")
            if op == "attach":
                await self._attach(conn, doc)
                return
            if op == "list":
                reply: dict[str, Any] = {"ok": True, "sessions": sorted(self.host.links)}
            elif op == "open":
                reply = await self._open(doc)
            elif op in NO_KEEPER:
                sid = _session_id(doc["session_id"])
                reply = await self.host.forward(sid, doc) if sid in self.host.links else NO_KEEPER[op]
            else:
                reply = {"ok": False, "reason": f"unknown op {op!r}"}
            await send_raw(conn, json.dumps(reply).encode())
        finally:
            conn.close()

    async def _open(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Provision a session (a job, before its contractor arrives): in its turn, as an attach."""
        req = OpenRequest.from_json(doc["request"])
        sid = _session_id(req.session_id)
        if sid in self.host.links:
            return await self.host.forward(sid, doc)
        try:
            async with self.host.starting(sid):
                await self.host.ensure(sid)
                return await self.host.forward(sid, doc)
        except Unavailable as exc:
            log.warning("session %s refused for now: %s", sid, exc)
            return {"ok": False, "state": "unavailable", "reason": str(exc)}
        except SandboxError as exc:
            return {"ok": False, "state": "failed", "reason": await self._start_failed(sid, exc)}

    async def _start_failed(self, sid: str, exc: Exception) -> str:
        reason = f"could not start the sandbox: {exc}"
        log.error("session %s: %s", sid, reason)
        for failed in self.host.on_failed:
            await _logged(failed(sid, reason), sid, "failed")
        return reason

    async def _attach(self, conn: socket.socket, doc: dict[str, Any]) -> None:
        req = AttachRequest.from_json(doc["request"])
        sid = _session_id(req.session_id)
        if sid in self.host.links or req.open is None:
            await self._handover(conn, doc, sid)
            return
        await send_raw(conn, protocol.status_frame({"state": "starting", "input": False}))
        refusal: dict[str, Any]
        try:
            async with self.host.starting(sid, lambda frame: send_raw(conn, frame)) as started:
                await self.host.ensure(sid)
                if await self._handover(conn, doc, sid):  # the keeper starts the sandbox now: wait for it
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(started), req.open.method_timeout + 60)
            return
        except Unavailable as exc:
            log.warning("session %s refused for now: %s", sid, exc)
            refusal = {"ok": False, "state": "unavailable", "reason": str(exc)}
        except SandboxError as exc:
            refusal = {"ok": False, "state": "failed", "reason": await self._start_failed(sid, exc)}
        with contextlib.suppress(OSError):
            await send_raw(conn, json.dumps(refusal).encode())

    async def _handover(self, conn: socket.socket, doc: dict[str, Any], sid: str) -> bool:
        """Pass the browser's connection to the session's keeper (False: it has none, and was told)."""
        try:
            if sid not in self.host.links:
                raise ConnectionRefusedError
            keeper = await self.host._connect(sid)
        except OSError:  # none, or it ended a moment ago
            await send_raw(conn, json.dumps({"ok": False, "state": "ended", "reason": GONE}).encode())
            return False
        try:
            handover = {"op": "handover", "request": doc["request"]}
            await send_raw(keeper, json.dumps(handover).encode(), fd=conn.fileno())
            await asyncio.wait_for(recv_raw(keeper), 30)
        finally:
            keeper.close()
        return True

    async def close(self) -> None:
        for task in self.serving:
            task.cancel()
        for listener in self.listeners:
            listener.close()


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername())
    except OSError:
        return "?"


def end_all(instance: str, reason: str) -> list[str]:
    """End every session whose keeper belongs to `instance` on this machine, with or without its session
    host (`manage.py session_host --end-all`, and test teardown): sandboxes destroyed, keepers gone."""

    async def end(sid: str) -> None:
        request = {"op": "close", "session_id": sid, "reason": reason, "now": True}
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            await asyncio.wait_for(keeper_request(instance, sid, request), 60)

    async def all_of_them() -> list[str]:
        sids = live_keepers(instance)
        await asyncio.gather(*(end(sid) for sid in sids))
        return sids

    return asyncio.run(all_of_them())
