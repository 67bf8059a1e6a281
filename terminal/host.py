"""The session host: owns each live session's sandbox, its shell's PTY, the recorder and a replay buffer.

It outlives WebSocket connections: a client attaches, detaches, reattaches (resuming from the last byte
it rendered) and the shell never notices. In the embedded default it runs on the web process's event
loop; in production it is its own process (`manage.py session_host`, terminal/remote.py) and the web
process reaches it over a Unix socket with the same frames.

Flow control: the PTY is read only while the bytes not yet acknowledged by the session's owner (the
contractor) stay under HIGH_WATERMARK; reading resumes below LOW_WATERMARK. A slow or absent reader
therefore pauses the shell's output (as a terminal with scroll lock would) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import logging
import mmap
import os
import resource
import struct
import subprocess
import termios
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from config.logs import about_session
from sandbox import Backend, Limits, Sandbox, SandboxError, SandboxSpec, get_backend
from tasks.family_runner import run_start
from terminal import metrics, protocol, trace
from terminal.recording import FLUSH_INTERVAL, SAMPLE_BYTES, AsciicastWriter

log = logging.getLogger(__name__)

HIGH_WATERMARK = 512 * 1024
LOW_WATERMARK = 128 * 1024
RING_SIZE = 4 * 1024 * 1024
MAX_FRAME = 128 * 1024
COALESCE_SECONDS = 0.0  # yield once to the PTY reader before sending a partial frame
INTERACTIVE_BYTES = 4096  # less than this pending is sent at once: keystroke echo is never delayed
READ_SIZE = 64 * 1024
READ_BATCH = 256 * 1024
MAX_RESPAWNS = 5

Role = Literal["owner", "watcher"]

# Sandboxes are started from these long-lived threads: bwrap dies with the thread that forked its
# launcher (PR_SET_PDEATHSIG), so never from a short-lived one. The pool's threads live as long as the host.
_SANDBOX_THREADS = ThreadPoolExecutor(max_workers=4 + 2 * (os.cpu_count() or 2), thread_name_prefix="sandbox")

# Errors of the machine, not of the task: the session is refused for now ("unavailable": nothing started,
# the browser retries), never failed.
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOSPC, errno.EAGAIN, errno.EDQUOT}
HOST_FULL = (
    "this machine is running as many sessions as it may ({n}); please wait a few minutes, the page retries "
    "by itself"
)
OUT_OF_RESOURCES = (
    "the platform is short of {what} right now; please wait a few minutes, the page retries by itself"
)


class Unavailable(Exception):
    """The session cannot start here now (the host is full, the machine is out of descriptors or memory);
    nothing was started and the session may be opened again later."""


class StartQueue:
    """Sandbox starts, first come first served, at most `slots` at once (a burst of Start presses queues
    instead of sharing the CPU until every start is slow); whoever waits can be told their place."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.running = 0  # starts under way
        self.waiting: list[tuple[str, asyncio.Future[None]]] = []

    def position(self, key: str) -> int:
        """1 for the next to start, 2 after it, ...; 0 when starting (or not queued)."""
        for i, (k, _) in enumerate(self.waiting):
            if k == key:
                return i + 1
        return 0

    async def acquire(self, key: str) -> None:
        """Wait for a turn (cancelled: the place is given up, or the turn passed on if it had come)."""
        if self.running < self.slots and not self.waiting:
            self.running += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((key, granted))
        metrics.STARTS_WAITING.inc()
        started = time.perf_counter()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()
            else:
                self.waiting = [(k, f) for k, f in self.waiting if f is not granted]
            raise
        finally:
            metrics.STARTS_WAITING.dec()
            metrics.START_WAIT_SECONDS.observe(time.perf_counter() - started)

    def release(self) -> None:
        self.running -= 1
        while self.waiting and self.running < self.slots:
            _, granted = self.waiting.pop(0)
            if not granted.done():
                self.running += 1
                granted.set_result(None)

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        await self.acquire(key)
        try:
            yield
        finally:
            self.release()

    async def tell(
        self, key: str, waiting: asyncio.Future[Any], send: Callable[[bytes], Awaitable[None]]
    ) -> None:
        """Until `waiting` is done: while `key` waits for its turn, tell the client its place."""
        told = 0
        while True:
            place = 0 if waiting.done() else self.position(key)
            if place != told:
                doc = {"state": "queued", "position": place} if place else {"state": "starting"}
                await send(protocol.status_frame({**doc, "input": False}))
                told = place
            if waiting.done():
                return
            await asyncio.wait({waiting}, timeout=0.25)

    async def turn_telling(self, key: str, send: Callable[[bytes], Awaitable[None]]) -> None:
        """acquire(), telling the waiting client its place (status frames) while it waits."""
        acquiring = asyncio.ensure_future(self.acquire(key))
        try:
            await asyncio.sleep(0)  # in the line (or started) before the first word
            await self.tell(key, acquiring, send)
            await acquiring
        except BaseException:
            if acquiring.done() and not acquiring.cancelled() and acquiring.exception() is None:
                self.release()
            else:
                acquiring.cancel()
            raise


