"""Warm starts (issue 21, item 3; issue 20, item 3): while a contractor reads an assignment's instructions,
its sandbox is prepared (start() included) with no clock running; Start takes it over, and the clock starts
only when the contractor is attached to its shell. One per contractor; one nobody takes is ended and
removed. Both shapes of the platform, through its real web process."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.urls import reverse
from django.utils import timezone

from baselining import clock
from baselining.models import Assignment, AssignmentKind, AssignmentStatus, BaselineSession, SessionState
from baselining.services.lifecycle import (
    baseline_session_open,
    baseline_session_retry,
    baseline_session_warm,
    baseline_warm_cool,
    clock_events,
)
from tasks.models import Task
from terminal import control
from terminal.models import SessionStatus, TerminalSession
from terminal.services import terminal_session_end
from tests.terminal.conftest import PlatformServer, run, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def reserve(user, task: Task | None) -> Assignment:  # type: ignore[no-untyped-def]
    assert task is not None and task.latest_version is not None
    return Assignment.objects.create(
        contractor=user,
        task=task,
        task_version=task.latest_version,
        kind=AssignmentKind.BASELINE,
        status=AssignmentStatus.RESERVED,
    )


def read_instructions(server: PlatformServer, user, assignment: Assignment) -> str:  # type: ignore[no-untyped-def]
    """The contractor opens the assignment's page (the web process warms its sandbox)."""
    req = urllib.request.Request(  # noqa: S310  (loopback test server)
        server.url + reverse("baselining:assignment", args=[assignment.pk]),
        headers={"Cookie": server.log_in(user)},
    )
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
        return str(r.read().decode())


def warm_terminal(assignment: Assignment) -> TerminalSession | None:
    assignment.refresh_from_db()
    return assignment.warm_terminal


def wait_live(terminal: TerminalSession) -> None:
    wait_until(lambda: TerminalSession.objects.get(pk=terminal.pk).status == SessionStatus.LIVE)


def read_until_warm(server: PlatformServer, user) -> tuple[Assignment, TerminalSession]:  # type: ignore[no-untyped-def]
    """A reserved find_key assignment whose page the user read: its warm sandbox, live."""
    a = reserve(user, Task.objects.get(family__name="ssh_key", name="find_key"))
    read_instructions(server, user, a)
    warm = warm_terminal(a)
    assert warm is not None
    wait_live(warm)
    return a, warm


def test_reading_prepares_the_sandbox_and_start_takes_it_with_the_clock_still(server, users, suite) -> None:
    alice = users["alice"]
    task = Task.objects.get(family__name="ssh_key", name="find_key")
    a = reserve(alice, task)
    page = read_instructions(server, alice, a)
    assert "being prepared while you read" in page
    warm = warm_terminal(a)
    assert warm is not None and warm.user == alice and warm.task_version == a.task_version
    wait_live(warm)
    # Prepared, and nothing else: no session, the reservation as it was, no clock.
    assert not BaselineSession.objects.exists()
    a.refresh_from_db()
    assert a.status == AssignmentStatus.RESERVED
    read_instructions(server, alice, a)  # reading again changes nothing
    assert warm_terminal(a) == warm

    session = baseline_session_open(assignment=a, user=alice)  # Start
    assert session.terminal_id == warm.pk
    assert warm_terminal(a) is None
    time.sleep(0.5)
    assert clock_events(session) == []

    async def work() -> float:
        t0 = time.perf_counter()
        c = await server.shell(warm, alice)
        took = time.perf_counter() - t0
        assert (await run(c, "ls keys | wc -l")).strip() != "0"  # start() ran: the keys are there
        await c.close()
        return took

    attached_at = timezone.now()
    took = async_to_sync(work)()
    wait_until(lambda: BaselineSession.objects.get(pk=session.pk).state == SessionState.LIVE)
    events = clock_events(session)
    assert [e.kind for e in events] == [clock.Kind.STARTED]
    assert events[0].at >= attached_at  # the clock started at the attach, not while the sandbox waited
    print(f"warm start: Start to prompt {took * 1000:.0f} ms")


def test_reading_another_assignment_cools_the_first(server, users, suite) -> None:
    alice = users["alice"]
    first = reserve(alice, Task.objects.get(family__name="ssh_key", name="find_key"))
    second = reserve(alice, Task.objects.exclude(pk=first.task_id).order_by("pk").first())
    read_instructions(server, alice, first)
    one = warm_terminal(first)
    assert one is not None
    wait_live(one)
    recording = one.recording_path
    assert recording.exists()
    read_instructions(server, alice, second)
    two = warm_terminal(second)
    assert two is not None and two != one
    assert warm_terminal(first) is None
    # The first one's sandbox is ended and its row and recording are gone: nobody ever worked in it.
    wait_until(lambda: not TerminalSession.objects.filter(pk=one.pk).exists())
    wait_until(lambda: not recording.exists())
    if server.mode == "remote":
        wait_until(lambda: str(one.pk) not in control.live_sessions())
    wait_live(two)


