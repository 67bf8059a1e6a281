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
    page.screenshot(path=str(ARTIFACTS / "horizons.png"), full_page=True)
    page.locator("#trend").screenshot(path=str(ARTIFACTS / "horizons-trend.png"))
