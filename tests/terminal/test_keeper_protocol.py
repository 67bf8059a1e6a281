"""The keeper's wire protocol in one process: a real keeper (its real sandbox, bubblewrap) and a session host
side (KeeperHost and its server) on this test's event loop, talking over their real sockets. The
end-to-end tests (test_keepers.py) drive the same code in separate processes, from outside."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxSpec, backend_config
from terminal import protocol
from terminal.host import AttachRequest, OpenRequest
from terminal.keeper import PLATFORM_REASON, Keeper, address, decode_args, encode_args, live_keepers
from terminal.keepers import NO_KEEPER, KeeperHost, KeeperHostServer, keeper_request
from terminal.remote import frame_message, read_message
from tests.conftest import SIMPLE_FAMILY

pytestmark = pytest.mark.sandbox


class Recorder:
    """A session host's hooks, remembered in order."""

    def __init__(self, host: KeeperHost) -> None:
        self.events: list[tuple[str, list[Any]]] = []
        for name in ("live", "failed", "end", "idle", "owner_attached", "platform_outage", "parked"):
            getattr(host, f"on_{name}").append(self._hook(name))

    def _hook(self, name: str) -> Any:
        async def hook(session_id: str, *args: Any) -> None:
            self.events.append((name, list(args)))

        return hook

    def names(self) -> list[str]:
        return [n for n, _ in self.events]


