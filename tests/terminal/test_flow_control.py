"""Flow control: a flood of output to a slow client keeps the server's memory flat, and Ctrl-C is quick."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync

from terminal.host import HIGH_WATERMARK, MAX_FRAME
from tests.terminal.conftest import new_session

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_flood_to_a_slow_client_keeps_memory_flat_and_ctrl_c_stops_it(server, users, suite) -> None:
    session = new_session(users["alice"])
    pids = [p.pid for p in (server.web, server.host) if p is not None]

    async def scenario() -> dict[str, float]:
        c = await server.shell(session, users["alice"], auto_ack=False)
        await c.ack()
        # 100 MB of output, far more than any buffer on the way.
        await c.send_input("head -c 100000000 /dev/zero | tr '\\\\0' 'x' | fold -w 100; echo FLOOD-DONE\r")
        base = {pid: _rss(pid) for pid in pids}
        peak = dict(base)
        acked = c.received
        unacked_max = 0
        t_end = time.monotonic() + 8
        # A slow reader: it renders (acknowledges) 256 KiB every 100 ms, about 2.5 MB/s.
        while time.monotonic() < t_end:
            await asyncio.sleep(0.1)
            unacked_max = max(unacked_max, c.received - acked)
            acked = min(c.received, acked + 256 * 1024)
            await c.ws.send(b"a" + acked.to_bytes(8, "big"))
            for pid in pids:
                peak[pid] = max(peak[pid], _rss(pid))
        growth = max(peak[pid] - base[pid] for pid in pids)
        received_before = c.received
        # Ctrl-C, then a client that catches up quickly: the prompt is back within a second.
        c.auto_ack = True
        await c.ack()
        t0 = time.monotonic()
        await c.send_input("\x03")
        await c.wait_for("$ ", since=c.received, timeout=10)
        ctrl_c = time.monotonic() - t0
        await c.close()
        return {"growth": growth, "unacked_max": unacked_max, "received": received_before, "ctrl_c": ctrl_c}

    r = async_to_sync(scenario)()
    print(f"flow control ({server.mode}): {r}")
    assert r["received"] < 30_000_000, "the slow client was not slowing the shell down"
    assert r["unacked_max"] <= HIGH_WATERMARK + 2 * MAX_FRAME + 256 * 1024
    assert r["growth"] < 64 * 2**20, f"server memory grew by {r['growth'] / 2**20:.1f} MiB"
    assert r["ctrl_c"] < 1.0, f"Ctrl-C took {r['ctrl_c']:.2f} s"
