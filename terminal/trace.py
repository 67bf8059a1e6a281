"""Opt-in timing of each keystroke at every hop of its round trip (docs/terminal-protocol.md, "Where a
keystroke's time goes"; `bench/terminal.py --breakdown` reads it).

With TERMINAL_ECHO_TRACE=DIR in its environment, every process on a keystroke's path (the web process, the
session host's keepers, an embedded host) stamps each input frame and each output frame at each of its hops
with CLOCK_MONOTONIC nanoseconds (one clock for every process of a Linux machine, so the stamps of
different processes compare). A process's stamps go to DIR/PID.trace, created at its first stamp: fixed
records written into a shared memory map of the file, no system call per stamp (a write(2) per stamp cost
4 µs each here, as much as some of the hops it measured), and nothing lost when a keeper ends with _exit
or a process is killed. Each hop is stamped *before* the frame is handed on, and as soon as it is taken in,
so a keystroke's stamps are in time order along its path. A process stops stamping once its file holds
MAX_STAMPS.

Unset, the default: ON is False, read once at import, and each call site's `if trace.ON:` is all it costs.
Hops, in the order a keystroke meets them:

    asgi_recv   web: uvicorn handed the ASGI receive message to the consumer
    ws_recv     web: the consumer's dispatch took it (after Channels' per-message task)
    sock_send   web: the gateway writes the frame to the session host's socket (production shape)
    host_recv   keeper: the frame read off the socket (production shape)
    pty_write   keeper or embedded host: the keystroke written to the PTY's input pipe
    pty_read    keeper or embedded host: the echo read from the PTY's output pipe
    pump        keeper or embedded host: its client's pump sends the output frame
    host_send   keeper: the output frame written to the socket (production shape)
    web_recv    web: the relay read the output frame off the socket (production shape)
    ws_send     web: the consumer's send_frame called
    asgi_send   web: the consumer calls uvicorn's ASGI send
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import time
from pathlib import Path

DIR = os.environ.get("TERMINAL_ECHO_TRACE", "")
ON = bool(DIR)
INPUT = b"i"[0]  # (terminal.protocol's; this module imports nothing of the terminal's)
OUTPUT = b"o"[0]
HOPS = (
    "asgi_recv",
    "ws_recv",
    "sock_send",
    "host_recv",
    "pty_write",
    "pty_read",
    "pump",
    "host_send",
    "web_recv",
    "ws_send",
    "asgi_send",
)
SOCKET_HOPS = ("sock_send", "host_recv", "host_send", "web_recv")  # only where the host is its own process
EMBEDDED_HOPS = tuple(hop for hop in HOPS if hop not in SOCKET_HOPS)
WEB_HOPS = ("asgi_recv", "ws_recv", "sock_send", "web_recv", "ws_send", "asgi_send")  # the web process's
RECORD = struct.Struct("<q16s")  # nanoseconds, the hop's name
MAX_STAMPS = 200_000
_SIZE = RECORD.size * MAX_STAMPS

_map: mmap.mmap | None = None
_at = 0


def _forked() -> None:
    """A forked process (a keeper from its forker) stamps into a file of its own."""
    global _map, _at
    _map, _at = None, 0


def _open() -> mmap.mmap | None:
    global _map, ON
    try:
        # the stamps are every session's keystroke timings: the owner's alone, and never through a link
        Path(DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(Path(DIR) / f"{os.getpid()}.trace", flags, 0o600)
        try:
            os.ftruncate(fd, _SIZE)
            _map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
    except OSError as exc:  # a diagnostic never stops the platform
        print(f"TERMINAL_ECHO_TRACE: cannot write to {DIR}: {exc}; no trace", file=sys.stderr)
        ON = False
    return _map


if ON:
    os.register_at_fork(after_in_child=_forked)


def stamp(hop: bytes) -> None:
    """Stamp this hop now (call it only under `if trace.ON`)."""
    global _at
    m = _map if _map is not None else _open()
    if m is not None and _at < _SIZE:
        RECORD.pack_into(m, _at, time.monotonic_ns(), hop)
        _at += RECORD.size


def stamp_frame(frame: bytes | None, kind: int, hop: bytes) -> None:
    """stamp(hop) if frame is a frame of this kind (INPUT or OUTPUT): acks, status and resizes are not."""
    if frame and frame[0] == kind:
        stamp(hop)


def read(directory: str | Path) -> list[tuple[int, int, str]]:
    """The stamps of every process that traced into directory: (nanoseconds, pid, hop), in time order."""
    stamps = []
    for path in Path(directory).glob("*.trace"):
        pid = int(path.stem)
        data = path.read_bytes()
        for ns, hop in RECORD.iter_unpack(data[: len(data) - len(data) % RECORD.size]):
            if ns == 0:
                break
            stamps.append((ns, pid, hop.rstrip(b"\0").decode()))
    stamps.sort()
    return stamps


def keystroke_stamps(
    stamps: list[tuple[int, int, str]], keystrokes: list[tuple[int, int]]
) -> list[list[tuple[int, str]]]:
    """For each keystroke typed alone (its client's (sent, echo received) in nanoseconds, in order), the
    (nanoseconds, hop) stamps in between, in time order: every stamp of its round trip, and only those."""
    out = []
    i = 0
    for sent, received in keystrokes:
        while i < len(stamps) and stamps[i][0] < sent:
            i += 1
        mine = []
        while i < len(stamps) and stamps[i][0] <= received:
            mine.append((stamps[i][0], stamps[i][2]))
            i += 1
        out.append(mine)
    return out
