"""Sessions outlive the session host: each lives in a keeper (terminal/keeper.py) that a restarted session
host adopts. Shells, their files and background processes, the screen, the recording and the clock all
come through a kill -9 of the session host; the clock is paused (reason platform) for the outage exactly."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asciinema.asciicast import open_from_url
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from baselining import clock
from baselining.models import BaselineSession, SessionState
from baselining.services.lifecycle import (
    baseline_session_pause,
    baseline_session_resume,
    baseline_session_submit,
    baseline_sessions_park,
    clock_events,
)
from tasks.models import Task
from terminal.keeper import PLATFORM_REASON, instance_of, keeper_pids, live_keepers
from terminal.models import SessionStatus, TerminalSession
from terminal.wsclient import TerminalClient
from tests.conftest import REPO
from tests.terminal.conftest import _server, keeper_pid, open_baseline, run, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

SESSIONS = 10


def _baseline_sessions(n: int, prefix: str = "keeper") -> list[tuple[Any, BaselineSession]]:
    """n contractors, each with a baseline session of find_key (not yet opened in a browser)."""
    tv = Task.objects.get(name="find_key").latest_version
    assert tv is not None
    pairs = []
    for i in range(n):
        user = get_user_model().objects.create_user(f"{prefix}{i}", password=f"x-{prefix}-{i}")
        pairs.append((user, open_baseline(user, tv)))
    return pairs


async def _new_status(c: TerminalClient, after: int, predicate: Any, timeout: float = 20) -> dict[str, Any]:
    """The first status after the first `after` ones that satisfies predicate."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for status in c.statuses[after:]:
            if predicate(status):
                return status
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no such status after {after}: {c.statuses[after:]}")


def _state(pk: int) -> str:
    return str(BaselineSession.objects.get(pk=pk).state)


