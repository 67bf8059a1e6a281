"""Several sandbox machines: each session host registers itself and beats; sessions are placed on the least
loaded one with room; a drained machine takes no new session; a machine whose heartbeat stops has its
sessions' clocks paused (platform), the other's untouched; another machine's session host is reached over
TCP, and only with the platform's shared secret.

The two "machines" are two session hosts on this machine, each with its own sandboxes, uid range and keepers,
on loopback TCP ports: the machine's rules allow network tests on loopback only (no veth pair with private
addresses), which is what `ip netns` would have needed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from baselining import clock
from baselining.models import BaselineSession
from baselining.services.lifecycle import clock_events
from terminal.keeper import instance_of, live_keepers
from terminal.models import SandboxHost, TerminalSession
from terminal.remote import frame_message
from terminal.services import sandbox_host_drain, sandbox_hosts_watch
from tests.conftest import REPO
from tests.terminal.conftest import PlatformServer, _free_port, _server, run, wait_until
from tests.terminal.test_keepers import _baseline_sessions, _new_status

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

SECRET = "a-shared-secret-for-the-test"
SESSIONS = 20


class SecondMachine:
    """Session host "machine-b": its own socket, sandbox directory, uid range and keepers; TCP for the rest."""

    def __init__(self, server: PlatformServer) -> None:
        self.server = server
        self.port = _free_port()
        self.socket_path = str(server.tmp / "b.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = self.server.env()
        env.update(
            SESSION_HOST_SOCKET=self.socket_path,
            SESSION_HOST_NAME="machine-b",
            SESSION_HOST_LISTEN=f"127.0.0.1:{self.port}",
            SANDBOX_DIR=str(settings.DATA_DIR / "sandboxes-b"),
            SANDBOX_UID_BASE=str(settings.SANDBOX_UID_BASE + 65536 * 256),
        )
        return env

    def start(self) -> None:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        log = (self.server.tmp / "machine-b.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "session_host"], cwd=REPO, env=self.env(), stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket_path):
            assert self.proc.poll() is None and time.monotonic() < deadline, (
                self.server.tmp / "machine-b.log"
            ).read_text()
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def request(self, doc: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(frame_message(json.dumps(doc).encode()))
            size = int.from_bytes(s.recv(4), "big")
            return dict(json.loads(s.recv(size)))


@pytest.fixture
def two_machines(
    tmp_path, _recordings, transactional_db, settings
) -> Iterator[tuple[PlatformServer, SecondMachine]]:  # type: ignore[no-untyped-def]
    settings.SESSION_HOST_SECRET = SECRET
    settings.HOST_DOWN_AFTER = 3
    env = {
        "SESSION_HOST_NAME": "machine-a",
        "SESSION_HOST_SECRET": SECRET,
        "SESSION_HOST_LISTEN": f"127.0.0.1:{_free_port()}",
        "HOST_HEARTBEAT_SECONDS": "0.5",
        "HOST_DOWN_AFTER": "3",
    }
    for server in _server(tmp_path, "remote", settings, **env):
        b = SecondMachine(server)
        b.start()
        try:
            yield server, b
        finally:
            b.kill()
            from terminal.keepers import end_all

            end_all(instance_of(b.socket_path), "test teardown")


def _hosts() -> dict[str, int]:
    return {h.name: TerminalSession.objects.filter(host=h).count() for h in SandboxHost.objects.all()}


def _clock_state(pk: int) -> tuple[str, str]:
    events = clock_events(BaselineSession.objects.get(pk=pk))
    return str(clock.state(events)), str(events[-1].reason)


def test_sessions_spread_over_two_machines_drain_and_a_machine_going_down(two_machines, suite) -> None:
    server, b = two_machines
    wait_until(lambda: SandboxHost.objects.count() == 2, timeout=30)
    staff = get_user_model().objects.create_user("hoststaff", password="x-staff-9", is_staff=True)
    web = Client(HTTP_HOST="127.0.0.1")
    web.force_login(staff)
    db = sync_to_async

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pairs = await db(_baseline_sessions)(SESSIONS)
        clients: list[Any] = []

        async def open_all(which: list[tuple[Any, BaselineSession]]) -> None:
            for user, s in which:
                c = await server.shell(s.terminal, user)
                await run(c, f"echo mine-{len(clients)} > ~/kept.txt")
                clients.append(c)

        await open_all(pairs)
        # Least loaded first: the twenty are spread evenly, each machine's keepers holding its own.
        assert await db(_hosts)() == {"machine-a": SESSIONS // 2, "machine-b": SESSIONS // 2}
        assert len(live_keepers(instance_of(server.socket_path))) == SESSIONS // 2
        assert len(live_keepers(instance_of(b.socket_path))) == SESSIONS // 2

        # Another machine's session host answers only with the shared secret.
        ask = lambda doc: loop.run_in_executor(None, b.request, doc)  # noqa: E731
        assert await ask({"op": "list"}) == {"ok": False, "reason": "not authenticated"}
        assert (await ask({"op": "list", "auth": "a-guess"}))["ok"] is False
        listed = await ask({"op": "list", "auth": SECRET})
        assert listed["ok"] is True and len(listed["sessions"]) == SESSIONS // 2

        # Staff drain machine-a from the Sessions page: the next sessions all go to machine-b.
        page = (await db(web.get)("/terminal/sessions/")).content.decode()
        assert "machine-a" in page and "machine-b" in page
        assert (await db(web.post)("/terminal/hosts/machine-a/drain/", {"draining": "1"})).status_code == 302
        later = await db(_baseline_sessions)(2, "later")
        await open_all(later)
        pairs += later
        assert await db(_hosts)() == {"machine-a": SESSIONS // 2, "machine-b": SESSIONS // 2 + 2}
        await db(sandbox_host_drain)(name="machine-a", draining=False)

        # machine-b's session host stops: after HOST_DOWN_AFTER its sessions' clocks pause (platform) from
        # its last heartbeat; machine-a's run on, untouched. Its shells live on in their keepers.
        for _, s in pairs:  # every clock runs (its start is recorded by the host from the keeper's event)
            await db(wait_until)(lambda pk=s.pk: BaselineSession.objects.get(pk=pk).state == "live", 30)
        seen = [len(c.statuses) for c in clients]
        await loop.run_in_executor(None, b.kill)
        await asyncio.sleep(settings.HOST_DOWN_AFTER + 1)
        await db(sandbox_hosts_watch)()  # (the web process's own timer may have run it first)
        assert (await db(SandboxHost.objects.get)(name="machine-b")).down_since is not None
        on_b = set(
            await db(
                lambda: [
                    str(t)
                    for t in TerminalSession.objects.filter(host__name="machine-b").values_list(
                        "pk", flat=True
                    )
                ]
            )()
        )
        for _, s in pairs:
            state, reason = await db(_clock_state)(s.pk)
            if str(s.terminal_id) in on_b:
                assert (state, reason) == ("paused", clock.PauseReason.PLATFORM)
            else:
                assert state == "running"
        assert "down" in (await db(web.get)("/terminal/sessions/")).content.decode()

        # machine-b is back: it adopts its sessions, their clocks run again, their shells are the same.
        await loop.run_in_executor(None, b.start)
        for (_, s), c, n in zip(pairs, clients, seen, strict=True):
            if str(s.terminal_id) in on_b:
                await _new_status(c, n, lambda st: st.get("input") is True and st.get("state") == "live")
            out = await run(c, "cat ~/kept.txt")
            assert out.split()[-1].startswith("mine-"), out
            await c.close()
        for _, s in pairs:
            assert (await db(_clock_state)(s.pk))[0] == "running"
        assert len(on_b) == SESSIONS // 2 + 2

    async_to_sync(scenario)()


def test_a_sessions_jobs_run_on_its_machines_worker(two_machines, suite, settings) -> None:
    """With JOBS_ON_HOST_QUEUES a session's provisioning and scoring go to its machine's queue. With a
    broker (CI) the only worker running consumes machine-b's queue alone: had a job gone to the default
    queue, nobody would run it and the session would neither be ready before its owner attaches nor be
    scored. (Without a broker the jobs run in the process that queues them.)"""
    server, _ = two_machines
    settings.JOBS_ON_HOST_QUEUES = True
    wait_until(lambda: SandboxHost.objects.count() == 2, timeout=30)
    sandbox_host_drain(name="machine-a")
    worker = None
    log = server.tmp / "worker-b.log"
    if settings.REDIS_URL:
        env = server.env()
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        subprocess.run([*celery, "purge", "-f", "-Q", "celery,host.machine-b"], cwd=REPO, env=env, check=True)
        cmd = [*celery, "worker", "--pool", "solo", "-Q", "host.machine-b", "-n", "b@%h", "-l", "info"]
        worker = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        ((user, s),) = _baseline_sessions(1, "routed")
        assert s.terminal is not None
        terminal_id = s.terminal.pk
        wait_until(lambda: TerminalSession.objects.get(pk=terminal_id).status == "live", timeout=120)
        assert TerminalSession.objects.filter(pk=terminal_id, host__name="machine-b").exists()

        async def work() -> None:
            c = await server.shell(s.terminal, user)
            await run(c, "ls keys | head -1")
            await c.close()

        async_to_sync(work)()
        wait_until(lambda: BaselineSession.objects.get(pk=s.pk).state == "live", timeout=30)
        from baselining.services.lifecycle import baseline_session_submit

        assert baseline_session_submit(session=BaselineSession.objects.get(pk=s.pk), submission="backup.dat")
        wait_until(lambda: BaselineSession.objects.get(pk=s.pk).outcome == "success", timeout=120)
        if worker is not None:
            text = log.read_text()
            assert "baselining.provision_session" in text and "baselining.score_session" in text
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
