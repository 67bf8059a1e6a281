"""Our own asciicast v2 writer: output, input, resize and marker events, flushed at least every second.

The format (https://docs.asciinema.org/manual/asciicast/v2/) is NDJSON: a header object, then events
[seconds, code, data]. Output and input arrive as bytes in arbitrary chunks, so each stream has its own
incremental UTF-8 decoder: a character split across two reads is written whole, in the later event.

Output is the hot path (every byte a shell prints): ASCII chunks skip the UTF-8 decoder and events are
serialised by orjson, whose string escaping is vectorised (bench/terminal.py's recording rows: about 1 ms
per MB of terminal text, against 5-6 for json.dumps of the decoded text).

A recording has a size cap (max_bytes; RECORDING_MAX_MB): `cat /dev/urandom | base64` would otherwise grow
it by about 100 MB/s. The event that would pass the cap is written only as far as it fits, then a marker
(TRUNCATED) goes in at that point, and from then on the recording keeps a sample: the first sample_bytes of
events (output, input, resizes) of every SAMPLE_EVERY seconds after the cut, the first window starting at the
cut. The terminal itself never notices. Markers (pause, resume, submit, end...) are always written: the
platform adds them, a few per session. So a file never exceeds max_bytes + sample_bytes per minute after the
cut + its markers. The cap check is two integer comparisons per event; past the cap, events of a full
window are dropped before they are decoded or serialised.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from terminal.metrics import RECORDED_BYTES

FLUSH_INTERVAL = 0.5  # seconds; a killed process loses at most this much (the target is 1 s)
FLUSH_BYTES = 256 * 1024
SAMPLE_EVERY = 60.0  # seconds: past the cap, the first sample_bytes of each such window are kept
SAMPLE_BYTES = 64 * 1024
TRUNCATED = "recording truncated (size limit): from here, a sample of each minute"


class AsciicastWriter:
    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        title: str = "",
        env: dict[str, str] | None = None,
        clock: Any = time.monotonic,
        max_bytes: int | None = None,
        sample_bytes: int = SAMPLE_BYTES,
        on_truncate: Callable[[float], None] | None = None,
        resume: bool = False,
    ) -> None:
        """A new recording at path; with resume, the one already there goes on (a parked session restored):
        its events continue on the same time line (seconds since its header's timestamp), no new header."""
        self.path = Path(path)
        self._clock = clock
        self._t0 = clock()
        self._decoders = {
            "o": codecs.getincrementaldecoder("utf-8")("replace"),
            "i": codecs.getincrementaldecoder("utf-8")("replace"),
        }
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._last_flush = self._t0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self._t0 -= _resumed_at(self.path)
            self._file = open(self.path, "ab")  # noqa: SIM115  (closed by close())
            first = b""
            size = self.path.stat().st_size
        else:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
            self._file = os.fdopen(fd, "wb")
            header = {
                "version": 2,
                "width": width,
                "height": height,
                "timestamp": int(time.time()),
                "env": env or {"TERM": "xterm-256color", "SHELL": "/bin/bash"},
                "title": title,
            }
            first = json.dumps(header).encode() + b"\n"
            size = len(first)
        self._file.write(first)
        self._file.flush()
        self.closed = False
        self.size = size  # bytes written or pending
        # Events may grow the file up to _room: the cap, then (once passed) the end of this sample window.
        self._room = sys.maxsize if max_bytes is None else max_bytes
        self._input_ceiling = sys.maxsize if max_bytes is None else 2 * max_bytes
        self._sample_bytes = sample_bytes
        self._on_truncate = on_truncate
        self.truncated_at: float | None = None  # seconds into the recording where the cap cut it
        self._window = 0  # the sample window (SAMPLE_EVERY seconds after the cut) that _room belongs to

    def elapsed(self) -> float:
        return self._clock() - self._t0

    def _event(self, code: str, data: str, t: float, *, always: bool = False) -> None:
        if self.closed:
            return
        line = orjson.dumps([round(t, 6), code, data], option=orjson.OPT_APPEND_NEWLINE)
        if self.size + len(line) > self._room and not always:
            part = self._fit(code, data, t)
            if part is not None:
                self._append(part)
            if self.truncated_at is None:
                self._truncate(t)
            else:
                self._room = self.size  # this window's sample is complete
            return
        self._append(line)

    def _append(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_bytes += len(line)
        self.size += len(line)
        if self._pending_bytes >= FLUSH_BYTES or self._clock() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def _fit(self, code: str, data: str, t: float) -> bytes | None:
        """The event with as much of its text as fits in the room left, or None if nothing does."""
        if code not in ("o", "i"):
            return None
        left = self._room - self.size - len(orjson.dumps([round(t, 6), code, ""])) - 1
        # A character takes 1 to 6 bytes in JSON (\u001b): try the optimistic cut, then the safe one.
        for chars in (left, left // 6):
            if chars <= 0:
                return None
            line = orjson.dumps([round(t, 6), code, data[:chars]], option=orjson.OPT_APPEND_NEWLINE)
            if self.size + len(line) <= self._room:
                return line
        return None

    def _truncate(self, t: float) -> None:
        self.truncated_at = t
        self._event("m", TRUNCATED, t, always=True)
        self._window = 0
        self._room = self.size + self._sample_bytes
        self.flush()
        if self._on_truncate is not None:
            self._on_truncate(t)

    def _sampling(self, t: float, cut: float) -> bool:
        """Past the cap (cut at `cut`): whether an event at t is in a sample (opening a window when due)."""
        window = int((t - cut) // SAMPLE_EVERY)
        if window != self._window:
            self._window = window
            self._room = self.size + self._sample_bytes
            for decoder in self._decoders.values():
                decoder.reset()  # what came before was skipped: no character continues across the gap
        return self.size < self._room

    def _time(self, at: float | None) -> float:
        return self.elapsed() if at is None else at

    def _text(self, code: str, data: bytes) -> str:
        """This stream's next characters: a character split across reads waits for its end."""
        decoder = self._decoders[code]
        if data.isascii() and not decoder.getstate()[0]:
            return data.decode("ascii")  # the common case: nothing held back, no UTF-8 to check
        return decoder.decode(data)

    def output(self, data: bytes, at: float | None = None) -> None:
        t = self._time(at)
        cut = self.truncated_at
        if cut is not None and not self._sampling(t, cut):
            return
        text = self._text("o", data)
        if text:
            self._event("o", text, t)

    def input(self, data: bytes, at: float | None = None) -> None:
        """What the contractor typed or pasted. Past the cap it is kept whole (a flood of output must not
        blind the record of what was typed), up to a ceiling of twice the cap."""
        t = self._time(at)
        cut = self.truncated_at
        if cut is not None and self.size >= self._input_ceiling:
            return
        text = self._text("i", data)
        if text:
            self._event("i", text, t, always=cut is not None)

    def resize(self, cols: int, rows: int, at: float | None = None) -> None:
        t = self._time(at)
        cut = self.truncated_at
        if cut is not None and not self._sampling(t, cut):
            return
        self._event("r", f"{cols}x{rows}", t)

    def marker(self, label: str, at: float | None = None) -> None:
        """Markers are the platform's (start, pause, submit...): always written, cap or not."""
        self._event("m", label.encode("utf-8", "replace").decode(), self._time(at), always=True)

    def flush(self) -> None:
        """Write what is pending to the OS (a crash of this process loses nothing written)."""
        if self._pending and not self.closed:
            self._file.write(b"".join(self._pending))
            self._file.flush()
            RECORDED_BYTES.inc(self._pending_bytes)
            self._pending.clear()
            self._pending_bytes = 0
        self._last_flush = self._clock()

    def close(self) -> None:
        if self.closed:
            return
        for code, decoder in self._decoders.items():
            tail = decoder.decode(b"", final=True)
            if tail:
                self._event(code, tail, self.elapsed())
        self.flush()
        self._file.close()
        self.closed = True


def _resumed_at(path: Path) -> float:
    """Where a resumed recording's time line stands now: seconds since its header's timestamp (wall time),
    and never before its last event."""
    with path.open("rb") as f:
        header = json.loads(f.readline())
        f.seek(max(0, path.stat().st_size - 65536))
        tail = f.read().splitlines()
    last = 0.0
    for line in reversed(tail):
        try:
            last = float(json.loads(line)[0])
            break
        except (ValueError, TypeError, KeyError, IndexError):
            continue
    return max(last, time.time() - float(header.get("timestamp", time.time())))
