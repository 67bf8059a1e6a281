"""Our own asciicast v2 writer: output, input, resize and marker events, flushed at least every second.

The format (https://docs.asciinema.org/manual/asciicast/v2/) is NDJSON: a header object, then events
[seconds, code, data]. Output and input arrive as bytes in arbitrary chunks, so each stream has its own
incremental UTF-8 decoder: a character split across two reads is written whole, in the later event.

Output is the hot path (every byte a shell prints): ASCII chunks skip the UTF-8 decoder and events are
serialised by orjson, whose string escaping is vectorised (bench/terminal.py's recording rows: about 1 ms
per MB of terminal text, against 5-6 for json.dumps of the decoded text).
"""

from __future__ import annotations

import codecs
import json
import os
import time
from pathlib import Path
from typing import Any

import orjson

FLUSH_INTERVAL = 0.5  # seconds; a killed process loses at most this much (the target is 1 s)
FLUSH_BYTES = 256 * 1024


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
    ) -> None:
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
        self._file.write(json.dumps(header).encode() + b"\n")
        self._file.flush()
        self.closed = False

    def elapsed(self) -> float:
        return self._clock() - self._t0

    def _event(self, code: str, data: str, at: float | None = None) -> None:
        if self.closed:
            return
        t = self.elapsed() if at is None else at
        line = orjson.dumps([round(t, 6), code, data], option=orjson.OPT_APPEND_NEWLINE)
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= FLUSH_BYTES or self._clock() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def _text(self, code: str, data: bytes) -> str:
        """This stream's next characters: a character split across reads waits for its end."""
        decoder = self._decoders[code]
        if data.isascii() and not decoder.getstate()[0]:
            return data.decode("ascii")  # the common case: nothing held back, no UTF-8 to check
        return decoder.decode(data)

    def output(self, data: bytes, at: float | None = None) -> None:
        text = self._text("o", data)
        if text:
            self._event("o", text, at)

    def input(self, data: bytes, at: float | None = None) -> None:
        text = self._text("i", data)
        if text:
            self._event("i", text, at)

    def resize(self, cols: int, rows: int, at: float | None = None) -> None:
        self._event("r", f"{cols}x{rows}", at)

    def marker(self, label: str, at: float | None = None) -> None:
        self._event("m", label.encode("utf-8", "replace").decode(), at)

    def flush(self) -> None:
        """Write what is pending to the OS (a crash of this process loses nothing written)."""
        if self._pending and not self.closed:
            self._file.write(b"".join(self._pending))
            self._file.flush()
            self._pending.clear()
            self._pending_bytes = 0
        self._last_flush = self._clock()

    def close(self) -> None:
        if self.closed:
            return
        for code, decoder in self._decoders.items():
            tail = decoder.decode(b"", final=True)
            if tail:
                self._event(code, tail)
        self.flush()
        self._file.close()
        self.closed = True