def test_a_killed_session_host_loses_no_session(remote_server, suite) -> None:
    pairs = _baseline_sessions(SESSIONS)
    instance = instance_of(remote_server.socket_path)

    async def scenario() -> tuple[float, float, list[float]]:
        loop = asyncio.get_running_loop()
        clients = []
        for i, (user, s) in enumerate(pairs):
            c = await remote_server.shell(s.terminal, user)
            await run(
                c,
                f"echo kept-{i} > ~/kept.txt; sleep 700{i} & echo $! > ~/bg.pid",
            )
            clients.append(c)
        for _, s in pairs:  # every clock runs
            await sync_to_async(wait_until)(lambda pk=s.pk: _state(pk) == SessionState.LIVE, 30)
        assert len(live_keepers(instance)) == SESSIONS
        # Descriptors (issue 21): the session host holds a link per session; each keeper its own few.
        assert remote_server.host is not None
        host_fds = len(os.listdir(f"/proc/{remote_server.host.pid}/fd"))
        keeper_fds = [len(os.listdir(f"/proc/{keeper_pids(str(s.terminal_id))[0]}/fd")) for _, s in pairs]
        print(f"descriptors: session host {host_fds} for {SESSIONS} sessions; keepers {sorted(keeper_fds)}")
        assert host_fds < 40 + 2 * SESSIONS and max(keeper_fds) <= 24
        # Session 0 prints a time stamp every 0.2 s, all through the outage.
        await clients[0].send_input("while true; do echo T=$(date +%s.%N); sleep 0.2; done\r")
        await clients[0].wait_for("T=", timeout=10)
        await asyncio.sleep(1)

        seen = [len(c.statuses) for c in clients]
        assert remote_server.host is not None
        killed = time.time()
        os.kill(remote_server.host.pid, signal.SIGKILL)
        await loop.run_in_executor(None, remote_server.host.wait)
        remote_server.host = None

        # Without a session host: every attached browser is told why it cannot type, and typing is refused.
        for c, n in zip(clients, seen, strict=True):
            status = await _new_status(c, n, lambda s: s.get("reason") == PLATFORM_REASON)
            assert status["input"] is False and status["state"] == "live"
        n = len(clients[1].statuses)
        await clients[1].send_input("echo typed-during-the-outage\r")
        refused = await _new_status(clients[1], n, lambda s: "refused" in s)
        assert PLATFORM_REASON in refused["refused"]
        # A browser that connects now hears the same, and is not turned away for good.
        user2, s2 = pairs[2]
        late = remote_server.client(s2.terminal, user2)
        await late.connect()
        status = await late.wait_status(lambda s: s.get("state") == "unavailable")
        assert status["reason"] == PLATFORM_REASON
        for _ in range(100):
            if late.closed_code is not None:
                break
            await asyncio.sleep(0.05)
        assert late.closed_code == 1013  # "try again later": the page keeps reconnecting
        await late.close()
        # Session 0's browser goes away meanwhile; its shell goes on printing.
        offset = clients[0].received
        await clients[0].close()
        await asyncio.sleep(3)

        seen = [len(c.statuses) for c in clients]
        await loop.run_in_executor(None, remote_server.start_host)
        back = time.time()
        for c, n in zip(clients[1:], seen[1:], strict=True):
            status = await _new_status(c, n, lambda s: s.get("input") is True)
            assert status["state"] == "live"
        assert (await run(clients[1], "echo typed-after")).split()[-1] == "typed-after"
        assert "typed-during-the-outage" not in clients[1].text()

        # The browser that left reconnects from its last byte: the same shell, nothing missing.
        user0, s0 = pairs[0]
        again = remote_server.client(s0.terminal, user0)
        again.base = offset  # what it had
        await again.connect(cols=200, offset=offset)
        await again.wait_status(lambda s: s.get("input") is True)
        await again.wait_for(f"T={int(back) + 1}", timeout=10)
        assert again.resets == 0
        stamps = [float(x) for x in re.findall(r"T=(\d+\.\d+)\r\n", again.text())]
        await again.send_input("\x03")
        await again.wait_for("$ ", since=again.received)
        clients[0] = again

        # A page loaded afresh gets the screen back, and every shell still has its file and its process.
        for i, (user, s) in enumerate(pairs):
            if i % 3 == 0:
                fresh = remote_server.client(s.terminal, user)
                await fresh.connect(cols=200)
                await fresh.wait_for(f"echo kept-{i}", timeout=10)
                await fresh.close()
            out = await run(clients[i], "cat ~/kept.txt; kill -0 $(cat ~/bg.pid) && echo ALIVE")
            assert out.split()[-2:] == [f"kept-{i}", "ALIVE"], out
        for c in clients:
            await c.close()
        return killed, back, stamps

    killed, back, stamps = async_to_sync(scenario)()
    outage = back - killed
    print(f"session host killed for {outage:.2f} s; {SESSIONS} sessions adopted")

    # The shell's output reached the reconnected browser without a hole.
    during = [t for t in stamps if killed - 1 <= t <= back + 1]
    assert max(b - a for a, b in itertools.pairwise(during)) < 1.0

    # The recording has no hole either: the keeper recorded while no session host was there.
    terminal = pairs[0][1].terminal
    with open_from_url(str(terminal.recording_path)) as cast:
        events = list(cast.events())
    markers = [e[2] for e in events if e[1] == "m"]
    assert "platform outage" in markers and "platform back" in markers
    # (recording time, the stamp printed) of each tick: the ticks printed while no host was there
    ticks = [(e[0], float(t)) for e in events if e[1] == "o" for t in re.findall(r"T=(\d+\.\d+)", e[2])]
    in_outage = [at for at, stamp in ticks if killed - 1 <= stamp <= back + 1]
    assert len(in_outage) > outage / 0.2 * 0.8
    gap = max(b - a for a, b in itertools.pairwise(in_outage))
    print(f"largest gap in the recording across the outage: {gap:.2f} s")
    assert gap < 1.0

    # Each clock paused for the outage, reason platform, and runs again; no working time was charged.
    for _, s in pairs:
        events = clock_events(BaselineSession.objects.get(pk=s.pk))
        (pause,) = [
            e for e in events if e.kind == clock.Kind.PAUSED and e.reason == clock.PauseReason.PLATFORM
        ]
        assert pause.since is not None
        assert abs(pause.since.timestamp() - killed) < 1.0
        assert abs((pause.at - pause.since).total_seconds() - outage) < 1.0
        assert events[events.index(pause) + 1].kind == clock.Kind.RESUMED
        assert clock.state(events) == clock.State.RUNNING
        assert _state(s.pk) == SessionState.LIVE


