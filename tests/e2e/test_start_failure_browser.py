"""A sandbox that cannot start, seen in the browser: the contractor's page says why, that their time has not
started, and offers to try again; staff see every failed start on the sessions page. Screenshots."""

from __future__ import annotations

import pytest

from baselining.models import Assignment, AssignmentKind, AssignmentStatus, BaselineSession, SessionState
from baselining.services.lifecycle import clock_events
from tasks.models import Task
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login
from tests.terminal.test_refusals import BROKEN_START

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_the_page_says_why_and_offers_a_retry(page, embedded_server, users, make_family) -> None:
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("brokenstart", BROKEN_START))
    tv = Task.objects.get(name="broken").latest_version
    assert tv is not None
    a = Assignment.objects.create(
        contractor=users["alice"], task=tv.task, task_version=tv, kind=AssignmentKind.BASELINE,
        status=AssignmentStatus.RESERVED,
    )  # fmt: skip
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"start-failed-{name}.png"), full_page=True)  # noqa: E731
    login(page, embedded_server.url, "alice1", "x-alice-1")
    page.goto(f"{embedded_server.url}/work/assignments/{a.pk}/")
    page.click("#start")
    page.wait_for_selector("#start-failed", timeout=30_000)  # the page reloads once the failure is recorded
    text = page.inner_text("#start-failed")
    assert "could not start" in text and "the fixtures for this task are missing" in text
    assert "working time has not started" in text
    shot("1-contractor")

    page.click("#retry")
    page.wait_for_selector("#terminal", timeout=30_000)  # created again: the terminal tries once more
    page.wait_for_selector("#start-failed", timeout=30_000)
    session = BaselineSession.objects.get(assignment=a)
    assert session.state == SessionState.FAILED and clock_events(session) == []
    assert len(session.terminal.start_failures) == 2

    page.context.clear_cookies()
    login(page, embedded_server.url, "staff1", "x-staff-1")
    page.wait_for_load_state()
    page.goto(f"{embedded_server.url}/terminal/sessions/")
    failures = page.locator(".start-failure")
    assert failures.count() == 2
    assert "the fixtures for this task are missing" in failures.first.inner_text()
    shot("2-staff")
