"""A small Python client of the terminal protocol, for tests, benchmarks and scripts.

It keeps the exact byte stream it received (by absolute offset), acknowledges like the browser client
(frontend/src/terminal.js: once 64 KiB are unacknowledged, else 50 ms after the first unacknowledged byte;
optionally only when told to, to play a slow reader) and resumes after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import websockets

from terminal import protocol

ACK_EVERY = 64 * 1024  # as the browser's
ACK_DELAY = 0.05


class TerminalClient:
    def __init__(self, url: str, *, cookie: str, origin: str, auto_ack: bool = True) -> None:
        self.url, self.cookie, self.origin = url, cookie, origin
        self.auto_ack = auto_ack
        self.data = bytearray()
        self.base = 0  # absolute offset of data[0]
        self.statuses: list[dict[str, Any]] = []
        self.resets = 0
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.closed_code: int | None = None
        self._acked = 0
        self._ack_timer: asyncio.TimerHandle | None = None
        self._acking: set[asyncio.Task[None]] = set()

    @property
    def received(self) -> int:
        return self.base + len(self.data)

    def text(self) -> str:
        return self.data.decode(errors="replace")

    async def connect(self, *, cols: int = 80, rows: int = 24, offset: int | None = None) -> None:
        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": self.cookie, "Origin": self.origin},
            compression=None,
            max_size=2**22,
        )
        await self.ws.send(protocol.hello_frame(self.received if offset is None else offset, cols, rows))
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if not isinstance(msg, bytes) or not msg:
                    continue
                kind = msg[0]
                if kind == protocol.OUTPUT:
                    offset = int.from_bytes(msg[1:9], "big")
                    chunk = msg[9:]
                    if offset > self.received:  # after a reset the host restarts at the ring's start
                        self.data.clear()
                        self.base = offset
                    start = self.received - offset
                    if start < len(chunk):
                        self.data += chunk[start:]
                    self._changed.set()
                    if self.auto_ack:
                        if self.received - self._acked >= ACK_EVERY:
                            await self._auto_ack()
                        elif self._ack_timer is None:
                            self._ack_timer = asyncio.get_running_loop().call_later(
                                ACK_DELAY, self._ack_later
                            )
                elif kind == protocol.STATUS:
                    self.statuses.append(json.loads(msg[1:]))
                elif kind == protocol.RESET:
                    self.resets += 1
                    self._acked = 0  # a restored session's ring starts again: acknowledge what comes anew
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code
            self._changed.set()

    async def ack(self) -> None:
        self._acked = max(self._acked, self.received)
        await self.ws.send(protocol.ack_frame(self.received))

    def _ack_later(self) -> None:
        task = asyncio.ensure_future(self._auto_ack())
        self._acking.add(task)  # (held: the loop keeps only a weak reference to a task)
        task.add_done_callback(self._acking.discard)

    async def _auto_ack(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self.received > self._acked:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.ack()

    async def send_input(self, text: str | bytes) -> None:
        await self.ws.send(protocol.input_frame(text.encode() if isinstance(text, str) else text))

    async def resize(self, cols: int, rows: int) -> None:
        await self.ws.send(protocol.resize_frame(cols, rows))

    async def wait_for(self, needle: str | bytes, timeout: float = 10, since: int = 0) -> int:
        """Wait until needle appears in the received bytes after absolute offset since; return its end."""
        raw = needle.encode() if isinstance(needle, str) else needle
        deadline = asyncio.get_running_loop().time() + timeout
        searched = since  # absolute offset: never scan the same bytes twice (bulk output is large)
        while True:
            i = self.data.find(raw, max(0, searched - self.base))
            if i >= 0:
                return self.base + i + len(raw)
            searched = max(since, self.received - len(raw) + 1)
            if self.closed_code is not None:
                raise ConnectionError(
                    f"closed ({self.closed_code}) before {needle!r}; got {self.text()[-500:]!r}"
                )
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(
                    f"{needle!r} not seen; got {self.text()[-500:]!r}; statuses {self.statuses[-3:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_status(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for s in self.statuses:
                if predicate(s):
                    return s
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or (self.closed_code is not None and not any(predicate(s) for s in self.statuses)):
                if left > 0:
                    raise ConnectionError(f"closed ({self.closed_code}); statuses {self.statuses}")
                raise TimeoutError(f"no such status; got {self.statuses}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
