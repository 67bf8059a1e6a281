"""The terminal over a real WebSocket: who may attach, typing, reconnecting, refusals and bad frames."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
import websockets
from asgiref.sync import async_to_sync, sync_to_async

from terminal import protocol
from terminal.models import SessionStatus, TerminalSession
from terminal.wsclient import TerminalClient
from tests.terminal.conftest import keeper_pid, new_session, run

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_type_and_reconnect_to_the_same_shell(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await server.shell(session, users["alice"])
        out = await run(c, "export X=42; echo hello; whoami; pwd")
        assert out.split() == ["hello", "agent", "/home/agent"]
        seen = c.received
        await c.close()
        # Reconnect as a new page would (nothing on screen): the whole history is replayed, same shell.
        fresh = server.client(session, users["alice"])
        await fresh.connect(cols=200, offset=0)
        await fresh.wait_for("/home/agent\r\n")
        assert fresh.received >= seen
        assert (await run(fresh, "echo $X")).strip() == "42"
        # Resume from an offset: only what came after it is sent.
        mid = fresh.received
        await fresh.close()
        resumed = server.client(session, users["alice"])
        resumed.base = mid
        await resumed.connect(cols=200)
        assert (await run(resumed, "echo again")).strip() == "again"
        assert resumed.base == mid and b"hello" not in resumed.data
        await resumed.close()

    async_to_sync(scenario)()
    session.refresh_from_db()
    assert session.status == SessionStatus.LIVE
    assert session.fingerprint["backend"] == "bubblewrap"
    assert len(session.fingerprint["rootfs_digest"]) == 64


def test_who_may_attach(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        owner = await server.shell(session, users["alice"])
        # Another contractor: refused at the handshake.
        with pytest.raises(websockets.InvalidStatus) as err:
            await server.client(session, users["bob"]).connect()
        assert err.value.response.status_code == 403
        # Anonymous: refused.
        anon = TerminalClient(server.ws_url(session), cookie="", origin=server.url)
        with pytest.raises(websockets.InvalidStatus):
            await anon.connect()
        # A cross-site page carrying alice's cookie: refused by the Origin check.
        evil = TerminalClient(
            server.ws_url(session), cookie=server.log_in(users["alice"]), origin="http://evil.example"
        )
        with pytest.raises(websockets.InvalidStatus):
            await evil.connect()
        # Staff watch read-only: they see output, their typing is refused.
        watcher = server.client(session, users["staff"])
        await watcher.connect(cols=200)
        await watcher.wait_status(lambda s: s.get("role") == "watcher")
        await watcher.send_input("echo WATCHER-TYPED\r")
        await watcher.wait_status(lambda s: s.get("refused") == "watchers cannot type")
        await run(owner, "echo from-owner")
        await watcher.wait_for("from-owner")
        assert b"WATCHER-TYPED" not in owner.data
        await watcher.close()
        await owner.close()

    async_to_sync(scenario)()


def test_no_permessage_deflate(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        ws = await websockets.connect(
            server.ws_url(session),
            additional_headers={"Cookie": server.log_in(users["alice"]), "Origin": server.url},
        )  # offers permessage-deflate by default, as browsers do
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.close()

    async_to_sync(scenario)()


def test_garbage_frames_get_a_clear_error_and_the_session_survives(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await server.shell(session, users["alice"])
        for garbage in (b"", b"\xff\x00", b"r{not json", b"r" + b'{"cols": 0, "rows": 5}', b"a123", b"h[]"):
            await c.ws.send(garbage)
        await c.ws.send("a text frame")
        await c.wait_status(lambda s: "binary frames only" in s.get("error", ""))
        errors = [s["error"] for s in c.statuses if "error" in s]
        assert any("unknown frame type" in e for e in errors)
        assert any("out of range" in e for e in errors)
        assert (await run(c, "echo still-alive")).strip() == "still-alive"
        await c.close()

    async_to_sync(scenario)()


def test_resize_reaches_the_shell(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = server.client(session, users["alice"])
        await c.connect(cols=200, rows=50)
        await c.wait_for("$ ", timeout=30)
        assert (await run(c, "stty size")).strip() == "50 200"
        await c.resize(132, 43)
        await asyncio.sleep(0.2)
        assert (await run(c, "stty size")).strip() == "43 132"
        await c.close()

    async_to_sync(scenario)()


def test_job_control_works(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await server.shell(session, users["alice"])
        out = await run(c, "echo $TERM; id -u; test -t 0 && echo has-a-tty")
        assert out.split() == ["xterm-256color", "1000", "has-a-tty"]
        await c.send_input("sleep 300\r")
        await asyncio.sleep(0.5)
        await c.send_input("\x1a")  # Ctrl-Z
        await c.wait_for("Stopped")
        assert "sleep 300" in await run(c, "jobs")
        await c.send_input("fg\r")
        await asyncio.sleep(0.3)
        await c.send_input("\x03")  # Ctrl-C reaches the foreground job
        assert (await run(c, "jobs | wc -l")).strip() == "0"
        await c.close()

    async_to_sync(scenario)()


def test_ended_session_refuses_input_and_attach(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await server.shell(session, users["alice"])
        # End it through the page, as the user would (a POST to the platform server).
        await asyncio.get_running_loop().run_in_executor(None, server.end_session, session, users["alice"])
        await c.wait_status(lambda s: s.get("state") == "ended")
        again = server.client(session, users["alice"])
        await again.connect()
        status = await again.wait_status(lambda s: s.get("state") == "ended")
        assert status["input"] is False
        assert status["reason"] == "ended by alice1"

    async_to_sync(scenario)()
    session.refresh_from_db()
    assert session.status == SessionStatus.ENDED
    assert session.end_reason == "ended by alice1"
    assert session.recording_path.exists()


def test_paused_session_refuses_input_with_reason(remote_server, users, suite) -> None:
    from terminal.control import remote_set_input

    session = new_session(users["alice"])

    async def scenario() -> None:
        from django.conf import settings

        settings.SESSION_HOST_SOCKET = remote_server.socket_path
        c = await remote_server.shell(session, users["alice"])
        await remote_set_input(str(session.id), "paused", marker="pause")
        await c.wait_status(lambda s: s.get("input") is False and s.get("reason") == "paused")
        await c.send_input("echo typed-while-paused\r")
        await c.wait_status(lambda s: s.get("refused") == "input refused: paused")
        await remote_set_input(str(session.id), None, marker="resume")
        await c.wait_status(lambda s: s.get("input") is True and s is c.statuses[-1])
        assert (await run(c, "echo after-resume")).strip() == "after-resume"
        assert b"typed-while-paused" not in c.data
        await c.close()

    async_to_sync(scenario)()
    events = [json.loads(line) for line in session.recording_path.read_text().splitlines()[1:]]
    assert [e[2] for e in events if e[1] == "m"] == ["start", "pause", "resume"]


def test_restarting_the_web_process_kills_no_shell(remote_server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await remote_server.shell(session, users["alice"])
        await run(c, "export KEPT=yes; sleep 1000 & echo started")
        remote_server.stop_web(signal.SIGKILL)
        await asyncio.sleep(0.3)
        remote_server.start_web()
        again = remote_server.client(session, users["alice"])
        await again.connect(cols=200, offset=0)
        await again.wait_for("started")
        assert (await run(again, "echo $KEPT; jobs | wc -l")).split() == ["yes", "1"]
        await again.close()

    async_to_sync(scenario)()
    assert TerminalSession.objects.get(pk=session.id).status == SessionStatus.LIVE


def test_restarting_embedded_server_ends_session_clearly(embedded_server, users, suite) -> None:
    """In the embedded default the shell lives in the web process: after a restart the session says so."""
    session = new_session(users["alice"])

    async def scenario() -> None:
        await embedded_server.shell(session, users["alice"])
        embedded_server.stop_web()
        embedded_server.start_web()
        again = embedded_server.client(session, users["alice"])
        await again.connect()
        status = await again.wait_status(lambda s: s.get("state") in ("ended", "failed"))
        assert "server shutdown" in status["reason"]

    async_to_sync(scenario)()
    session.refresh_from_db()
    assert session.status == SessionStatus.ENDED  # closed cleanly at shutdown, with its reason
    assert json.loads(session.recording_path.read_text().splitlines()[-1])[1:] == ["m", "end"]


def test_protocol_frames_round_trip() -> None:
    assert protocol.parse_client_frame(protocol.ack_frame(2**40)).offset == 2**40
    hello = protocol.parse_client_frame(protocol.hello_frame(7, 120, 40))
    assert (hello.offset, hello.cols, hello.rows) == (7, 120, 40)
    assert protocol.parse_client_frame(protocol.input_frame("é".encode())).data == "é".encode()
    with pytest.raises(protocol.ProtocolError, match="larger than"):
        protocol.parse_client_frame(protocol.input_frame(b"x" * (protocol.MAX_INPUT + 1)))
    with pytest.raises(protocol.ProtocolError, match="offset must be"):
        protocol.parse_client_frame(b'h{"offset": -1, "cols": 80, "rows": 24}')


SLOW_START = """
import time
from pathlib import Path