def start_slots() -> int:
    """How many sandboxes start at once by default: two per core (a start is CPU in its launcher and the
    family's start(), with waits between; measured here, 20 starts took 1.25 s one per core, 1.08 s two per
    core, 1.10 s four per core)."""
    return 2 * (os.cpu_count() or 2)


def unavailable_for(exc: BaseException) -> Unavailable | None:
    """The refusal for an error that is the machine's (out of descriptors, memory, disk), else None."""
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
        what = {errno.EMFILE: "open files", errno.ENFILE: "open files", errno.ENOSPC: "disk space",
                errno.EDQUOT: "disk space"}.get(exc.errno or 0, "memory")  # fmt: skip
        return Unavailable(OUT_OF_RESOURCES.format(what=what))
    return None


class Client(Protocol):
    """Where an attachment's frames go: a WebSocket consumer, or a Unix-socket connection."""

    async def send_frame(self, frame: bytes) -> None: ...

    async def close_client(self, code: int) -> None: ...


@dataclass(frozen=True)
class OpenRequest:
    """What the host needs to start a session: given by the web side, which knows the database."""

    session_id: str
    spec: SandboxSpec
    recording_path: Path
    title: str = ""
    cols: int = 80
    rows: int = 24
    # (family, task) whose start(t) runs as root in the new sandbox before the shell exists.
    start: tuple[str, str] | None = None
    method_timeout: float = 600
    # The recording's size cap (None: none) and, past it, how much of each minute it keeps (recording.py).
    recording_max_bytes: int | None = None
    recording_sample_bytes: int = SAMPLE_BYTES
    # A parked session coming back (spec.restore_image): its recording goes on, and it is told so.
    restored: bool = False

    def to_json(self) -> dict[str, Any]:
        spec = dataclasses.asdict(self.spec)
        spec["family_dir"] = str(self.spec.family_dir)
        return {
            "session_id": self.session_id,
            "spec": spec,
            "recording_path": str(self.recording_path),
            "title": self.title,
            "cols": self.cols,
            "rows": self.rows,
            "start": list(self.start) if self.start else None,
            "method_timeout": self.method_timeout,
            "recording_max_bytes": self.recording_max_bytes,
            "recording_sample_bytes": self.recording_sample_bytes,
            "restored": self.restored,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OpenRequest:
        spec = dict(doc["spec"])
        spec["family_dir"] = Path(spec["family_dir"])
        spec["permissions"] = tuple(spec["permissions"])
        spec["limits"] = Limits(**spec["limits"])
        return cls(
            session_id=doc["session_id"],
            spec=SandboxSpec(**spec),
            recording_path=Path(doc["recording_path"]),
            title=doc.get("title", ""),
            cols=int(doc["cols"]),
            rows=int(doc["rows"]),
            start=(str(doc["start"][0]), str(doc["start"][1])) if doc.get("start") else None,
            method_timeout=float(doc.get("method_timeout", 600)),
            recording_max_bytes=(
                int(doc["recording_max_bytes"]) if doc.get("recording_max_bytes") is not None else None
            ),
            recording_sample_bytes=int(doc.get("recording_sample_bytes", SAMPLE_BYTES)),
            restored=bool(doc.get("restored", False)),
        )


@dataclass(frozen=True)
class AttachRequest:
    """A client asks to attach; open is given only when the session is new and this is its owner."""

    session_id: str
    role: Role
    offset: int
    cols: int
    rows: int
    open: OpenRequest | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "role": self.role,
            "offset": self.offset,
            "cols": self.cols,
            "rows": self.rows,
            "open": self.open.to_json() if self.open else None,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AttachRequest:
        role: Role = "owner" if doc.get("role") == "owner" else "watcher"
        return cls(
            session_id=str(doc["session_id"]),
            role=role,
            offset=max(0, int(doc.get("offset", 0))),
            cols=int(doc.get("cols", 80)),
            rows=int(doc.get("rows", 24)),
            open=OpenRequest.from_json(doc["open"]) if doc.get("open") else None,
        )


SHUTDOWN = "the session host stopped (server shutdown); the sandbox is gone"
PARKED = "parked while paused: the files are kept; running processes were stopped"
RESTORED_NOTICE = (
    "\r\n[this session was parked while it was paused and is now restored: your files are all here, "
    "but the programs that were running did not survive]\r\n"
)
GONE = "this session's sandbox no longer exists (the session host restarted or the session ended)"


class RingBuffer:
    """The last `size` bytes of output, addressed by absolute offsets since the session started.

    A fixed circular buffer: appending copies the bytes once into place, nothing is ever moved. It is
    anonymous memory: pages a quiet session never writes are never committed.
    """

    def __init__(self, size: int = RING_SIZE) -> None:
        self.size = size
        self.buf = mmap.mmap(-1, size)
        self.end = 0  # absolute offset just after the newest byte

    @property
    def start(self) -> int:
        """Absolute offset of the oldest byte still held."""
        return max(0, self.end - self.size)

    def append(self, data: bytes) -> None:
        total = len(data)
        view = memoryview(data)[-self.size :]
        pos = (self.end + total - len(view)) % self.size
        first = min(len(view), self.size - pos)
        self.buf[pos : pos + first] = view[:first]
        self.buf[: len(view) - first] = view[first:]
        self.end += total

    def read(self, offset: int, limit: int) -> bytes:
        n = min(limit, self.end - offset)
        if n <= 0 or offset < self.start:
            return b""
        pos = offset % self.size
        if pos + n <= self.size:
            return self.buf[pos : pos + n]
        return self.buf[pos:] + self.buf[: pos + n - self.size]

    def replay_start(self) -> int:
        """Where a client that must start over begins: the oldest byte, or once the ring has wrapped, the
        line after the first newline near it, so that a replay rarely starts inside an escape sequence."""
        start = self.start
        if start == 0:
            return 0
        head = self.read(start, 4096)
        nl = head.find(b"\n")
        return start + nl + 1 if nl >= 0 else start


@dataclass(eq=False)
class Attachment:
    session: LiveSession
    client: Client
    role: Role
    sent: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    closed: bool = False


# The shell's output reaches this process through a copier: `cat` reading the PTY's master into a pipe
# of PIPE_SIZE. The PTY's own kernel buffer is small, so a shell whose output is read by the event loop
# waits whenever the loop is busy (recording, WebSocket sends); the copier keeps it writing meanwhile, and
# the loop reads the pipe in large batches. Measured (bench/terminal.py's pipeline rows): the same sandboxed
# `cat` read by a loop doing 10 ms of work per MB: 52 MB/s from the PTY, 90 MB/s through the copier.
# The master's O_NONBLOCK flag is shared by every descriptor of it, and the copier needs it blocking, so input
# takes a copier too (a pipe to `cat` writing the master). Both die with this process (setpriv's pdeathsig),
# and the output copier ends, closing its pipe, when the shell's side of the PTY is gone (read() gives EIO).
PIPE_SIZE = 1024 * 1024
COPIER = ("setpriv", "--pdeathsig", "KILL", "--", "cat")


def _copier(src: int, dst: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        COPIER,
        stdin=src,
        stdout=dst,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,  # a Ctrl-C to the server's process group is not for them
    )


class Pty:
    """A shell's PTY master and the two copiers between it and this process."""

    def __init__(self, master: int) -> None:
        self.master = master  # blocking, held for window-size changes; the copiers do the I/O
        self.copiers: list[subprocess.Popen[bytes]] = []
        self.output = self.input = -1
        try:
            out_r, out_w = os.pipe()
            self.output = out_r  # what the shell prints (non-blocking)
            try:
                with contextlib.suppress(OSError):  # beyond pipe-max-size or the user's quota: what we get
                    fcntl.fcntl(out_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
                self.copiers.append(_copier(master, out_w))
            finally:
                os.close(out_w)
            os.set_blocking(out_r, False)
            self._start_input()
        except BaseException:
            for fd in (self.output, self.input):
                if fd >= 0:
                    os.close(fd)
            self.kill()
            self.reap()
            raise

    def _start_input(self) -> None:
        """A pipe, and a copier from it into the master: what is typed (self.input, non-blocking)."""
        in_r, in_w = os.pipe()
        try:
            copier = _copier(in_r, self.master)
        except BaseException:
            os.close(in_w)
            raise
        finally:
            os.close(in_r)
        os.set_blocking(in_w, False)
        self.input = in_w
        self.copiers.append(copier)

    def replace_input(self) -> None:
        """A new input copier and pipe, for one that died (killed from outside); the shell never notices."""
        old = self.input
        self._start_input()
        os.close(old)
        self.copiers = [p for p in self.copiers if p.poll() is None]  # poll() reaps the dead one

    def close(self) -> None:
        """Close this process's descriptors; the copiers then end (EOF on input, EPIPE or EIO on output)."""
        for name in ("output", "input", "master"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def kill(self) -> None:
        for proc in self.copiers:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def reap(self) -> None:
        """Wait for the copiers (blocking: run it off the event loop); kill one that lingers."""
        for proc in self.copiers:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class LiveSession:
    def __init__(self, host: SessionHost, req: OpenRequest, sandbox: Sandbox) -> None:
        self.host = host
        self.id = req.session_id
        self.sandbox = sandbox
        self.cols, self.rows = req.cols, req.rows
        self.ring = RingBuffer()
        self.recorder = AsciicastWriter(
            req.recording_path,
            width=req.cols,
            height=req.rows,
            title=req.title,
            max_bytes=req.recording_max_bytes,
            sample_bytes=req.recording_sample_bytes,
            on_truncate=self._recording_truncated,
            resume=req.restored,
        )
        self.attachments: set[Attachment] = set()
        self.acked = 0
        self.reading = False
        self.input_reason: str | None = None  # why input is refused (paused, ended), None when allowed
        self.ended = False
        self.end_reason = ""
        self.pty: Pty | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._pending_input = bytearray()
        self._echo_from = 0.0  # perf_counter of a keystroke written whose echo has not been read yet
        self._respawns: list[float] = []
        self.last_input = datetime.now(UTC)  # wall time of the last keystroke (idle detection)
        self.idle_reported = False
        self.owner_gone_at: datetime | None = None  # when the last owner connection went away
        self.owner_left_reported = False
        self.owner_attached_once = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self.parking = False  # the shell is being stopped for good: no new one
        self.loop = asyncio.get_running_loop()

    # -- the shell ------------------------------------------------------------------------------
    def spawn_shell(self) -> None:
        argv, env = self.sandbox.pty_command(cols=self.cols, rows=self.rows)
        master, slave = os.openpty()
        _set_winsize(slave, self.cols, self.rows)
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        try:
            self.pty = Pty(master)
        except OSError as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
            os.close(master)
            raise SandboxError(f"could not start the terminal's copiers: {exc}") from exc
        self._start_reading()

    # The output pipe is read on this event loop, in batches of up to READ_BATCH, only while the
    # flow-control window is open. (A reader thread was tried: handing every batch across the GIL cost more
    # than it saved, 67 MB/s against 100 for the same bare pipeline.)
    def _start_reading(self) -> None:
        if not self.reading and not self.ended and self.pty is not None:
            self.reading = True
            self.loop.add_reader(self.pty.output, self._on_readable)

    def _stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            if self.pty is not None:
                self.loop.remove_reader(self.pty.output)

    def _window_left(self) -> int:
        return HIGH_WATERMARK - (self.ring.end - self.acked)

    def _on_readable(self) -> None:
        pty = self.pty
        if pty is None:
            return
        chunks: list[bytes] = []
        size = 0
        eof = False
        limit = min(READ_BATCH, max(READ_SIZE, self._window_left()))
        while size < limit:
            try:
                chunk = os.read(pty.output, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("session %s: reading the shell's output failed: %s", self.id, exc)
                eof = True
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
            size += len(chunk)
        if chunks:
            if trace.ON:
                trace.stamp(b"pty_read")
            if self._echo_from:
                metrics.ECHO_SECONDS.observe(time.perf_counter() - self._echo_from)
                self._echo_from = 0.0
            self.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if self._window_left() <= 0:
                self._stop_reading()
        if eof:  # the copier ended: every process holding the PTY's slave is gone, the shell exited
            self._shell_exited(pty)

    def _shell_exited(self, pty: Pty) -> None:
        if pty is not self.pty or self.ended or self.parking:
            return
        self.kill_shell()  # the copier may have died first: never wait on a live shell
        status = self.proc.wait() if self.proc else -1
        self._close_pty()
        now = time.monotonic()
        self._respawns = [t for t in self._respawns if now - t < 10] + [now]
        if len(self._respawns) > MAX_RESPAWNS:
            self.host.spawn(self.host.close(self.id, "the shell keeps exiting"))
            return
        # The sandbox and its files are still there: give the contractor a new shell in it.
        self.feed(f"\r\n[shell exited with status {status}; starting a new login shell]\r\n".encode())
        try:
            self.spawn_shell()
        except (SandboxError, OSError) as exc:
            self.host.spawn(self.host.close(self.id, f"could not start a new shell: {exc}"))

    def kill_shell(self) -> None:
        """Kill the shell's process group, if it still runs."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)

    def _close_pty(self) -> None:
        self._stop_reading()  # first: it unregisters the pipe from the loop
        pty, self.pty = self.pty, None
        if pty is None:
            return
        if self._pending_input:
            self.loop.remove_writer(pty.input)
            self._pending_input.clear()  # typed for a shell that is gone
        pty.close()
        self.host.spawn(self.loop.run_in_executor(None, pty.reap))

    def feed(self, data: bytes) -> None:
        """Output for the clients and the recording: the shell's, or the platform's own notices."""
        self.ring.append(data)
        self.recorder.output(data)
        self._schedule_flush()
        for att in self.attachments:
            att.wake.set()

    # -- input ----------------------------------------------------------------------------------
    def write_input(self, data: bytes) -> None:
        self.last_input = datetime.now(UTC)
        self.idle_reported = False
        self.recorder.input(data)
        self._schedule_flush()
        if self.pty is None:
            return
        if self._pending_input:
            self._pending_input += data
            return
        if not self._echo_from:
            self._echo_from = time.perf_counter()
        if trace.ON:
            trace.stamp(b"pty_write")
        try:
            n = os.write(self.pty.input, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            if not self._input_lost(exc):
                return
            n = 0
        if n < len(data):  # the shell is not reading (a big paste): queue and write when it can take more
            if not self._pending_input:
                self.loop.add_writer(self.pty.input, self._on_writable)
            self._pending_input += data[n:]

    def _on_writable(self) -> None:
        if self.pty is None:
            return
        try:
            n = os.write(self.pty.input, self._pending_input[:MAX_FRAME])
        except BlockingIOError:
            return
        except OSError as exc:
            if not self._input_lost(exc):
                self._pending_input.clear()
            return  # the writer is registered again on the new pipe, or input is over
        del self._pending_input[:n]
        if not self._pending_input:
            self.loop.remove_writer(self.pty.input)

    def _input_lost(self, exc: OSError) -> bool:
        """The input copier is gone (killed from outside): start another on the same PTY, so the shell is
        never left deaf. False (and the session ends) if that fails too."""
        pty = self.pty
        if pty is None:
            return False
        log.warning("session %s: the input copier is gone (%s); starting another", self.id, exc)
        if self._pending_input:
            self.loop.remove_writer(pty.input)
        try:
            pty.replace_input()
        except OSError as again:
            self._pending_input.clear()
            self.host.spawn(self.host.close(self.id, f"the terminal's input is broken: {again}"))
            return False
        if self._pending_input:
            self.loop.add_writer(pty.input, self._on_writable)
        return True

    def resize(self, cols: int, rows: int) -> None:
        if (cols, rows) == (self.cols, self.rows):
            return
        self.cols, self.rows = cols, rows
        if self.pty is not None:
            _set_winsize(self.pty.master, cols, rows)
        self.recorder.resize(cols, rows)
        self._schedule_flush()

    def ack(self, att: Attachment, offset: int) -> None:
        offset = min(offset, att.sent)
        # (every ack frame comes here: the owner, the common case, short-circuits)
        if att.role == "owner" or not any(a.role == "owner" for a in self.attachments):
            self.acked = max(self.acked, offset)
        if not self.reading and self.ring.end - self.acked < LOW_WATERMARK:
            self._start_reading()

    # -- recording ------------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_later(FLUSH_INTERVAL, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self.recorder.flush()

    def _recording_truncated(self, at: float) -> None:
        """The recording reached its cap (the terminal goes on): tell the platform, once."""
        log.warning("session %s: recording truncated at %.1f s (size limit)", self.id, at)
        for hook in self.host.on_recording_truncated:
            self.host.spawn(hook(self.id, at))

    # -- status ---------------------------------------------------------------------------------
    def status(self, att: Attachment | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "state": "parked" if self.parking else "ended" if self.ended else "live",
            "input": self.input_reason is None and not self.ended,
            "reason": self.end_reason if self.ended else (self.input_reason or ""),
            "cols": self.cols,
            "rows": self.rows,
        }
        if att is not None:
            doc["role"] = att.role
        doc.update(self.host.status_extra.get(self.id, {}))
        return doc

    async def broadcast_status(self) -> None:
        for att in list(self.attachments):
            await _safe_send(att, protocol.status_frame(self.status(att)))


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def _safe_send(att: Attachment, frame: bytes) -> None:
    if att.closed:
        return
    try:
        await att.client.send_frame(frame)
    except Exception:  # a client that went away mid-send is detached by its own disconnect
        att.closed = True


class SessionHost:
    def __init__(self) -> None:
        self.sessions: dict[str, LiveSession] = {}
        self._opening: dict[str, asyncio.Future[LiveSession]] = {}
        self.status_extra: dict[str, dict[str, Any]] = {}  # e.g. the clock, set by the web side
        # Hooks where the platform records what happened (the database lives outside this module).
        self.on_live: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []
        self.on_failed: list[Callable[[str, str], Awaitable[None]]] = []
        # A new session was refused for now (the machine full or short): nothing started, nothing to record.
        self.on_refused: list[Callable[[str, str], Awaitable[None]]] = []
        self.on_end: list[Callable[[str, str], Awaitable[None]]] = []
        # Activity the clock cares about: (session_id, time). Idle gives the last input's time.
        self.on_idle: list[Callable[[str, datetime], Awaitable[None]]] = []
        self.on_owner_left: list[Callable[[str, datetime], Awaitable[None]]] = []
        self.on_owner_back: list[Callable[[str, datetime], Awaitable[None]]] = []
        # The first time the session's owner is attached to the live shell (the clock starts then).
        self.on_owner_attached: list[Callable[[str, datetime], Awaitable[None]]] = []
        # The session was parked (its files kept in this image; the sandbox is gone, and no on_end follows).
        self.on_parked: list[Callable[[str, str], Awaitable[None]]] = []
        # The recording reached its size cap, at this many seconds into it.
        self.on_recording_truncated: list[Callable[[str, float], Awaitable[None]]] = []
        # The session's shell could not be reached because of the platform from the first time to the
        # second (its session host was down): reported by a session host that adopts a keeper.
        self.on_platform_outage: list[Callable[[str, datetime, datetime], Awaitable[None]]] = []
        self.backend: Backend | None = None  # None: the configured one (a keeper is given its own)
        self.idle_after = 600.0  # seconds without input before on_idle (the web side sets it from settings)
        self.disconnect_grace = 60.0  # seconds without an owner connection before on_owner_left
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ended_while_opening: set[str] = set()
        # the most live (and starting) sessions it takes; 0: no limit (set from SESSION_HOST_CAPACITY)
        self.capacity = 0
        self.start_queue = StartQueue(start_slots())

    def spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def attach_request(self, req: AttachRequest, client: Client) -> Attachment | tuple[str, str]:
        """Attach to a live session, opening it first if asked to; else a (state, reason) refusal."""
        live = self.get(req.session_id)
        if live is None and req.open is not None:
            await client.send_frame(protocol.status_frame({"state": "starting", "input": False}))
            opening = asyncio.ensure_future(self.open_request(req.open))
            try:
                await self.start_queue.tell(req.session_id, opening, client.send_frame)
                refusal = await opening
            finally:
                opening.cancel()  # (the opening itself goes on, shielded: see open())
            if refusal is not None:
                return refusal
            live = self.get(req.session_id)
        if live is None:
            return ("ended", GONE)
        att = await self.attach(live, client, req.role, req.offset)
        if req.role == "owner":
            live.resize(req.cols, req.rows)
            if not live.owner_attached_once:
                live.owner_attached_once = True
                # Idle counts from here: a sandbox prepared ahead (a warm start) waited without input, and
                # none of that is the owner's idleness (nor may an idle report from then hold for now).
                live.last_input = datetime.now(UTC)
                live.idle_reported = False
                for attached in self.on_owner_attached:
                    await attached(req.session_id, datetime.now(UTC))
        return att

    def is_opening(self, session_id: str) -> bool:
        return session_id in self._opening

    def open_count(self) -> int:
        """Sessions live or starting here (what capacity bounds)."""
        return len(self.sessions) + len(self._opening)

    async def open_request(self, req: OpenRequest) -> tuple[str, str] | None:
        """Provision without attaching (a job prepares the environment before the contractor arrives).
        A refusal is ("unavailable", why): nothing started, try later; or ("failed", why): this start
        failed (recorded through on_failed). Either way the log names the real error."""
        if self.get(req.session_id) is not None:
            return None
        try:
            live = await self.open(req)
        except Exception as exc:
            refused = exc if isinstance(exc, Unavailable) else unavailable_for(exc)
            if refused is not None:
                log.warning("session %s refused for now: %r", req.session_id, exc)
                for refuse in self.on_refused:
                    await refuse(req.session_id, str(refused))
                return ("unavailable", str(refused))
            if isinstance(exc, SandboxError):
                log.warning("session %s could not start: %s", req.session_id, exc)
                reason = f"could not start the sandbox: {exc}"
            else:  # a bug of ours: the contractor is told what happened; the log has the traceback
                log.exception("session %s could not start", req.session_id)
                reason = f"the platform could not start the sandbox ({type(exc).__name__}: {exc})"
            for failed in self.on_failed:
                await failed(req.session_id, reason)
            return ("failed", reason)
        for went_live in self.on_live:
            await went_live(req.session_id, live.sandbox.fingerprint())
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self, req: OpenRequest) -> LiveSession:
        """Provision the sandbox, run start(), spawn the shell. Concurrent calls share one opening.

        The opening runs as its own task: a client that disconnects while start() runs (a page reload)
        does not cancel it, so the sandbox is registered, never leaked, and the next attach finds it.
        """
        if req.session_id in self.sessions:
            return self.sessions[req.session_id]
        if req.session_id not in self._opening:
            if self.capacity and self.open_count() >= self.capacity:
                metrics.STARTS.labels("refused").inc()
                raise Unavailable(HOST_FULL.format(n=self.capacity))
            self._opening[req.session_id] = asyncio.ensure_future(self._open(req))
        return await asyncio.shield(self._opening[req.session_id])

    async def _open(self, req: OpenRequest) -> LiveSession:
        about_session(req.session_id)  # this opening's own task: its log lines name the session
        loop = asyncio.get_running_loop()
        try:
            async with self.start_queue.turn(req.session_id):
                with metrics.PROVISION_SECONDS.time():
                    sandbox = await loop.run_in_executor(_SANDBOX_THREADS, _provision, req, self.backend)
            session: LiveSession | None = None
            try:
                if req.session_id in self._ended_while_opening:
                    raise SandboxError("the session was ended while it was starting")
                session = LiveSession(self, req, sandbox)
                session.recorder.marker("restored" if req.restored else "start")
                session.spawn_shell()
                if req.restored:
                    session.feed(RESTORED_NOTICE.encode())
            except BaseException:
                if session is not None:
                    session.recorder.close()
                    with contextlib.suppress(OSError):
                        req.recording_path.unlink()
                await loop.run_in_executor(_SANDBOX_THREADS, sandbox.destroy)
                raise
            self.sessions[req.session_id] = session
            metrics.LIVE_SESSIONS.inc()
            metrics.STARTS.labels("live").inc()
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
            return session
        except Exception as exc:  # counted once here: every caller sharing this opening gets it
            metrics.STARTS.labels(
                "refused" if isinstance(exc, Unavailable) or unavailable_for(exc) else "failed"
            ).inc()
            raise
        finally:
            self._opening.pop(req.session_id, None)
            self._ended_while_opening.discard(req.session_id)

    async def _watch(self) -> None:
        """Every few seconds: report sessions idle too long and owners gone too long (once each)."""
        while self.sessions:
            await asyncio.sleep(max(0.2, min(self.idle_after, self.disconnect_grace) / 10))
            now = datetime.now(UTC)
            for sid, s in list(self.sessions.items()):
                if s.ended or s.input_reason is not None:
                    continue  # paused or ending: nothing to report
                if not s.idle_reported and (now - s.last_input).total_seconds() >= self.idle_after:
                    s.idle_reported = True
                    for idle in self.on_idle:
                        self.spawn(idle(sid, s.last_input))
                gone = s.owner_gone_at
                if (
                    gone is not None
                    and not s.owner_left_reported
                    and (now - gone).total_seconds() >= self.disconnect_grace
                ):
                    s.owner_left_reported = True
                    for left in self.on_owner_left:
                        self.spawn(left(sid, gone))

    def get(self, session_id: str) -> LiveSession | None:
        return self.sessions.get(session_id)

    async def park(self, session_id: str, tag: str) -> str:
        """Park a (paused) session: stop its shell and every process of the agent, keep its files in an
        image (Sandbox.snapshot), end the sandbox; the session is not over (on_parked, not on_end). An
        OpenRequest with spec.restore_image and restored=True brings it back. SandboxError if it cannot."""
        session = self.sessions.get(session_id)
        if session is None or session.ended:
            raise SandboxError("the session is not live")
        session.parking = True
        session.input_reason = PARKED
        session.recorder.marker("parked")
        session.recorder.flush()
        session.kill_shell()
        session._close_pty()
        loop = asyncio.get_running_loop()
        try:
            image = await loop.run_in_executor(_SANDBOX_THREADS, session.sandbox.snapshot, tag)
        except SandboxError:
            session.parking = False
            session.input_reason = None
            session.spawn_shell()  # not parked after all: the contractor gets a shell back
            raise
        await self.close(session_id, PARKED, report=False)
        for parked in self.on_parked:
            await parked(session_id, image)
        return image

    async def close(self, session_id: str, reason: str, *, report: bool = True) -> None:
        """End the session: refuse input, close the recording, destroy the sandbox, tell every client.
        report=False: no on_end (a parked session is not over)."""
        session = self.sessions.pop(session_id, None)
        if session is None and session_id in self._opening:
            self._ended_while_opening.add(session_id)  # open() destroys it instead of registering it
        if session is None or session.ended:
            return
        session.ended = True
        session.end_reason = reason
        metrics.LIVE_SESSIONS.dec()
        session._stop_reading()
        if report:
            session.recorder.marker("end")
        session.recorder.close()
        if session._flush_handle:
            session._flush_handle.cancel()
        session.kill_shell()
        session._close_pty()
        loop = asyncio.get_running_loop()
        # The sandbox goes first: a client that stopped reading must not keep it alive.
        await loop.run_in_executor(_SANDBOX_THREADS, session.sandbox.destroy)
        for att in list(session.attachments):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(att.client.send_frame(protocol.status_frame(session.status(att))), 2)
            self.detach(att)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(att.client.close_client(4000), 2)
        if session.proc:
            await loop.run_in_executor(None, session.proc.wait)
        for callback in self.on_end if report else []:
            await callback(session_id, reason)

    async def shutdown(self) -> None:
        for sid in list(self.sessions):
            await self.close(sid, SHUTDOWN)

    # -- clients --------------------------------------------------------------------------------
    async def attach(self, session: LiveSession, client: Client, role: Role, offset: int) -> Attachment:
        att = Attachment(session=session, client=client, role=role)
        if role == "owner" and session.owner_gone_at is not None:
            session.owner_gone_at = None
            if session.owner_left_reported:
                session.owner_left_reported = False
                for back in self.on_owner_back:
                    self.spawn(back(session.id, datetime.now(UTC)))
        ring = session.ring
        if offset < ring.start or offset > ring.end:
            # Too old (or bogus): start clean from the oldest line we still hold.
            await client.send_frame(protocol.reset_frame())
            offset = ring.replay_start()
        att.sent = offset
        if role == "owner":
            session.acked = max(session.acked, offset)
        session.attachments.add(att)
        try:
            await client.send_frame(protocol.status_frame(session.status(att)))
        except BaseException:
            self.detach(att)
            raise
        att.task = asyncio.ensure_future(self._pump(att))
        att.wake.set()
        session.ack(att, offset)
        return att

    def detach(self, att: Attachment) -> None:
        att.closed = True
        session = att.session
        session.attachments.discard(att)
        if att.role == "owner" and not any(a.role == "owner" for a in session.attachments):
            session.owner_gone_at = session.owner_gone_at or datetime.now(UTC)
        if att.task is not None and att.task is not asyncio.current_task():
            att.task.cancel()

    async def _pump(self, att: Attachment) -> None:
        """Send this client everything after what it has, in frames of at most MAX_FRAME bytes."""
        session, ring = att.session, att.session.ring
        try:
            while not att.closed:
                await att.wake.wait()
                att.wake.clear()
                if ring.end - att.sent > INTERACTIVE_BYTES and ring.end - att.sent < MAX_FRAME:
                    await asyncio.sleep(COALESCE_SECONDS)
                while not att.closed and att.sent < ring.end:
                    if att.sent < ring.start:  # a slow watcher fell off the ring
                        await att.client.send_frame(protocol.reset_frame())
                        att.sent = ring.replay_start()
                    chunk = ring.read(att.sent, MAX_FRAME)
                    frame = protocol.output_frame(att.sent, chunk)
                    att.sent += len(chunk)
                    if trace.ON:
                        trace.stamp(b"pump")
                    await att.client.send_frame(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("session %s: client went away: %s", session.id, exc)
            att.closed = True
            session.attachments.discard(att)

    def handle_frame(self, att: Attachment, frame: protocol.ClientFrame) -> bytes | None:
        """Apply one client frame; return a status frame to send back when the frame was refused."""
        session = att.session
        if frame.kind == protocol.ACK:
            session.ack(att, frame.offset)
            return None
        if att.role != "owner":
            if frame.kind in (protocol.INPUT, protocol.RESIZE):
                return protocol.status_frame({**session.status(att), "refused": "watchers cannot type"})
            return None
        if frame.kind == protocol.INPUT:
            if session.ended or session.input_reason is not None:
                why = session.end_reason if session.ended else session.input_reason
                return protocol.status_frame({**session.status(att), "refused": f"input refused: {why}"})
            session.write_input(frame.data)
        elif frame.kind == protocol.RESIZE:
            session.resize(frame.cols, frame.rows)
        return None

    async def set_input(self, session_id: str, reason: str | None, marker: str | None = None) -> None:
        """Refuse input with a reason (paused) or allow it again (None); optionally mark the recording."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        session.input_reason = reason
        if marker:
            session.recorder.marker(marker)
            session.recorder.flush()
        await session.broadcast_status()

    def marker(self, session_id: str, label: str) -> float | None:
        """Add a labelled marker to the recording; returns its time in seconds."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        at = session.recorder.elapsed()
        session.recorder.marker(label, at)
        session.recorder.flush()
        return at


def _provision(req: OpenRequest, backend: Backend | None) -> Sandbox:
    sandbox = (backend or get_backend()).provision(req.spec)
    try:
        if req.start is not None:
            family, task = req.start
            run_start(sandbox, family_name=family, task_name=task, timeout=req.method_timeout)
    except BaseException:
        sandbox.destroy()
        raise
    return sandbox


def raise_descriptor_limit() -> int:
    """A process holding sessions raises its soft limit of open descriptors to the hard one (each session
    holds some: docs/terminal-protocol.md, Keepers); returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


_HOST: SessionHost | None = None


def embedded_host() -> SessionHost:
    """The in-process session host (embedded mode), created on first use."""
    global _HOST
    if _HOST is None:
        raise_descriptor_limit()
        _HOST = SessionHost()
    return _HOST
