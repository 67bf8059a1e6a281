"""Task QA in the browser: bob reports a blocking problem mid-session (the clock pauses while the form is
open); staff see it, replay the moment, confirm it; the task is held back; a fixed version brings it back."""

from __future__ import annotations

import shutil

import pytest

from baselining import clock
from baselining.models import BaselineSession, ContractorProfile, ContractorStatus
from baselining.selectors import eligible_tasks
from baselining.services import contractor_accept_rules
from baselining.services.lifecycle import clock_events
from tasks.models import Flag, FlagStatus, Task, TaskStatus
from tasks.services.importer import tasks_import
from tests.conftest import ARTIFACTS, EXAMPLES
from tests.e2e.conftest import login, start_session
from tests.factories import make_ready

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_bob_reports_staff_confirm_fix_and_the_task_returns(
    page, remote_server, worker, users, suite, tmp_path
) -> None:
    task = Task.objects.get(name="mean_latency")
    make_ready(task, users["staff"])
    for name in ("bob", "alice"):
        ContractorProfile.objects.create(
            user=users[name], status=ContractorStatus.ACTIVE, expertise=[{"area": "data science", "years": 4}]
        )
        contractor_accept_rules(user=users[name])
    url = remote_server.url
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"flags-{name}.png"), full_page=True)  # noqa: E731

    login(page, url, "bob1", "x-bob-1")
    page.wait_for_url("**/work/")
    page.click("#next-task")
    start_session(page)
    page.click("#report")
    page.wait_for_url("**/report/")
    session = BaselineSession.objects.get(assignment__kind="baseline")
    events = clock_events(session)
    assert (events[-1].kind, events[-1].reason) == (clock.Kind.PAUSED, clock.PauseReason.FLAG)  # form open
    # no severity chosen for them; each explained in one line; "blocking" asks to confirm what it does
    assert page.locator("input[name=severity]:checked").count() == 0
    assert page.locator("fieldset.severity label").count() == 4
    assert not page.locator(".confirm-blocking").is_visible()
    page.select_option("select[name=category]", "missing")
    page.fill("textarea[name=description]", "data.csv is missing")
    page.click("#send-report")  # the browser itself asks for a severity: nothing is sent
    assert page.url.endswith("/report/") and not Flag.objects.exists()
    page.check("input[name=severity][value=blocking]")
    assert page.locator(".confirm-blocking").is_visible()
    assert "off the queue for every baseliner" in page.inner_text(".confirm-blocking")
    shot("1-report")
    page.click("#send-report")  # not confirmed: the form again, as typed, and why
    page.wait_for_selector("#flag-error")
    assert "tick the box" in page.inner_text("#flag-error") and not Flag.objects.exists()
    assert page.input_value("textarea[name=description]") == "data.csv is missing"
    assert page.is_checked("input[name=severity][value=blocking]")
    shot("1b-report-confirm")
    page.check("input[name=confirm_blocking]")
    page.click("#send-report")
    page.wait_for_selector("#on-hold-banner")
    shot("2-back-in-session")
    assert clock_events(session)[-1].kind == clock.Kind.RESUMED
    flag = Flag.objects.get()
    assert flag.terminal_session_id == session.terminal_id and flag.recording_offset is not None
    task.refresh_from_db()
    assert task.status == TaskStatus.ON_HOLD
    assert task not in [c.task for c in eligible_tasks(contractor=users["alice"], kind="baseline")]

    page.click("text=Log out")
    login(page, url, "staff1", "x-staff-1")
    assert page.inner_text("#open-flags") == "1"
    page.click("a:has-text('Flags')")
    page.click(f"a:has-text('#{flag.pk}')")
    shot("3-flag")
    page.click("#replay-at")
    page.wait_for_url("**/replay/?t=*")
    page.wait_for_selector(".ap-player")
    page.wait_for_selector(".marker")  # (drawn once the recording has loaded)
    assert [m.inner_text().split(" @")[0] for m in page.locator(".marker").all()][:2] == ["start", "pause"]
    shot("4-replay-at-moment")
    page.go_back()
    assert page.input_value("#to") == "open"  # the new status starts at the flag's own
    page.select_option("#to", "confirmed")
    page.fill("input[name=note]", "reproduced")
    page.click("#triage")
    page.wait_for_selector("text=Flag updated.")

    suite_dir = tmp_path / "fixed"
    shutil.copytree(EXAMPLES / "csv_stats", suite_dir / "csv_stats")
    src = suite_dir / "csv_stats" / "csv_stats.py"
    src.write_text(src.read_text().replace("is a log of web requests", "is a log of web requests (fixed)"))
    tasks_import(path=suite_dir / "csv_stats", by=users["staff"])
    page.reload()
    page.select_option("#to", "fixed")
    page.select_option("select[name=fixed_in]", label="v2")
    page.click("#triage")
    page.wait_for_selector("text=Flag updated.")
    shot("5-fixed")
    flag.refresh_from_db()
    task.refresh_from_db()
    assert flag.status == FlagStatus.FIXED and flag.fixed_in is not None and flag.fixed_in.version == 2
    assert task.status == TaskStatus.READY
    assert task in [c.task for c in eligible_tasks(contractor=users["alice"], kind="baseline")]
    assert [h.to_status for h in flag.changes.all()] == ["open", "confirmed", "fixed"]
