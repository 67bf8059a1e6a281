"""Staff look at the statistics dashboard in a real browser: the plots render and are readable."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model

from baselining.synthetic import generate_suite
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_read_the_dashboard(page, live_server) -> None:
    generate_suite(n_tasks=80, attempts_per_task=6, seed=11, tasks_per_family=8, contractor_sigma=0.4)
    get_user_model().objects.create_user("staff", password="staff-pass-1", is_staff=True)
    login(page, live_server.url, "staff", "staff-pass-1", path="/login/?next=/stats/")
    page.wait_for_url("**/stats/")
    figures = page.locator("figure.plot svg")
    assert figures.count() == 4  # coverage, lengths, every baseline, speed by experience
    for i in range(4):
        box = figures.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60  # drawn, not collapsed
    # 40 tasks in the strip plot, their labels readable (not overlapping: distinct vertical positions)
    labels = [
        el for el in page.locator("#points svg text").all() if (el.text_content() or "").startswith("gen_f")
    ]
    assert len(labels) == 40
    boxes = sorted((b["y"], b["height"]) for b in (el.bounding_box() for el in labels) if b)
    assert all(y2 >= y1 + h1 * 0.9 for (y1, h1), (y2, _) in itertools.pairwise(boxes))
    page.screenshot(path=str(ARTIFACTS / "stats-dashboard.png"), full_page=True)
    # each task: the chosen estimate (contractor-adjusted) with its interval beside the success-only mean
    legend = page.locator("#points svg").first.text_content() or ""
    assert "contractor-adjusted median (the baseline time)" in legend
    assert "geometric mean of successes" in legend
    page.locator("#points").screenshot(path=str(ARTIFACTS / "stats-points.png"))
    unsettled = page.locator("#unsettled tbody tr")
    assert unsettled.count() >= 1 and "x" in unsettled.first.locator("td").last.inner_text()
    page.locator("#unsettled").screenshot(path=str(ARTIFACTS / "stats-unsettled.png"))
    page.locator("#contractors").screenshot(path=str(ARTIFACTS / "stats-contractors.png"))
    speeds = page.locator("#contractors tbody tr td:nth-child(5)").all_inner_texts()
    assert len(speeds) == 60 and all("(" in s for s in speeds)  # every contractor's factor and interval
    page.fill("input[name=family]", "gen_f00003")
    page.click("text=Filter")
    page.wait_for_url("**family=gen_f00003**")
    assert "8 tasks" in page.locator("hgroup p").inner_text()
    page.screenshot(path=str(ARTIFACTS / "stats-dashboard-family.png"), full_page=True)
    page.click("text=Exports")
    page.wait_for_url("**/stats/exports/**")
    with page.expect_download() as info:
        page.click("text=tasks.csv")
    path = info.value.path()
    assert path is not None and path.read_text().startswith("task_id,task_family")
