"""Our own asciicast v2 writer: output, input, resize and marker events, flushed at least every second.

The format (https://docs.asciinema.org/manual/asciicast/v2/) is NDJSON: a header object, then events
[seconds, code, data]. Output and input arrive as bytes in arbitrary chunks, so each stream has its own
incremental UTF-8 decoder: a character split across two reads is written whole, in the later event.

Output is the hot path (every byte a shell prints): it stays bytes. ASCII chunks skip decoding, and the JSON
string is made by `bytes.replace` of only the special bytes the chunk holds (json.dumps escapes character
by character: 6.7 ms per MB of terminal text against 2.5 here, measured by bench/terminal.py's recorder row).
"""

from __future__ import annotations

import codecs
import json
import os
import time
from pathlib import Path
from typing import Any

FLUSH_INTERVAL = 0.5  # seconds; a killed process loses at most this much (the target is 1 s)
FLUSH_BYTES = 256 * 1024

# Bytes a JSON string must escape: control characters, the quote and the backslash (RFC 8259, section 7).
_SPECIAL = bytes(range(0x20)) + b'"\\'
_NOT_SPECIAL = bytes(b for b in range(256) if b not in _SPECIAL)
_ESCAPES = {c: json.dumps(chr(c)).encode()[1:-1] for c in _SPECIAL}


def json_string(utf8: bytes) -> bytes:
    """The JSON string literal (quotes included) of valid UTF-8 bytes."""
    present = utf8.translate(None, _NOT_SPECIAL)
    if present:
        if b"\\" in present:  # first: the other escapes add backslashes of their own
            utf8 = utf8.replace(b"\\", b"\\\\")
        for c in set(present):
            if c != 0x5C:
                utf8 = utf8.replace(bytes((c,)), _ESCAPES[c])
    return b'"' + utf8 + b'"'


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

    def _event(self, code: str, data: bytes, at: float | None = None) -> None:
        """Append one event; data is valid UTF-8."""
        if self.closed:
            return
        t = self.elapsed() if at is None else at
        line = b'[%r, "%s", %s]\n' % (round(t, 6), code.encode(), json_string(data))
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= FLUSH_BYTES or self._clock() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def _utf8(self, code: str, data: bytes) -> bytes:
        """Whole, valid UTF-8 of this stream's next bytes: a split character waits for its end."""
        decoder = self._decoders[code]
        if data.isascii() and not decoder.getstate()[0]:
            return data  # the common case: nothing to decode, nothing held back
        return decoder.decode(data).encode()

    def output(self, data: bytes, at: float | None = None) -> None:
        utf8 = self._utf8("o", data)
        if utf8:
            self._event("o", utf8, at)

    def input(self, data: bytes, at: float | None = None) -> None:
        utf8 = self._utf8("i", data)
        if utf8:
            self._event("i", utf8, at)

    def resize(self, cols: int, rows: int, at: float | None = None) -> None:
        self._event("r", f"{cols}x{rows}".encode(), at)

    def marker(self, label: str, at: float | None = None) -> None:
        self._event("m", label.encode("utf-8", "replace"), at)

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
                self._event(code, tail.encode())
        self.flush()
        self._file.close()
        self.closed = True