def test_restarting_every_platform_process_loses_no_keystroke(remote_server, worker, suite) -> None:
    """A deploy: the web process, the session host and the Celery worker stop (SIGTERM) and start again, one
    after the other, while a contractor works. The shell is the same; what is typed after each reconnect
    arrives; the submission is then scored (through the adopted keeper) by the new worker."""
    ((user, s),) = _baseline_sessions(1)
    workers = [worker]

    def restart_worker() -> None:
        if workers[-1] is None:  # no broker: jobs run in the process that queues them
            return
        workers[-1].terminate()
        workers[-1].wait(timeout=60)
        log = (remote_server.tmp / "worker.log").open("ab")
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "info"]
        env = remote_server.env()
        workers.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log))

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        c = await remote_server.shell(s.terminal, user)
        await run(c, "sleep 9999 & export SAME=shell-1")
        assert s.terminal is not None
        pid = keeper_pid(s.terminal)
        for restart in ("web", "host", "worker"):
            offset = c.received
            if restart == "web":
                await loop.run_in_executor(None, remote_server.stop_web)
                await loop.run_in_executor(None, remote_server.start_web)
            elif restart == "host":
                await loop.run_in_executor(None, remote_server.stop_host)
                await loop.run_in_executor(None, remote_server.start_host)
            else:
                await loop.run_in_executor(None, restart_worker)
            await c.close()
            c = remote_server.client(s.terminal, user)
            c.base = offset
            await c.connect(cols=200, offset=offset)
            await c.wait_status(lambda st: st.get("input") is True, timeout=20)
            out = await run(c, f"echo after-{restart}-$SAME; jobs | grep -c 'sleep 9999'")
            assert out.split()[-2:] == [f"after-{restart}-shell-1", "1"], out
        assert keeper_pid(s.terminal) == pid  # the same keeper all along
        await c.close()

    try:
        async_to_sync(scenario)()
        assert _state(s.pk) == SessionState.LIVE
        session = BaselineSession.objects.get(pk=s.pk)
        assert baseline_session_submit(session=session, submission="backup.dat")
        wait_until(lambda: BaselineSession.objects.get(pk=s.pk).outcome == "success", timeout=120)
    finally:
        for proc in workers[1:]:
            proc.terminate()
            proc.wait(timeout=60)


def test_a_keeper_answers_no_one_but_the_platform(remote_server, suite) -> None:
    """The keeper's socket is the key to a session (typing, exec as root): a sandbox cannot even see it
    (its own network namespace), and another user of the machine is cut off before a request is read."""
    ((user, s),) = _baseline_sessions(1)
    instance = instance_of(remote_server.socket_path)
    name = f"@baselines-keeper/{instance}/{s.terminal.id}"
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1].replace('@', chr(0), 1))\n"
        '    s.sendall(b\'\\x00\\x00\\x00\\x0e{"op": "list"}\')\n'
        "    print('REPLY', len(s.recv(100)))\n"
        "except OSError as exc:\n"
        "    print('REFUSED', type(exc).__name__)\n"
    )

    async def scenario() -> str:
        c = await remote_server.shell(s.terminal, user)
        await run(c, f"echo {base64.b64encode(probe.encode()).decode()} | base64 -d > /tmp/probe.py")
        out = await run(c, f"python3 /tmp/probe.py {name}")
        await c.close()
        return out

    assert async_to_sync(scenario)().split()[-2:] == ["REFUSED", "ConnectionRefusedError"]
    # The same probe from the machine: the platform's user is answered, another user is not.
    mine = subprocess.run([sys.executable, "-c", probe, name], capture_output=True, text=True, check=True)
    assert mine.stdout.split()[0] == "REPLY" and mine.stdout.split()[1] != "0"
    nobody = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",  # the system's: the venv's may sit where nobody cannot reach
            "-I",
            "-c",
            probe,
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # closed without a word (a reset when it closes before reading what was sent; a broken pipe when that
    # happens before the probe has finished sending)
    closed = (["REPLY", "0"], ["REFUSED", "ConnectionResetError"], ["REFUSED", "BrokenPipeError"])
    assert nobody.stdout.split() in closed


@pytest.fixture
def docker_server(tmp_path, _recordings, transactional_db, settings, docker):  # type: ignore[no-untyped-def]
    """The remote shape with the docker backend: sandboxes are containers of the Task Standard image."""
    yield from _server(tmp_path, "remote", settings, SANDBOX_BACKEND="docker")


def test_docker_sessions_are_adopted_and_their_containers_spared(docker_server, suite, docker) -> None:
    """On docker the session host's orphan reaper removes its earlier run's containers at start: those a
    live keeper holds must be spared, and the shell in them adopted."""
    ((user, s),) = _baseline_sessions(1)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        c = await docker_server.shell(s.terminal, user)
        await run(c, "echo in-the-container > ~/kept.txt; sleep 7777 & echo $! > ~/bg.pid")
        await sync_to_async(wait_until)(lambda: _state(s.pk) == SessionState.LIVE, 30)  # the clock runs
        assert docker_server.host is not None
        n = len(c.statuses)
        await loop.run_in_executor(None, docker_server.stop_host, signal.SIGKILL)
        await _new_status(c, n, lambda st: st.get("reason") == PLATFORM_REASON)
        n = len(c.statuses)
        await loop.run_in_executor(None, docker_server.start_host)
        await _new_status(c, n, lambda st: st.get("input") is True)
        out = await run(c, "cat ~/kept.txt; kill -0 $(cat ~/bg.pid) && echo ALIVE")
        assert out.split()[-2:] == ["in-the-container", "ALIVE"], out
        await c.close()

    async_to_sync(scenario)()
    events = clock_events(BaselineSession.objects.get(pk=s.pk))
    assert [e.reason for e in events if e.kind == clock.Kind.PAUSED] == [clock.PauseReason.PLATFORM]