async def _until(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


class Browser:
    """The web side of one attach: the request, then frames both ways."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.output = bytearray()
        self.statuses: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await read_message(self.reader)
                if msg[:1] == b"{":
                    self.statuses.append({"refusal": json.loads(msg)})
                elif msg[0] == protocol.OUTPUT:
                    self.output += msg[9:]
                    self.writer.write(
                        frame_message(protocol.ack_frame(int.from_bytes(msg[1:9], "big") + len(msg) - 9))
                    )
                elif msg[0] == protocol.STATUS:
                    self.statuses.append(json.loads(msg[1:]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def send(self, frame: bytes) -> None:
        self.writer.write(frame_message(frame))

    async def wait_output(self, needle: bytes) -> None:
        await _until(lambda: needle in self.output)

    async def wait_status(self, predicate: Any) -> dict[str, Any]:
        await _until(lambda: any(predicate(s) for s in self.statuses))
        return next(s for s in self.statuses if predicate(s))

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


def test_keeper_serves_adopts_outlives_its_host_and_ends(tmp_path, make_family, settings) -> None:
    family = make_family("proto", SIMPLE_FAMILY)
    sid = str(uuid.uuid4())
    instance = f"test-{uuid.uuid4().hex[:12]}"
    req = OpenRequest(
        session_id=sid,
        spec=SandboxSpec(family_dir=family, family_name="proto"),
        recording_path=tmp_path / "rec.cast",
    )

    async def scenario() -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address(instance, sid))
        listener.listen(8)
        config: dict[str, Any] = {
            "instance": instance,
            "session_id": sid,
            "backend": backend_config("bubblewrap"),
        }
        keeper = Keeper(config, listener)
        keeper_task = asyncio.ensure_future(keeper.run())
        assert live_keepers(instance) == [sid]

        host = KeeperHost(instance=instance, backend=config["backend"], log_dir=tmp_path / "logs")
        seen = Recorder(host)
        adopted = await host.adopt(sid)
        assert adopted is not None and adopted["state"] == "none" and adopted["lost_at"] is None
        server = KeeperHostServer(host, tmp_path / "host.sock")
        await server.start()

        # Open through the host (forwarded), then attach: the connection is handed to the keeper.
        opened = await host.forward(sid, {"op": "open", "request": req.to_json()})
        assert opened == {"ok": True}
        await _until(lambda: "live" in seen.names())
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "host.sock"))
        attach = AttachRequest(sid, "owner", 0, 80, 24)
        writer.write(frame_message(json.dumps({"op": "attach", "request": attach.to_json()}).encode()))
        browser = Browser(reader, writer)
        await browser.wait_status(lambda s: s.get("state") == "live" and s.get("input"))
        browser.send(protocol.input_frame(b"echo hel''lo-$((6*7))\r"))
        await browser.wait_output(b"hello-42")
        await _until(lambda: "owner_attached" in seen.names())

        # Other requests are forwarded; a session without a keeper gets the harmless answers.
        ran = await host.forward(
            sid, {"op": "exec", "session_id": sid, "argv": ["id", "-u"], "user": "agent"}
        )
        assert ran["ok"] and ran["returncode"] == 0
        marked = await host.forward(sid, {"op": "marker", "session_id": sid, "label": "checkpoint"})
        assert marked["ok"] and marked["at"] > 0
        other = str(uuid.uuid4())
        for op, answer in NO_KEEPER.items():
            assert await _ask(tmp_path / "host.sock", {"op": op, "session_id": other}) == answer
        assert (await _ask(tmp_path / "host.sock", {"op": "dance"}))["ok"] is False
        assert (await _ask(tmp_path / "host.sock", {"op": "list"}))["sessions"] == [sid]

        # The session host goes (its links close): the shell stays, input is refused with the reason.
        await server.close()
        await host.shutdown()
        await browser.wait_status(lambda s: s.get("reason") == PLATFORM_REASON and s.get("input") is False)
        browser.send(protocol.input_frame(b"echo typed-meanwhile\r"))
        refused = await browser.wait_status(lambda s: "refused" in s)
        assert PLATFORM_REASON in refused["refused"]
        await asyncio.sleep(0.3)

        # A new host adopts it: the outage is reported, input is back, the same shell answers.
        again = KeeperHost(instance=instance, backend=config["backend"], log_dir=tmp_path / "logs")
        seen_again = Recorder(again)
        adopted = await again.adopt(sid)
        assert adopted is not None and adopted["state"] == "live" and adopted["lost_at"] is not None
        ((_, (start, end)),) = [e for e in seen_again.events if e[0] == "platform_outage"]
        assert isinstance(start, datetime) and 0.3 <= (end - start).total_seconds() < 5
        n = len(browser.statuses)
        await _until(lambda: any(s.get("input") is True for s in browser.statuses[n:]))
        browser.send(protocol.input_frame(b"echo back-$((40+2))\r"))
        await browser.wait_output(b"back-42")
        assert b"typed-meanwhile" not in browser.output

        # Ending it: the end event reaches the host, the keeper exits, its socket is gone.
        closed = await again.forward(sid, {"op": "close", "session_id": sid, "reason": "done here"})
        assert closed == {"ok": True}
        await asyncio.wait_for(keeper_task, 20)
        assert ("end", ["done here"]) in seen_again.events
        assert live_keepers(instance) == []
        browser.close()

    asyncio.run(scenario())
    text = Path(tmp_path / "rec.cast").read_text()
    for marker in ("platform outage", "platform back", "checkpoint", "end"):
        assert f'"m","{marker}"' in text.replace(", ", ",")


async def _ask(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(frame_message(json.dumps(doc).encode()))
        return dict(json.loads(await read_message(reader)))
    finally:
        writer.close()


def test_a_session_host_on_tcp_needs_the_secret_and_a_keeper_request_to_nobody_fails(tmp_path) -> None:
    async def scenario() -> None:
        host = KeeperHost(instance="test-none", backend={}, log_dir=tmp_path)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(Exception, match="needs SESSION_HOST_SECRET"):
            await KeeperHostServer(host, tmp_path / "a.sock", listen=f"127.0.0.1:{port}").start()
        server = KeeperHostServer(host, tmp_path / "b.sock", listen=f"127.0.0.1:{port}", secret="s3")
        await server.start()
        for doc, ok in (
            ({"op": "list"}, False),
            ({"op": "list", "auth": "s4"}, False),
            ({"op": "list", "auth": "s3"}, True),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame_message(json.dumps(doc).encode()))
            answer = json.loads(await read_message(reader))
            writer.close()
            assert answer["ok"] is ok, (doc, answer)
        await server.close()
        with pytest.raises(OSError):
            await keeper_request("test-none", str(uuid.uuid4()), {"op": "list"})

    asyncio.run(scenario())


def test_event_arguments_cross_the_link_unchanged() -> None:
    at = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
    assert decode_args(json.loads(json.dumps(encode_args((at, "x", 1.5, {"a": 1}))))) == [
        at,
        "x",
        1.5,
        {"a": 1},
    ]
