"""Applying in a real browser (issue 18, item 5): a refused application comes back as it was typed with
Django's own words; expertise is an area from a list with its years; a received one says what happens next;
403 and 404 are pages with a way back."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from baselining.models import ContractorProfile, ContractorStatus
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_applicant_is_told_what_to_mend_and_what_happens_next(page, live_server) -> None:
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"apply-{name}.png"), full_page=True)  # noqa: E731
    page.goto(live_server.url + "/apply/")
    assert page.locator("h1").count() == 1
    page.fill("input[name=username]", "newperson")
    page.fill("input[name=email]", "new@example.org")
    page.fill("input[name=password]", "short1")
    page.select_option("select[name=area_1]", "data science")
    page.fill("input[name=years_1]", "4")
    page.select_option("select[name=area_2]", "security")
    page.fill("input[name=years_2]", "1.5")
    page.fill("input[name=area_other]", "Compilers")
    page.fill("input[name=years_other]", "2")
    page.fill("textarea[name=background]", "Backend engineer, then data")
    page.click("#apply")
    page.wait_for_selector(".messages .error")
    # Django's words as written (str.capitalize made it "...characters. it must...")
    assert "This password is too short. It must contain at least 8 characters." in page.inner_text(
        ".messages"
    )
    for field, typed in (("username", "newperson"), ("email", "new@example.org"), ("years_1", "4"),
                         ("years_2", "1.5"), ("area_other", "Compilers"), ("years_other", "2")):  # fmt: skip
        assert page.input_value(f"input[name={field}]") == typed, field
    assert page.input_value("select[name=area_1]") == "data science"
    assert page.input_value("select[name=area_2]") == "security"
    assert page.input_value("textarea[name=background]") == "Backend engineer, then data"
    assert page.input_value("input[name=password]") == ""  # (never sent back)
    shot("1-refused")
    page.fill("input[name=password]", "a-long-enough-pass-1")
    page.click("#apply")
    page.wait_for_url("**/work/")
    assert "your application is in" in page.inner_text(".messages")
    assert "once yours is approved" in page.inner_text(".messages")
    shot("2-received")
    profile = ContractorProfile.objects.get(user__username="newperson")
    assert profile.status == ContractorStatus.APPLICANT
    assert profile.expertise == [
        {"area": "data science", "years": 4.0},
        {"area": "security", "years": 1.5},
        {"area": "compilers", "years": 2.0},
    ]
    # pages one may not see, or that are not there: a page of the platform's, with a way back
    for path, code, title in (("/stats/", 403, "Not allowed"), ("/no/such/page/", 404, "Not found")):
        resp = page.goto(live_server.url + path)
        assert resp is not None and resp.status == code
        assert page.inner_text("h1") == title
        page.click("#way-back")
        page.wait_for_url(live_server.url + "/**")
        assert not page.url.endswith(path)
        page.goto(live_server.url + path)
        shot(str(code))


def test_the_500_page_stands_without_a_request() -> None:
    """Django renders 500.html with no context at all: it still has its words and a way back."""
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html and 'id="way-back"' in html
