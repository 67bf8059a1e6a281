"""A session that cannot start says why (issue 21): a full machine refuses the next session for now and
takes it later; a sandbox whose start fails is recorded for staff, its clock never starts, and its owner
may try again; the session host's log names the real error. Both shapes of the platform."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from baselining.models import BaselineSession, SessionState
from baselining.services.lifecycle import baseline_session_retry, clock_events
from tasks.models import Task
from terminal.host import StartQueue, Unavailable, unavailable_for
from terminal.models import SessionStatus
from terminal.wsclient import TerminalClient
from tests.terminal.conftest import PlatformServer, _server, new_session, open_baseline, run, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

BROKEN_START = """
class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"broken": {}}

    @staticmethod
    def get_instructions(t):
        return "never seen"

    @staticmethod
    def start(t):
        raise RuntimeError("the fixtures for this task are missing")
"""


@pytest.fixture(params=["embedded", "remote"])
def small_server(request, tmp_path, _recordings, transactional_db, settings) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    """The platform, both shapes, on a machine that takes one live session."""
    settings.SESSION_HOST_CAPACITY = 1
    yield from _server(tmp_path, request.param, settings, SESSION_HOST_CAPACITY="1")


async def _refused(c: TerminalClient) -> dict[str, Any]:
    """Connect and wait until the server closes the connection; the last state it gave."""
    await c.connect(cols=200)
    for _ in range(400):
        if c.closed_code is not None:
            break
        await asyncio.sleep(0.05)
    states = [s for s in c.statuses if s.get("state")]
    assert c.closed_code is not None, states
    return states[-1]


def test_a_full_machine_refuses_the_next_session_and_takes_it_later(small_server, users, suite) -> None:
    first = new_session(users["alice"])
    second = new_session(users["bob"])

    async def scenario() -> None:
        c = await small_server.shell(first, users["alice"])
        refused = small_server.client(second, users["bob"])
        last = await _refused(refused)
        assert last["state"] == "unavailable", last
        assert "try again" in last["reason"] or "retries by itself" in last["reason"], last
        assert refused.closed_code == 1013  # "try again later": the page keeps retrying
        await c.close()

    async_to_sync(scenario)()
    second.refresh_from_db()
    assert second.status == SessionStatus.NEW and second.start_failures == []  # nothing started or failed
    small_server.end_session(first, users["alice"])
    wait_until(lambda: not _open(first))

    async def later() -> None:
        c = await small_server.shell(second, users["bob"])
        assert (await run(c, "echo room-now")).strip() == "room-now"
        await c.close()

    async_to_sync(later)()


def _open(session: Any) -> bool:
    session.refresh_from_db()
    return bool(session.status in (SessionStatus.NEW, SessionStatus.LIVE))


def _broken_session(make_family, user) -> BaselineSession:  # type: ignore[no-untyped-def]
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("brokenstart", BROKEN_START))
    tv = Task.objects.get(name="broken").latest_version
    assert tv is not None
    return open_baseline(user, tv)  # type: ignore[no-any-return]


def test_a_sandbox_that_cannot_start_says_why_and_may_be_tried_again(server, users, make_family) -> None:
    contractor = get_user_model().objects.create_user("carol1", password="x-carol-1")
    session = _broken_session(make_family, contractor)

    async def attempt() -> dict[str, Any]:
        return await _refused(server.client(session.terminal, contractor))

    for n in (1, 2):
        last = async_to_sync(attempt)()
        assert last["state"] == "failed", last
        assert "the fixtures for this task are missing" in last["reason"], last
        wait_until(lambda: BaselineSession.objects.get(pk=session.pk).state == SessionState.FAILED)
        session.refresh_from_db()
        session.terminal.refresh_from_db()
        assert "the fixtures for this task are missing" in session.scoring_error
        failures = session.terminal.start_failures
        assert len(failures) == n and "the fixtures for this task are missing" in failures[-1]["reason"]
        assert failures[-1]["host"] and failures[-1]["at"]
        assert clock_events(session) == []  # the clock never started
        if n == 1:
            baseline_session_retry(session=session)
            session.refresh_from_db()
            session.terminal.refresh_from_db()
            assert session.state == SessionState.CREATED and session.terminal.status == SessionStatus.NEW

    # the session host's log (the web process's, embedded) names the real error
    log = server.tmp / ("session-host.log" if server.mode == "remote" else "web.log")
    assert "the fixtures for this task are missing" in log.read_text()


def test_an_unexpected_error_fails_the_start_and_a_short_machine_refuses_it() -> None:
    """The host's classification: the machine's errors are refusals for now, anything else a failure."""
    short = unavailable_for(OSError(errno.EMFILE, "Too many open files"))
    assert isinstance(short, Unavailable) and "open files" in str(short)
    assert isinstance(unavailable_for(OSError(errno.ENOSPC, "No space left")), Unavailable)
    assert unavailable_for(OSError(errno.ENOENT, "No such file")) is None
    assert unavailable_for(RuntimeError("bug")) is None


def test_starts_are_queued_in_order_with_bounded_concurrency() -> None:
    async def scenario() -> None:
        queue = StartQueue(2)
        running, most, order = 0, 0, []
        places: dict[str, list[int]] = {}

        async def start(key: str) -> None:
            nonlocal running, most

            async def told(frame: bytes) -> None:
                places.setdefault(key, []).append(json.loads(frame[1:]).get("position", 0))

            await queue.turn_telling(key, told)
            try:
                running += 1
                most = max(most, running)
                order.append(key)
                await asyncio.sleep(0.3)
            finally:
                running -= 1
                queue.release()

        keys = [f"s{i}" for i in range(6)]
        tasks = []
        for key in keys:
            tasks.append(asyncio.ensure_future(start(key)))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert [queue.position(k) for k in keys] == [0, 0, 1, 2, 3, 4]
        tasks[3].cancel()  # one gives up waiting: those behind move up
        await asyncio.sleep(0.05)
        assert [queue.position(k) for k in keys[4:]] == [2, 3]
        await asyncio.gather(*tasks, return_exceptions=True)
        assert order == ["s0", "s1", "s2", "s4", "s5"] and most == 2
        assert places["s5"][0] == 4 and places["s5"][-1] == 0  # told its place, then that it starts
        assert queue.running == 0 and queue.waiting == []

    asyncio.run(scenario())


@pytest.fixture(params=["embedded", "remote"])
def one_start_at_a_time(
    request, tmp_path, _recordings, transactional_db, settings
) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    yield from _server(tmp_path, request.param, settings, SANDBOX_START_CONCURRENCY="1")


def test_a_burst_of_starts_is_queued_and_each_is_told_its_place(
    one_start_at_a_time, users, make_family
) -> None:
    from tasks.services.importer import tasks_import
    from tests.terminal.test_terminal_ws import SLOW_START

    tasks_import(path=make_family("slowstart", SLOW_START))
    sessions = [new_session(u, "slowstart/slow") for u in (users["alice"], users["bob"], users["staff"])]
    owners = [users["alice"], users["bob"], users["staff"]]

    async def scenario() -> None:
        clients = [one_start_at_a_time.client(s, u) for s, u in zip(sessions, owners, strict=True)]
        for c in clients:  # in this order, each a moment after the one before
            await c.connect(cols=200)
            await asyncio.sleep(0.3)
        for c in clients:
            await c.wait_for("$ ", timeout=60)
        places = [[s.get("position") for s in c.statuses if s.get("state") == "queued"] for c in clients]
        assert places[0] == [] and places[1] == [1] and places[2][:2] == [2, 1], places
        for c in clients:  # told when its turn came, then live
            states = [s.get("state") for s in c.statuses if s.get("state")]
            assert states[-2:] == ["starting", "live"] or states[-1] == "live", states
            assert (await run(c, "echo started")).strip() == "started"
            await c.close()

    async_to_sync(scenario)()


def test_out_of_descriptors_is_a_refusal_for_now_and_a_bug_is_a_failure_with_its_traceback(
    tmp_path, make_family, caplog
) -> None:
    """In one process, for real: the descriptor limit lowered to just above what is open, a start hits
    EMFILE (refused for now: nothing recorded as failed, on_refused told); a backend that raises a plain
    error is a failure whose log has the traceback."""
    import os
    import resource
    import uuid

    from sandbox import SandboxSpec
    from terminal.host import OpenRequest, SessionHost

    family = make_family("fdshort", BROKEN_START.replace("raise RuntimeError", "pass  #"))

    def request() -> OpenRequest:
        spec = SandboxSpec(family_dir=family, family_name="fdshort")
        return OpenRequest(session_id=str(uuid.uuid4()), spec=spec, recording_path=tmp_path / "r.cast")

    async def scenario() -> None:
        host = SessionHost()
        told: dict[str, list[str]] = {"failed": [], "refused": []}
        for name in told:

            async def hook(sid: str, reason: str, name: str = name) -> None:
                told[name].append(reason)

            getattr(host, f"on_{name}").append(hook)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 2, hard))
        try:
            refusal = await host.open_request(request())
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert refusal is not None and refusal[0] == "unavailable" and "open files" in refusal[1], refusal
        assert told == {"failed": [], "refused": [refusal[1]]} and host.sessions == {}

        class Broken:
            def provision(self, spec: Any) -> Any:
                raise ZeroDivisionError("a bug of ours")

        host.backend = Broken()  # type: ignore[assignment]
        failed = await host.open_request(request())
        assert (
            failed is not None and failed[0] == "failed" and "ZeroDivisionError: a bug of ours" in failed[1]
        )
        assert told["failed"] == [failed[1]]

    caplog.set_level("WARNING", logger="terminal.host")
    asyncio.run(scenario())
    traced = [r for r in caplog.records if r.exc_info and "could not start" in r.getMessage()]
    assert traced and traced[0].exc_info[0] is ZeroDivisionError  # type: ignore[index]
