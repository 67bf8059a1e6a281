"""Staff log in, browse the catalogue, filter it, open a task and change its status, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tasks.models import Task, TaskStatus
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_staff_browse_catalogue(page, live_server, demo_suite) -> None:
    get_user_model().objects.create_user("staff", password="staff-pass-1", is_staff=True)
    get_user_model().objects.create_user("alice", password="alice-pass-1")

    login(page, live_server.url, "staff", "staff-pass-1", path="/")
    page.wait_for_url("**/tasks/")
    rows = page.locator("tbody tr")
    assert rows.count() == Task.objects.count()
    assert page.locator("link[href*='pico']").count() == 1
    # the stylesheet really loads (served from static files, no CDN)
    bg = page.evaluate("getComputedStyle(document.querySelector('.badge')).borderRadius")
    assert bg != "0px"
    page.screenshot(path=str(ARTIFACTS / "catalogue.png"), full_page=True)

    page.select_option("select[name=expertise]", "data science")
    page.click("text=Filter")
    page.wait_for_url("**expertise=data+science**")
    assert page.locator("tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "catalogue-filtered.png"), full_page=True)

    page.click("text=mean_latency")
    page.wait_for_url("**/tasks/csv_stats/mean_latency/")
    instructions = page.locator("[data-testid=instructions]").inner_text()
    assert instructions == Task.objects.get(name="mean_latency").latest_version.instructions
    page.select_option("select[name=status]", "qa")
    page.fill("input[name=note]", "QA next week")
    page.click("text=Change")
    page.wait_for_selector("text=is now In QA")
    assert Task.objects.get(name="mean_latency").status == TaskStatus.QA
    page.screenshot(path=str(ARTIFACTS / "task-page.png"), full_page=True)

    page.click("text=Log out")
    page.wait_for_url("**/login/")
    login(page, live_server.url, "alice", "alice-pass-1")
    page.wait_for_selector("text=My work")
    resp = page.goto(f"{live_server.url}/tasks/")
    assert resp is not None and resp.status == 403