def test_a_warm_sandbox_nobody_takes_is_cooled(remote_server, users, suite, settings) -> None:
    alice = users["alice"]
    a, warm = read_until_warm(remote_server, alice)
    assert baseline_warm_cool() == []  # young, and its assignment still reserved
    later = timezone.now() + timedelta(minutes=settings.WARM_SANDBOX_MINUTES + 1)
    assert baseline_warm_cool(now=later) == [str(warm.pk)]
    assert warm_terminal(a) is None and not TerminalSession.objects.filter(pk=warm.pk).exists()
    wait_until(lambda: str(warm.pk) not in control.live_sessions())
    # An expired reservation's warm sandbox goes at once.
    read_instructions(remote_server, alice, a)
    again = warm_terminal(a)
    assert again is not None
    wait_live(again)
    Assignment.objects.filter(pk=a.pk).update(status=AssignmentStatus.EXPIRED)
    assert baseline_warm_cool() == [str(again.pk)]
    wait_until(lambda: str(again.pk) not in control.live_sessions())


def test_no_warm_start_where_it_cannot_be_taken(users, suite, settings) -> None:
    alice, bob = users["alice"], users["bob"]
    tasks = list(Task.objects.order_by("pk")[:2])
    a, b = reserve(alice, tasks[0]), reserve(alice, tasks[1])
    assert not baseline_session_warm(assignment=a, user=bob)  # not his
    settings.WARM_SANDBOXES = False
    assert not baseline_session_warm(assignment=a, user=alice)
    settings.WARM_SANDBOXES = True
    session = baseline_session_open(assignment=a, user=alice)  # cold: no page was read
    assert session.terminal is not None
    assert not baseline_session_warm(assignment=a, user=alice)  # started already
    assert not baseline_session_warm(assignment=b, user=alice)  # one session at a time: b cannot start now
    assert Assignment.objects.filter(warm_terminal__isnull=False).count() == 0


def test_a_warm_start_that_failed_is_told_at_start_with_a_retry(users, suite) -> None:
    alice = users["alice"]
    a = reserve(alice, Task.objects.get(family__name="ssh_key", name="find_key"))
    assert baseline_session_warm(assignment=a, user=alice)  # no web loop here: the row only
    warm = warm_terminal(a)
    assert warm is not None
    terminal_session_end(
        session_id=warm.pk, reason="could not start the sandbox: start() failed", failed=True
    )
    session = baseline_session_open(assignment=a, user=alice)
    assert session.terminal_id == warm.pk
    assert session.state == SessionState.FAILED and "start() failed" in session.scoring_error
    assert clock_events(session) == []
    baseline_session_retry(session=session)
    warm.refresh_from_db()
    assert warm.status == SessionStatus.NEW and len(warm.start_failures) == 1


def test_idle_counts_from_the_start_not_from_the_warm_sandbox(impatient_server, users, suite) -> None:
    """The clock's idle pause (1.5 s here) counts from the owner's attach: a sandbox that waited while the
    instructions were read is not idle time, and the idle report it made then does not stop the next one."""
    alice = users["alice"]
    a, warm = read_until_warm(impatient_server, alice)
    time.sleep(3.0)  # reading, longer than the idle pause
    session = baseline_session_open(assignment=a, user=alice)

    async def attach_and_stay_idle() -> list[clock.Event]:
        c = await impatient_server.shell(warm, alice)  # connected all along: no disconnect pause
        try:
            await asyncio.sleep(0.8)
            assert [e.kind for e in await sync_to_async(clock_events)(session)] == [clock.Kind.STARTED]
            for _ in range(100):  # idle now, for longer than the pause
                events = await sync_to_async(clock_events)(session)
                if len(events) >= 2:
                    return events
                await asyncio.sleep(0.1)
            raise AssertionError("the idle pause never came")
        finally:
            await c.close()

    started, paused = async_to_sync(attach_and_stay_idle)()[:2]
    assert (started.kind, paused.kind, paused.reason) == (clock.Kind.STARTED, clock.Kind.PAUSED, "idle")
    assert paused.since is None or paused.since >= started.at  # idle from the attach, not from the warm open