def test_a_long_paused_docker_session_is_parked_and_restored_with_its_files(docker_server, suite) -> None:
    """Parking frees a paused session's CPU and memory (docker: the container is snapshotted and removed);
    Resume restores it from the snapshot: its files are there, its processes are not, and both steps are on
    the recording and the clock's timeline."""
    ((user, s),) = _baseline_sessions(1)
    assert s.terminal is not None

    async def before() -> None:
        c = await docker_server.shell(s.terminal, user)
        await run(
            c, "echo home-file > ~/kept.txt; echo tmp-file > /tmp/kept.txt; sleep 8888 & echo $! > ~/bg.pid"
        )
        await c.close()

    async_to_sync(before)()
    wait_until(lambda: BaselineSession.objects.get(pk=s.pk).state == SessionState.LIVE)
    container = TerminalSession.objects.get(pk=s.terminal.pk).fingerprint
    session = BaselineSession.objects.get(pk=s.pk)
    baseline_session_pause(session=session)
    assert baseline_sessions_park(now=timezone.now() + timedelta(hours=1)) == []  # not paused long enough
    assert baseline_sessions_park(now=timezone.now() + timedelta(hours=9)) == [s.pk]
    terminal = TerminalSession.objects.get(pk=s.terminal.pk)
    assert terminal.status == SessionStatus.PARKED and terminal.parked_image
    wait_until(lambda: str(terminal.pk) not in live_keepers(instance_of(docker_server.socket_path)), 20)
    assert container["backend"] == "docker"

    async def while_parked() -> None:
        c = docker_server.client(terminal, user)
        await c.connect()
        status = await c.wait_status(lambda st: st.get("state") == "parked")
        assert "press Resume" in status["reason"]
        await c.close()

    async_to_sync(while_parked)()
    baseline_session_resume(session=BaselineSession.objects.get(pk=s.pk))
    assert TerminalSession.objects.get(pk=terminal.pk).status == SessionStatus.LIVE

    async def after() -> str:
        c = await docker_server.shell(terminal, user)
        assert "now restored" in c.text()
        out = await run(c, "cat ~/kept.txt /tmp/kept.txt; kill -0 $(cat ~/bg.pid) 2>/dev/null || echo GONE")
        await c.close()
        return out

    assert async_to_sync(after)().split()[-3:] == ["home-file", "tmp-file", "GONE"]
    kinds = [e.kind for e in clock_events(BaselineSession.objects.get(pk=s.pk))]
    assert kinds[-4:] == [clock.Kind.PAUSED, clock.Kind.PARKED, clock.Kind.RESTORED, clock.Kind.RESUMED]
    with open_from_url(str(terminal.recording_path)) as cast:
        events = list(cast.events())
    markers = [(e[0], e[2]) for e in events if e[1] == "m"]
    labels = [m for _, m in markers]
    assert labels.index("parked") < labels.index("restored")
    times = [t for t, _ in markers]
    assert times == sorted(times)  # one time line across the parking


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _forkers(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if b"--forker" in argv and _parent(int(entry)) == parent:
                    found.append(int(entry))
    return found


def test_keepers_are_forked_by_the_forker_and_outlive_it(remote_server, suite) -> None:
    """Keepers come from the session host's forker (no new interpreter per session): each shows its session
    in ps, is neither the forker's child nor the session host's, and lives on when the forker is killed;
    the next session gets a new forker."""
    (u1, s1), (u2, s2) = _baseline_sessions(2, prefix="forked")
    assert remote_server.host is not None

    host = remote_server.host.pid

    async def shell(user: Any, session: BaselineSession) -> TerminalClient:
        c = await remote_server.shell(session.terminal, user)
        await run(c, "export MINE=kept")
        return c

    async def scenario() -> None:
        first = await shell(u1, s1)
        keeper = keeper_pid(s1.terminal)  # type: ignore[arg-type]
        forkers = _forkers(host)
        assert len(forkers) == 1
        assert _parent(keeper) not in (host, forkers[0])
        assert str(s1.terminal.id).encode() in Path(f"/proc/{keeper}/cmdline").read_bytes()
        os.kill(forkers[0], signal.SIGKILL)  # (a zombie until the session host next asks it: no cmdline)
        await asyncio.sleep(0.2)
        assert (await run(first, "echo $MINE")).strip() == "kept"
        second = await shell(u2, s2)
        assert (await run(second, "echo $MINE")).strip() == "kept"
        await first.close()
        await second.close()

    async_to_sync(scenario)()
    assert len(_forkers(host)) == 1  # started again for the second session
