"""The session host dies under a contractor's open page: the page says the platform is reconnecting and
that their time is paused, keeps the screen, and comes back by itself, same shell, once the host is back.
A page loaded during the outage keeps retrying instead of giving up. Screenshots of each step."""

from __future__ import annotations

import signal

import pytest

from baselining import clock
from baselining.models import BaselineSession, ContractorProfile, ContractorStatus
from baselining.services.lifecycle import clock_events
from tasks.models import Task
from terminal.keeper import PLATFORM_REASON
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login, start_session
from tests.factories import make_ready

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

STATUS = "document.getElementById('term-status').textContent"


def test_the_page_rides_out_a_session_host_restart(page, remote_server, users, suite) -> None:
    make_ready(Task.objects.get(name="find_key"), users["staff"])
    ContractorProfile.objects.create(
        user=users["alice"], status=ContractorStatus.ACTIVE, expertise=[{"area": "software engineering"}]
    )
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"outage-{name}.png"), full_page=True)  # noqa: E731
    login(page, remote_server.url, "alice1", "x-alice-1")
    page.wait_for_url("**/work/")
    page.check("input[name=agree]")
    page.click('button:has-text("Accept")')
    page.click("#next-task")
    page.wait_for_url("**/work/assignments/**")
    start_session(page)
    page.locator(".xterm").click()
    page.keyboard.type("echo before-the-outage > ~/note; export SHELL_ID=one\n")
    page.wait_for_function("window.terminalClient.text().includes('SHELL_ID=one')")

    assert remote_server.host is not None
    remote_server.stop_host(signal.SIGKILL)
    page.wait_for_function(f"{STATUS}.includes({PLATFORM_REASON!r})", timeout=10_000)
    assert "before-the-outage" in page.evaluate("window.terminalClient.text()")  # the screen stays
    shot("1-host-down")
    page.reload()  # a page loaded now is told the same, and keeps trying
    page.wait_for_function(f"{STATUS}.includes({PLATFORM_REASON!r})", timeout=20_000)
    shot("2-reloaded-during-the-outage")

    remote_server.start_host()
    page.wait_for_function(
        f"{STATUS}.includes('connected') && !{STATUS}.includes('paused')"
        " && window.terminalClient.text().includes('SHELL_ID=one')",
        timeout=30_000,
    )
    page.locator(".xterm").click()
    page.keyboard.type("echo $SHELL_ID-$(cat ~/note)\n")
    page.wait_for_function("window.terminalClient.text().includes('one-before-the-outage')", timeout=10_000)
    shot("3-back")
    session = BaselineSession.objects.get(assignment__contractor=users["alice"])
    reasons = [e.reason for e in clock_events(session) if e.kind == clock.Kind.PAUSED]
    assert reasons == [clock.PauseReason.PLATFORM]
