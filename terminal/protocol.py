"""The terminal's wire protocol: binary frames whose first byte is the type (docs/terminal-protocol.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# client -> server
INPUT = b"i"[0]  # UTF-8 keystrokes / paste
RESIZE = b"r"[0]  # JSON {"cols": int, "rows": int}
ACK = b"a"[0]  # 8-byte big-endian offset: every output byte before it has been rendered
HELLO = b"h"[0]  # JSON {"offset": int, "cols": int, "rows": int}: attach, resuming after offset
# server -> client
OUTPUT = b"o"[0]  # 8-byte big-endian offset of the first byte, then the bytes
STATUS = b"s"[0]  # JSON status document
RESET = b"x"[0]  # the client must reset its screen: what follows is not a continuation

MAX_INPUT = 64 * 1024
MAX_COLS, MAX_ROWS = 1000, 500


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong."""


@dataclass(frozen=True)
class ClientFrame:
    kind: int
    data: bytes = b""
    offset: int = 0
    cols: int = 0
    rows: int = 0


def _json(payload: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what} frame: payload is not JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolError(f"{what} frame: payload must be a JSON object")
    return doc


def _size(doc: dict[str, Any], what: str) -> tuple[int, int]:
    cols, rows = doc.get("cols"), doc.get("rows")
    if (
        not (isinstance(cols, int) and isinstance(rows, int))
        or isinstance(cols, bool)
        or isinstance(rows, bool)
    ):
        raise ProtocolError(f"{what} frame: cols and rows must be integers")
    if not (1 <= cols <= MAX_COLS and 1 <= rows <= MAX_ROWS):
        raise ProtocolError(f"{what} frame: size {cols}x{rows} out of range (1-{MAX_COLS} x 1-{MAX_ROWS})")
    return cols, rows


def parse_client_frame(frame: bytes) -> ClientFrame:
    if not frame:
        raise ProtocolError("empty frame")
    kind, payload = frame[0], frame[1:]
    if kind == INPUT:
        if len(payload) > MAX_INPUT:
            raise ProtocolError(f"input frame larger than {MAX_INPUT} bytes")
        return ClientFrame(INPUT, data=payload)
    if kind == ACK:
        if len(payload) != 8:
            raise ProtocolError("ack frame: payload must be an 8-byte offset")
        return ClientFrame(ACK, offset=int.from_bytes(payload, "big"))
    if kind == RESIZE:
        cols, rows = _size(_json(payload, "resize"), "resize")
        return ClientFrame(RESIZE, cols=cols, rows=rows)
    if kind == HELLO:
        doc = _json(payload, "hello")
        offset = doc.get("offset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ProtocolError("hello frame: offset must be a non-negative integer")
        cols, rows = _size(doc, "hello")
        return ClientFrame(HELLO, offset=offset, cols=cols, rows=rows)
    raise ProtocolError(f"unknown frame type {kind!r}")


def output_frame(offset: int, data: bytes) -> bytes:
    return bytes([OUTPUT]) + offset.to_bytes(8, "big") + data


def status_frame(doc: dict[str, Any]) -> bytes:
    return bytes([STATUS]) + json.dumps(doc).encode()


def reset_frame() -> bytes:
    return bytes([RESET])


def hello_frame(offset: int, cols: int, rows: int) -> bytes:
    return bytes([HELLO]) + json.dumps({"offset": offset, "cols": cols, "rows": rows}).encode()


def ack_frame(offset: int) -> bytes:
    return bytes([ACK]) + offset.to_bytes(8, "big")


def input_frame(data: bytes) -> bytes:
    return bytes([INPUT]) + data


def resize_frame(cols: int, rows: int) -> bytes:
    return bytes([RESIZE]) + json.dumps({"cols": cols, "rows": rows}).encode()
