"""Staff upload METR's public agent runs and their release dates, and read the horizons page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from horizons.models import AgentRun
from tests.conftest import ARTIFACTS, metr_runs
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DATES = Path(django_settings.BASE_DIR) / "examples" / "horizons" / "release_dates.csv"


def test_staff_upload_runs_and_read_the_horizons(page, live_server, settings) -> None:
    settings.HORIZON_BOOTSTRAP = 300
    get_user_model().objects.create_user("staff", password="staff-pass-1", is_staff=True)
    login(page, live_server.url, "staff", "staff-pass-1", path="/login/?next=/horizons/")
    page.wait_for_url("**/horizons/")
    # the platform's times, for METR's tasks the platform has never seen: refused before anything is stored,
    # in one sentence that says what to choose, the unknown tasks in a collapsed table
    page.set_input_files("input[name=runs]", str(metr_runs()))
    page.check("input[name=human_times][value=platform]")
    page.click("#runs-upload button[type=submit]")
    page.wait_for_selector(".messages .error")
    errors = page.locator(".messages li").all_inner_texts()
    assert len(errors) == 1 and "Nothing was imported" in errors[0], errors
    assert 'choose "The file\'s human_minutes"' in errors[0]
    unknown = page.locator("#unknown-tasks")
    assert unknown.get_attribute("open") is None  # collapsed
    n_unknown = unknown.locator("tbody tr").count()
    assert (
        n_unknown > 50
        and f"{n_unknown} tasks without a human time" in unknown.locator("summary").inner_text()
    )
    assert AgentRun.objects.count() == 0
    unknown.locator("summary").click()
    page.screenshot(path=str(ARTIFACTS / "horizons-unknown-tasks.png"), full_page=True)
    page.set_input_files("input[name=runs]", str(metr_runs()))
    page.check("input[name=human_times][value=file]")
    page.set_input_files("input[name=release_dates]", str(DATES))
    page.click("#runs-upload button[type=submit]")
    page.wait_for_url("**/horizons/")
    page.wait_for_selector("#agents table", timeout=60_000)
    assert "6848 runs imported" in page.content()
    assert "211 rows of alias" in page.content()  # METR's human rows are not an agent
    assert AgentRun.objects.count() == 6848
    assert page.locator("#agents tbody tr").count() == 10
    assert page.locator("#per-agent figure svg").count() == 10
    trend = page.locator("#trend svg")
    assert trend.count() == 1 and "doubling every" in (trend.text_content() or "")
    box = trend.bounding_box()
    assert box is not None and box["width"] > 400
    # the agents' labels on the trend do not overlap (o1-preview, o1 and the two Sonnets crowd a corner)
    agents = set(page.locator("#agents tbody tr td:first-child").all_inner_texts())
    labels = [t for t in trend.locator("text").all() if (t.text_content() or "").strip() in agents]
    assert len(labels) >= 8
    boxes = [b for b in (t.bounding_box() for t in labels) if b]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                     or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip
            assert apart, (a, b)
    # a note several agents share is said once, with their names, not on every row
    shared = page.locator("#shared-notes li").all_inner_texts()
    assert any(n.startswith("P80 below the shortest task") for n in shared), shared
    cells = page.locator("#agents tbody tr td:last-child").all_inner_texts()
    for note in shared:
        said = note.split(": ")[0].rsplit(".", 1)[0]
        assert not any(said.lower() in [p.strip().lower() for p in c.split(";")] for c in cells), note
    page.screenshot(path=str(ARTIFACTS / "horizons.png"), full_page=True)
    page.locator("#trend").screenshot(path=str(ARTIFACTS / "horizons-trend.png"))
