"""One process holding sessions past descriptor 1024 (issue 21's ceiling: select(2) cannot watch one): a
session host in this process, with 1,100 descriptors already open, starts several sessions, each of which
echoes typing; none fails. The descriptor load is synthetic (open files) to get past 1024 fast."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import uuid
from typing import Any

import pytest

from sandbox import SandboxSpec
from terminal import protocol
from terminal.host import Attachment, AttachRequest, OpenRequest, SessionHost
from tests.conftest import SIMPLE_FAMILY

pytestmark = pytest.mark.sandbox

SESSIONS = 6


class FrameSink:
    """A client of the host: output bytes and statuses kept; acknowledged as a browser does."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.statuses: list[dict[str, Any]] = []
        self.att: Attachment | None = None

    async def send_frame(self, frame: bytes) -> None:
        if frame[0] == protocol.OUTPUT:
            self.output += frame[9:]
            if self.att is not None:
                self.att.session.ack(self.att, int.from_bytes(frame[1:9], "big") + len(frame) - 9)
        elif frame[0] == protocol.STATUS:
            self.statuses.append(json.loads(frame[1:]))

    async def close_client(self, code: int) -> None:
        self.statuses.append({"closed": code})


def test_sessions_start_and_echo_with_descriptors_past_1024(tmp_path, make_family, settings) -> None:
    settings.SANDBOX_BACKEND = "bubblewrap"
    family = make_family("manyfd", SIMPLE_FAMILY)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]

    async def scenario() -> None:
        host = SessionHost()
        sinks = []
        try:
            for i in range(SESSIONS):
                sid = str(uuid.uuid4())
                req = OpenRequest(
                    session_id=sid,
                    spec=SandboxSpec(family_dir=family, family_name="manyfd"),
                    recording_path=tmp_path / f"{i}.cast",
                )
                sink = FrameSink()
                got = await host.attach_request(AttachRequest(sid, "owner", 0, 80, 24, req), sink)
                assert isinstance(got, Attachment), (got, sink.statuses)
                sink.att = got
                sinks.append((sid, sink))
            fds = len(os.listdir("/proc/self/fd"))
            assert fds > 1100 + SESSIONS, fds
            for i, (_, sink) in enumerate(sinks):
                typed = protocol.input_frame(f"echo fd-ok-$((40+{i}))\r".encode())
                assert sink.att is not None
                host.handle_frame(sink.att, protocol.parse_client_frame(typed))
            for i, (_, sink) in enumerate(sinks):
                for _ in range(200):
                    if f"fd-ok-{40 + i}".encode() in sink.output:
                        break
                    await asyncio.sleep(0.05)
                assert f"fd-ok-{40 + i}".encode() in sink.output, bytes(sink.output[-300:])
        finally:
            for sid, _ in sinks:
                await host.close(sid, "test over")

    try:
        asyncio.run(scenario())
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
