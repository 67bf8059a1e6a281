"""A baseline in the browser: alice gets her next task, solves it in the terminal, submits, sees success and
her working time; staff review it, replay it and mark it valid. Screenshots of each step."""

from __future__ import annotations

import pytest

from baselining.models import BaselineSession, ContractorProfile, ContractorStatus, ReviewStatus
from tasks.models import Task
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login, start_session
from tests.factories import make_ready

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_alice_baselines_a_task_and_staff_review_it(page, remote_server, worker, users, suite) -> None:
    make_ready(Task.objects.get(name="find_key"), users["staff"])
    ContractorProfile.objects.create(
        user=users["alice"],
        status=ContractorStatus.ACTIVE,
        expertise=[{"area": "software engineering", "years": 6}],
    )
    url = remote_server.url
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"baseline-{name}.png"), full_page=True)  # noqa: E731

    login(page, url, "alice1", "x-alice-1")
    page.wait_for_url("**/work/")
    page.check("input[name=agree]")
    page.click('button:has-text("Accept")')
    page.wait_for_selector("#next-task")
    shot("1-my-work")
    page.click("#next-task")
    page.wait_for_url("**/work/assignments/**")
    assert "Exactly one of them contains an SSH private key" in page.inner_text("[data-testid=instructions]")
    shot("2-instructions")
    start_session(page)
    # the clock's state in words (it starts once she is at the prompt; the page asks every 5 s)
    page.wait_for_function("document.getElementById('clock-state').textContent === 'Running'", timeout=15_000)
    page.locator(".xterm").click()
    page.keyboard.type("grep -l 'PRIVATE KEY' keys/*\n")
    page.wait_for_function("window.terminalClient.text().includes('keys/backup.dat')", timeout=10_000)
    shot("3-solving")
    page.fill("#submission", "backup.dat")
    page.dblclick("#submit")  # a double click is one submission
    page.wait_for_selector("#result")
    page.wait_for_function(
        "!document.querySelector('#result h3').textContent.includes('Scoring')", timeout=60_000
    )
    for _ in range(60):  # the page shows "Scoring…" until the worker is done; reload to see the outcome
        if "Success" in page.inner_text("#result"):
            break
        page.wait_for_timeout(500)
        page.reload()
    result = page.inner_text("#result")
    assert "Success" in result and "Working time" in result
    shot("4-success")
    session = BaselineSession.objects.get(assignment__kind="baseline")
    assert session.outcome == "success" and session.submission == "backup.dat"
    # the survey fits its fields at 1280 px (each wide enough to read what is typed), then no dead end:
    # the next task, or why there is none, and the way to her history
    for field in page.locator(".survey-grid input:not([type=hidden]), .survey-grid select").all():
        box = field.bounding_box()
        assert box is not None and box["width"] >= 250, box
    page.fill("input[name=difficulty]", "2")
    page.fill("input[name=confidence]", "5")
    page.click("#survey-send")
    page.wait_for_selector("#what-next")
    assert "no task is available for you right now" in page.inner_text("#no-next-task").lower()
    assert "enough baselines" in page.inner_text("#no-next-task")
    shot("4b-what-next")
    make_ready(Task.objects.get(name="meeting"), users["staff"])
    page.reload()
    page.wait_for_selector("#what-next #next-task")
    page.click("#to-history")
    page.wait_for_url("**/work/#history")
    page.click(f"#history ~ table a[href='/work/sessions/{session.pk}/']")
    page.wait_for_url(f"**/work/sessions/{session.pk}/")
    assert "Success" in page.inner_text("#result")

    page.click("text=Log out")
    login(page, url, "staff1", "x-staff-1")
    page.goto(f"{url}/work/review/")
    page.click(f"a[href='/work/review/{session.pk}/']")
    page.wait_for_selector("#record-review")
    shot("5-review")
    page.click("#replay-link")
    page.wait_for_selector(".ap-player")
    page.wait_for_selector(".marker")
    labels = [m.inner_text().split(" @")[0] for m in page.locator(".marker").all()]
    assert labels == ["start", "submit", "end"]
    shot("6-replay")
    page.go_back()
    page.check("input[value=valid]")
    page.click("#record-review")
    page.wait_for_url("**/work/review/")
    shot("7-reviewed")
    session.refresh_from_db()
    assert session.review_status == ReviewStatus.VALID and session.reviewed_by == users["staff"]