class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"slow": {}}

    @staticmethod
    def get_instructions(t):
        return "wait"

    @staticmethod
    def start(t):
        time.sleep(2)
"""


def test_leaving_while_the_sandbox_starts_leaks_nothing(server, users, make_family) -> None:
    """A reload during start(): the opening finishes, is registered, and the next attach gets it."""
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("slowstart", SLOW_START))
    session = new_session(users["alice"], "slowstart/slow")
    before = _own_cgroups()

    async def scenario() -> None:
        c = server.client(session, users["alice"])
        await c.connect(cols=200)
        await c.wait_status(lambda s: s.get("state") == "starting")
        await c.close()  # gone while start() still runs
        again = server.client(session, users["alice"])
        await again.connect(cols=200)
        await again.wait_for("$ ", timeout=30)
        assert (await run(again, "echo one-sandbox")).strip() == "one-sandbox"
        await again.close()

    async_to_sync(scenario)()
    assert len(_own_cgroups() - before) == 1


def _own_cgroups() -> set[str]:
    """The pids cgroups of this run's sandboxes (named after their state directories in SANDBOX_DIR): a
    second platform on the machine, with sandboxes of its own, is not counted."""
    import glob

    from django.conf import settings

    sids = {p.name for p in settings.SANDBOX_DIR.iterdir()} if settings.SANDBOX_DIR.exists() else set()
    return {
        c
        for c in glob.glob("/sys/fs/cgroup/pids/**/baselines-*", recursive=True)
        if c.rsplit("baselines-", 1)[1] in sids
    }


def test_ending_with_a_client_that_stopped_reading_does_not_hang(server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await server.shell(session, users["alice"])
        await c.send_input("yes\r")
        c._reader.cancel()  # stop reading: the socket fills, the host's sends block
        await asyncio.sleep(2)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await loop.run_in_executor(None, server.end_session, session, users["alice"])
        assert loop.time() - t0 < 15

    async_to_sync(scenario)()
    session.refresh_from_db()
    assert session.status == SessionStatus.ENDED


def test_reaping_ends_sandboxes_whose_session_is_over(remote_server, users, suite) -> None:
    from terminal.control import terminal_reap
    from terminal.models import TerminalSession as TS

    keep, stale = new_session(users["alice"]), new_session(users["bob"])

    async def open_both() -> None:
        for s, u in ((keep, users["alice"]), (stale, users["bob"])):
            c = await remote_server.shell(s, u)
            await c.close()

    async_to_sync(open_both)()
    # the database says it ended, but its sandbox still runs (e.g. a crash between the two)
    TS.objects.filter(pk=stale.pk).update(status=SessionStatus.ENDED, ended_at=stale.created_at)
    assert terminal_reap() == [str(stale.pk)]
    assert terminal_reap() == []


def _copiers(parent: int) -> set[int]:
    """The terminal copiers (`cat`, after setpriv) that are children of a process."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name") == "cat" and int(fields.get("PPid", "0")) == parent:
            found.add(int(entry))
    return found


