"""TERMINAL_ECHO_TRACE (terminal/trace.py): every process on a keystroke's path stamps each of its hops, so
that bench/terminal.py --breakdown can say where a round trip's time goes. Off, nothing is stamped (the
other terminal tests run with it off)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from terminal import trace
from tests.terminal.conftest import PlatformServer, _server, keeper_pid, new_session

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

KEYS = "abcdefgh"


@pytest.fixture(params=["embedded", "remote"])
def traced_server(request, tmp_path, _recordings, transactional_db, settings) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    yield from _server(tmp_path, request.param, settings, TERMINAL_ECHO_TRACE=str(tmp_path / "trace"))


def test_each_keystroke_is_stamped_at_every_hop_in_order(traced_server, users, suite) -> None:
    assert not trace.ON  # this process: the variable is the servers' only
    session = new_session(users["alice"])
    keystrokes: list[tuple[int, int]] = []

    async def scenario() -> int:
        c = await traced_server.shell(session, users["alice"])
        await c.send_input(
            f"stty raw -echo; echo RE''ADY; dd bs=1 count={len(KEYS)} status=none; stty sane\r"
        )
        await c.wait_for("READY")
        await asyncio.sleep(0.2)
        for key in KEYS:  # one at a time, as the bench types: each round trip's stamps are its own
            mark = c.received
            sent = time.monotonic_ns()
            await c.send_input(key)
            await c.wait_for(key, since=mark)
            keystrokes.append((sent, time.monotonic_ns()))
        host = keeper_pid(session) if traced_server.mode == "remote" else web_pid  # (embedded: the web's)
        await c.close()
        return host

    assert traced_server.web is not None
    web_pid = traced_server.web.pid
    host_pid = async_to_sync(scenario)()
    stamps = trace.read(Path(traced_server.tmp) / "trace")
    hops = trace.HOPS if traced_server.mode == "remote" else trace.EMBEDDED_HOPS
    pids = {(pid, hop) for _, pid, hop in stamps}
    for key, mine in zip(KEYS, trace.keystroke_stamps(stamps, keystrokes), strict=True):
        # every hop once, in the path's order, at increasing times
        assert tuple(hop for _, hop in mine) == hops, key
        times = [ns for ns, _ in mine]
        assert all(a < b for a, b in itertools.pairwise(times)), key
    for hop in hops:  # each stamped by the process that does it
        assert (web_pid if hop in trace.WEB_HOPS else host_pid, hop) in pids, hop
