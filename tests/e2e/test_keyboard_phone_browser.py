"""Keyboard and phone (issue 18, item 6), in a real browser on a live session: Shift+Esc leaves the terminal
and Tab then reaches Pause, Submit and Give up (never back into the terminal); focus is visible; every form
field has a label and every page one h1; at 375 px the controls are on screen and only the terminal and
tables scroll sideways; at a device pixel ratio of 2 the terminal draws as it does at 1."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from baselining.models import ContractorProfile, ContractorStatus
from baselining.services import contractor_accept_rules
from tasks.models import Task
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login, start_session, wait_for_prompt
from tests.factories import make_ready

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

UNLABELLED = """() => [...document.querySelectorAll('main input, main select, main textarea')]
  .filter((el) => !['hidden', 'submit', 'button'].includes(el.type) && !el.closest('.xterm'))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
  .map((el) => el.name || el.id || el.outerHTML.slice(0, 60))"""
ACTIVE = "document.activeElement && (document.activeElement.id || document.activeElement.className)"


def _lit(png: bytes) -> int:
    """Pixels of a terminal screenshot that are not its background: what is drawn."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    background = np.array([0x11, 0x18, 0x27], dtype=np.int16)
    return int((np.abs(pixels - background).sum(axis=2) > 60).sum())


def _check_page(page, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What the page lacks: its one h1, a label on each field."""
    page.goto(url)
    h1 = page.locator("h1").count()
    return ([f"{url}: {h1} h1"] if h1 != 1 else []) + [f"{url}: {f}" for f in page.evaluate(UNLABELLED)]


def test_keyboard_phone_and_a_sharp_screen(browser, page, remote_server, worker, users, suite) -> None:
    make_ready(Task.objects.get(name="find_key"), users["staff"])
    ContractorProfile.objects.create(
        user=users["alice"],
        status=ContractorStatus.ACTIVE,
        expertise=[{"area": "software engineering", "years": 6}],
    )
    contractor_accept_rules(user=users["alice"])
    url = remote_server.url
    login(page, url, "alice1", "x-alice-1")
    page.wait_for_url("**/work/")
    page.click("#next-task")
    page.wait_for_url("**/work/assignments/**")
    start_session(page)
    session_url = page.url
    cols, rows = page.evaluate("[window.terminalClient.term.cols, window.terminalClient.term.rows]")

    # Keyboard: out of the terminal, then Tab through the controls; never trapped in the terminal again
    assert "xterm-helper-textarea" in page.evaluate(ACTIVE)
    page.keyboard.press("Shift+Escape")
    assert page.evaluate(ACTIVE) == "pause"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # the focus is visible
    assert "Shift" in page.inner_text("#keys") and "Esc" in page.inner_text("#keys")
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        now = page.evaluate(ACTIVE)
        assert "xterm" not in now, reached
        reached.append(now)
    assert "submission" in reached and "submit" in reached  # the answer, then Submit
    give_up = page.locator("button:has-text('Give up')")
    page.focus("input[name=reason]")
    page.keyboard.press("Tab")
    assert give_up.evaluate("(b) => b === document.activeElement")
    page.focus("#to-terminal")  # and back, by keyboard
    page.keyboard.press("Enter")
    assert "xterm-helper-textarea" in page.evaluate(ACTIVE)
    page.keyboard.type("echo back-in\n")
    page.wait_for_function("window.terminalClient.text().split('back-in').length > 2")  # typed, and echoed
    page.screenshot(path=str(ARTIFACTS / "keyboard-session.png"), full_page=True)

    # The instructions beside the terminal, open, and folded only when she folds them (remembered)
    term_box, aside = page.locator("#terminal").bounding_box(), page.locator("#instructions").bounding_box()
    assert term_box and aside and aside["x"] >= term_box["x"] + term_box["width"]  # beside, not above
    assert page.locator("#instructions").get_attribute("open") is not None
    assert "SSH private key" in page.inner_text("#instructions pre")
    page.click("#instructions summary")
    page.reload()
    wait_for_prompt(page)
    assert page.evaluate("document.getElementById('instructions').open") is False
    page.click("#instructions summary")
    # Keys typed while the connection is down are refused, visibly, and never sent later
    page.evaluate("window.terminalClient.drop()")
    page.locator(".xterm").click()
    page.keyboard.type("zq")
    assert "2 characters not sent" in page.inner_text("#term-status")
    page.wait_for_function(
        "document.getElementById('term-status').dataset.conn === 'connected'", timeout=15_000
    )
    page.keyboard.type("echo after\n")
    page.wait_for_function("window.terminalClient.text().split('after').length > 2")
    assert "zq" not in page.evaluate("window.terminalClient.text()")

    # Labels and one h1: the contractor's pages, then staff's
    lacking = [m for path in ("/work/", session_url.removeprefix(url)) for m in _check_page(page, url + path)]
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    staff_page = staff.new_page()
    login(staff_page, url, "staff1", "x-staff-1")
    staff_page.wait_for_url("**/tasks/**")
    for path in ("/tasks/", "/tasks/import/", "/tasks/flags/", "/terminal/try/", "/terminal/sessions/",
                 "/work/review/", "/work/vetting/", "/work/assign/", "/stats/", "/stats/exports/", "/horizons/"):  # fmt: skip
        lacking += _check_page(staff_page, url + path)
    staff.close()
    assert lacking == [], "\n".join(lacking)

    # A phone, 375 px wide: every control on screen; the page itself does not scroll sideways
    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    phone_page = phone.new_page()
    login(phone_page, url, "alice1", "x-alice-1")
    phone_page.wait_for_url("**/work/")
    phone_page.goto(session_url)
    wait_for_prompt(phone_page)
    for selector in ("#pause", "#report", "#submit", "button:has-text('Give up')", "#submission"):
        box = phone_page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, (selector, box)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 376
    phone_page.screenshot(path=str(ARTIFACTS / "phone-session.png"), full_page=True)
    phone_page.goto(url + "/work/")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 376
    phone.close()

    # Device pixel ratio 2: the same rows and columns, and text drawn (not a blank or a giant prompt)
    page.goto(session_url)
    wait_for_prompt(page)
    page.wait_for_timeout(300)
    drawn_at_1 = _lit(page.locator("#terminal .xterm-screen").screenshot())
    sharp = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
    sharp_page = sharp.new_page()
    login(sharp_page, url, "alice1", "x-alice-1")
    sharp_page.wait_for_url("**/work/")
    sharp_page.goto(session_url)
    wait_for_prompt(sharp_page)
    sharp_page.wait_for_timeout(300)
    assert sharp_page.evaluate("[window.terminalClient.term.cols, window.terminalClient.term.rows]") == [
        cols,
        rows,
    ]
    sharp_page.locator("#terminal").screenshot(path=str(ARTIFACTS / "terminal-dpr2.png"))
    drawn_at_2 = _lit(sharp_page.locator("#terminal .xterm-screen").screenshot())
    # twice as many pixels each way: the same text lights about 4x the pixels (software WebGL lit none)
    assert drawn_at_2 > 2 * drawn_at_1 > 0, (drawn_at_1, drawn_at_2)
    sharp.close()