def _dead(pid: int, timeout: float = 5) -> bool:
    """The process has exited (a zombie not yet reaped, or gone): its descriptors are closed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.01)
    return False


def _gone(pids: set[int], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{pid}") for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_copiers_end_with_their_shell_their_session_and_a_killed_keeper(remote_server, users, suite) -> None:
    """Each shell's two copiers (output and input) are reaped when the shell exits and a new one starts,
    when the session ends, and die with the session's keeper killed outright (none left behind, no
    zombies). They are the keeper's children: the session host is not their parent."""
    first, second = new_session(users["alice"]), new_session(users["alice"])

    async def scenario() -> None:
        c = await remote_server.shell(first, users["alice"])
        await run(c, "true")
        keeper = keeper_pid(first)
        before = _copiers(keeper)
        assert len(before) == 2
        assert remote_server.host is not None and not _copiers(remote_server.host.pid)
        await c.send_input("exit\r")
        await c.wait_for("starting a new login shell", timeout=20)
        await run(c, "true")  # the new shell answers, on new copiers
        assert _gone(before), "the exited shell's copiers are still there"
        # The input copier killed from outside: the next keystroke finds its pipe broken, and a new copier
        # delivers it to the same shell (its variables intact) instead of a terminal that ignores typing.
        await run(c, "export KEPT=yes")
        (input_copier,) = [p for p in _copiers(keeper) if os.readlink(f"/proc/{p}/fd/0").startswith("pipe:")]
        os.kill(input_copier, signal.SIGKILL)
        # dead, its end of the pipe closed, before the next keystroke: typed while it is still dying, the
        # write succeeds into the pipe and those bytes go with it (CI, a loaded machine, saw exactly that)
        assert _dead(input_copier)
        assert (await run(c, "echo still-$KEPT")).split()[-1] == "still-yes"
        assert _gone({input_copier}), "the killed copier was not reaped"
        firsts = _copiers(keeper)
        assert len(firsts) == 2
        d = await remote_server.shell(second, users["alice"])
        await run(d, "true")
        seconds = _copiers(keeper_pid(second))
        assert len(seconds) == 2
        await d.close()
        await sync_to_async(remote_server.end_session)(second, users["alice"])
        assert _gone(seconds), "an ended session's copiers are still there"
        assert _copiers(keeper) == firsts
        await c.close()
        os.kill(keeper, signal.SIGKILL)
        assert _gone(firsts), "copiers outlived the killed keeper"

    async_to_sync(scenario)()
