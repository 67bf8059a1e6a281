"""python -m terminal.keeper: one live session's keeper, the process that holds its sandbox and its shell.

A session host (`manage.py session_host`) starts one keeper per session and hands it everything of that
session: provisioning, start(), the shell's PTY, the ring buffer, the recording, the browsers' connections
(passed over as file descriptors: terminal/keepers.py). The keeper is not the session host's child for
long (it forks away and runs in its own process session), loads no Django and no database driver, and is
told nothing by the session host's death: a deploy, an OOM kill or a crash of the session host leaves the
shell, its processes and its files alone. A session host that starts finds the keepers of its instance
(their abstract Unix sockets, listed in /proc/net/unix) and adopts them. It is one process per session, as
conmon is per container, so that no keeper's crash can take another session with it.

While no session host is attached ("the link", a connection the keeper's host keeps open), the keeper
goes on reading the shell and recording, under the same flow control (terminal/host.py: an absent reader
pauses the shell's output, nothing is dropped); input is refused with PLATFORM_REASON, which the browser
shows; the events the platform must record (idle, the session's end...) wait in order for the next host.
The adopting host is told when the link was lost: the clock is paused, reason `platform`, for exactly that
outage (docs/terminal-protocol.md, "Keepers").

Its socket is abstract (`@baselines-keeper/<instance>/<session id>`): no file to leave behind, and gone
when the keeper is. Sandboxes have their own network namespace, so they cannot reach it; on the host only
the platform's own user (or root) may connect (SO_PEERCRED).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from setproctitle import setproctitle

from config.logs import about_session, log_to
from sandbox import backend_from_config
from terminal.host import SessionHost, raise_descriptor_limit
from terminal.remote import MAX_MESSAGE, HostServer, SocketClient, recv_raw, send_raw, serve_raw

log = logging.getLogger("terminal.keeper")

PREFIX = "baselines-keeper"
PLATFORM_REASON = "the platform is reconnecting, your time is paused"
# What a keeper tells its host, in order: SessionHost's hooks, by name (on_<name>).
EVENTS = (
    "live",
    "failed",
    "end",
    "idle",
    "owner_left",
    "owner_back",
    "owner_attached",
    "recording_truncated",
    "parked",
    "refused",
)
FINAL = ("end", "failed", "parked", "refused")  # the keeper exits once its host has the event
MAX_PENDING = 10_000


def instance_of(socket_path: str) -> str:
    """Names one platform instance on this machine (its session host's socket): two instances never adopt
    each other's keepers."""
    key = f"{socket.gethostname()}:{os.path.abspath(socket_path)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def address(instance: str, session_id: str) -> str:
    return f"\0{PREFIX}/{instance}/{session_id}"


def live_keepers(instance: str) -> list[str]:
    """Session ids of the keepers of `instance` listening on this machine (this network namespace)."""
    prefix = f"@{PREFIX}/{instance}/"
    found = set()
    with open("/proc/net/unix") as table:
        next(table)
        for line in table:
            fields = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; 00010000 is a listening socket
            if len(fields) >= 8 and fields[3] == "00010000" and fields[7].startswith(prefix):
                found.add(fields[7][len(prefix) :])
    return sorted(found)


def keeper_pids(*session_ids: str) -> list[int]:
    """The pids of the keepers holding these sessions (their command lines name them), in one pass over
    /proc, for ps-like tools, tests and benches."""
    wanted = {sid.encode() for sid in session_ids}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:  # (a keeper from the forker has its title there, one string; a new one its argv)
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").split()
            except OSError:
                continue
            if b"terminal.keeper" in argv and wanted.intersection(argv):
                found.append(int(entry))
    return found


def hang_up(sock: socket.socket) -> None:
    """End a connection that another task may be waiting on: shutdown wakes that task (it reads the end
    and closes the socket itself). Closing it here instead would free its descriptor's number while the
    waiting task still has it registered with the event loop: a new socket given the same number would
    then have its registration removed by the old task's cleanup, and wait for ever."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def encode_args(args: tuple[Any, ...]) -> list[Any]:
    return [{"$dt": a.isoformat()} if isinstance(a, datetime) else a for a in args]


def decode_args(args: list[Any]) -> list[Any]:
    return [datetime.fromisoformat(a["$dt"]) if isinstance(a, dict) and "$dt" in a else a for a in args]


class Keeper:
    def __init__(self, config: dict[str, Any], listener: socket.socket) -> None:
        self.session_id = str(config["session_id"])
        self.listener = listener
        self.host = SessionHost()
        self.host.backend = backend_from_config(config["backend"])
        self.host.idle_after = float(config.get("idle_after", 600))
        self.host.disconnect_grace = float(config.get("disconnect_grace", 60))
        self.server = HostServer(self.host, Path(os.devnull))  # its requests, served on our connections
        self.link: socket.socket | None = None
        self.lost_at: float | None = None
        self.had_link = False
        self.saved_reason: str | None = None  # the input reason the outage replaced
        self.pending: list[bytes] = []
        self.finished = False
        self.done = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        for name in EVENTS:
            getattr(self.host, f"on_{name}").append(self._emitter(name))

    def _emitter(self, name: str) -> Any:
        async def emit(session_id: str, *args: Any) -> None:
            if name in FINAL:
                self.finished = True
            if name == "live" and self.link is None and self.had_link:
                self._outage_begins()  # went live while no host was there
            message = json.dumps({"event": name, "args": encode_args(args)}).encode()
            if len(self.pending) < MAX_PENDING or name in FINAL:
                self.pending.append(message)
            await self._flush()

        return emit

    async def _flush(self) -> None:
        async with self._send_lock:
            while self.pending and self.link is not None:
                try:
                    await send_raw(self.link, self.pending[0])
                except OSError:
                    self._link_lost(self.link)
                    return
                self.pending.pop(0)
            if self.finished and not self.pending and self.link is not None:
                self.done.set()

    # -- the link to the session host ----------------------------------------------------------------
    async def _adopt(self, conn: socket.socket) -> None:
        old, self.link = self.link, conn
        if old is not None:
            hang_up(old)
        live = self.host.get(self.session_id)
        state = "live" if live else ("opening" if self.session_id in self.host._opening else "none")
        reply = {
            "ok": True,
            "session_id": self.session_id,
            "state": "ended" if self.finished else state,
            "sandbox_id": live.sandbox.id if live else None,
            "lost_at": self.lost_at,
            "pid": os.getpid(),
        }
        await send_raw(conn, json.dumps(reply).encode())
        self.had_link = True
        if self.lost_at is not None:
            self._outage_ends()
        await self._flush()
        try:
            while True:  # a host sends nothing more on its link: this only waits for its end
                _, fds = await recv_raw(conn)
                for fd in fds:
                    os.close(fd)
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        self._link_lost(conn)
        conn.close()  # here only: this task is the one waiting on it

    def _link_lost(self, conn: socket.socket) -> None:
        if self.link is not conn:
            return
        self.link = None
        hang_up(conn)
        log.warning("session %s: the session host went away; keeping the shell", self.session_id)
        self._outage_begins()

    def _outage_begins(self) -> None:
        if self.lost_at is None:
            self.lost_at = time.time()
        live = self.host.get(self.session_id)
        if live is None or live.ended or live.input_reason == PLATFORM_REASON:
            return
        self.saved_reason, live.input_reason = live.input_reason, PLATFORM_REASON
        live.recorder.marker("platform outage")
        live.recorder.flush()
        self.host.spawn(live.broadcast_status())

    def _outage_ends(self) -> None:
        self.lost_at = None
        live = self.host.get(self.session_id)
        if live is None or live.ended or live.input_reason != PLATFORM_REASON:
            return
        live.input_reason, self.saved_reason = self.saved_reason, None
        live.recorder.marker("platform back")
        live.recorder.flush()
        self.host.spawn(live.broadcast_status())

    # -- connections -----------------------------------------------------------------------------------
    async def handle(self, conn: socket.socket, doc: dict[str, Any], fds: list[int]) -> None:
        op = doc.get("op")
        if op == "handover" and len(fds) == 1:
            await self._handover(conn, doc, fds[0])
            return
        for fd in fds:
            os.close(fd)
        if op == "adopt":
            await self._adopt(conn)
            return
        await self._serve(conn, doc)
        if op == "close" and doc.get("now"):
            self.done.set()  # no host will come for the end event (`session_host --end-all`)

    async def _handover(self, conn: socket.socket, doc: dict[str, Any], fd: int) -> None:
        """A browser's connection, passed by the session host after it read the attach request: from here
        the frames go straight between it and this process."""
        client_sock = socket.socket(fileno=fd)
        client_sock.setblocking(False)
        with contextlib.suppress(OSError):
            await send_raw(conn, b'{"ok": true}')
        conn.close()
        attach = {"op": "attach", "request": doc["request"]}
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await self._serve(client_sock, attach)

    async def _serve(self, sock: socket.socket, doc: dict[str, Any]) -> None:
        """Serve one connection whose first request, doc, has been read (exactly: the session host reads a
        raw socket to the end of the request and no further) with this keeper's HostServer."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE, loop=loop)
        transport, protocol = await loop.connect_accepted_socket(
            lambda: asyncio.StreamReaderProtocol(reader), sock
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            await self.server.dispatch(doc, reader, SocketClient(writer))
        finally:
            writer.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        serve = serve_raw(self.listener, self.handle, self._tasks, same_user_only=True)
        serving = asyncio.ensure_future(serve)
        stopped = asyncio.ensure_future(stop.wait())
        finished = asyncio.ensure_future(self.done.wait())
        await asyncio.wait({stopped, finished}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set() and not self.finished:  # stopped from outside: end cleanly, sandbox and all
            await self.host.close(self.session_id, "the session's keeper was stopped")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), 5)
        serving.cancel()
        self.listener.close()
        if self._tasks:  # replies in flight (the close that ended the session)
            await asyncio.wait(set(self._tasks), timeout=5)
        for task in (stopped, finished):
            task.cancel()


def become_keeper(config: dict[str, Any], reply: Callable[[str], None]) -> None:
    """In a fresh process (a new interpreter, or a child of the forker): listen on the session's address,
    fork away from the caller, say "ready" through reply (or "exists": the session has a keeper), and run
    the keeper until its session is over. Returns only in the process that made the caller's child."""
    raise_descriptor_limit()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address(str(config["instance"]), str(config["session_id"])))
    except OSError:
        listener.close()
        reply("exists")  # this session already has a keeper
        return
    listener.listen(64)
    if os.fork() > 0:
        listener.close()
        return  # the caller reaps this parent at once: the keeper belongs to no platform process
    os.setsid()
    if config.get("log_file"):  # (a keeper forked by the forker: its own log, as a new one has on stderr)
        log_fd = os.open(str(config["log_file"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    setproctitle(f"python -m terminal.keeper {config['session_id']}")  # what ps shows of a new one
    about_session(config["session_id"])
    log_to(
        sys.stderr, text_format=f"%(asctime)s keeper[{os.getpid()}] %(session_id)s %(levelname)s %(message)s"
    )
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reply("ready")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        asyncio.run(Keeper(config, listener).run())
    finally:
        os._exit(0)  # never back into the caller's code (the forker's loop)


def replier(stdout: Any) -> Callable[[str], None]:
    """How a keeper that starts answers its caller: one word, one line, at once."""

    def reply(word: str) -> None:
        stdout.write(f"{word}\n")
        stdout.flush()

    return reply


def forker(stdin: Any, stdout: Any) -> int:
    """`python -m terminal.keeper --forker`: a session host's keeper factory. Everything a keeper needs is
    imported once here; each request (a keeper's configuration, one JSON line on stdin) forks a keeper
    from this process, which answers "ready" or "exists" (one line on stdout) as a new keeper does: a few
    milliseconds instead of a new interpreter's ~100 ms of CPU, and the pages the keepers share stay shared.
    It holds no session and no socket, runs no thread, and ends when its session host closes stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the session host's ^C is the session host's
    gc.freeze()  # what is here now stays shared with every keeper: the collector never writes to it
    for line in stdin:
        config = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                become_keeper(config, replier(stdout))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    return 0


def main() -> int:
    """Read the configuration (JSON) from stdin, listen, fork away from the caller, say "ready" on stdout;
    with --forker, serve keepers' configurations one per line instead (forker())."""
    if sys.argv[1:2] == ["--forker"]:
        return forker(sys.stdin, sys.stdout)
    become_keeper(json.loads(sys.stdin.buffer.read()), replier(sys.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
