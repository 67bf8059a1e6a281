"""The terminal in a real browser: log in, open a session, type, reload: same shell, same screen."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _screen(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.evaluate("window.terminalClient.text()"))


def _wait_screen(page, text: str, timeout: float = 20_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "t => window.terminalClient && window.terminalClient.text().includes(t)", arg=text, timeout=timeout
    )


@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_type_reload_same_shell_and_screen(page, request, users, suite, mode) -> None:
    server = request.getfixturevalue(f"{mode}_server")
    login(page, server.url, "staff1", "x-staff-1")
    page.wait_for_url("**/tasks/")
    page.click("text=Try a task")
    page.click("button[data-task='ssh_key/find_key']")
    page.wait_for_url("**/terminal/sessions/**")
    _wait_screen(page, "$ ")
    page.locator(".xterm").click()
    page.keyboard.type("export X=42; echo hello; whoami; pwd\n")
    _wait_screen(page, "/home/agent\n")
    lines = _screen(page).splitlines()
    i = next(n for n, line in enumerate(lines) if line.endswith("export X=42; echo hello; whoami; pwd"))
    assert lines[i + 1 : i + 4] == ["hello", "agent", "/home/agent"]
    assert page.locator("#term-status").get_attribute("data-conn") == "connected"
    page.screenshot(path=str(ARTIFACTS / f"terminal-{mode}-typed.png"))

    before = _screen(page).rstrip()
    page.reload()
    _wait_screen(page, "/home/agent\n")
    assert _screen(page).rstrip() == before  # the screen is restored exactly
    page.locator(".xterm").click()
    page.keyboard.type("echo X is $X\n")
    _wait_screen(page, "X is 42")
    page.screenshot(path=str(ARTIFACTS / f"terminal-{mode}-after-reload.png"))

    # Staff check the task's scorer on answers, in the live sandbox; the session goes on
    if mode == "remote":
        for answer, verdict in (("notes.txt", "a failure"), ("backup.dat", "a success")):
            page.fill("#score-answer", answer)
            page.click("#score")
            page.wait_for_selector(".messages li")
            said = page.inner_text(".messages")
            assert verdict in said and "threshold" in said, said
            _wait_screen(page, "$ ")
        page.screenshot(path=str(ARTIFACTS / "try-a-task-scored.png"))
        page.locator(".xterm").click()
        page.keyboard.type("echo still $X\n")
        _wait_screen(page, "still 42")

    # Staff replay the recording with its markers, then end the session.
    page.once("dialog", lambda d: d.accept())
    page.click("text=End session")
    page.wait_for_url("**/replay/")
    page.wait_for_selector(".marker")
    assert [m.inner_text().split(" @")[0] for m in page.locator(".marker").all()] == ["start", "end"]
    page.wait_for_selector(".ap-player")
    page.screenshot(path=str(ARTIFACTS / f"replay-{mode}.png"))
    page.goto(page.url + "?t=1")
    page.wait_for_selector(".ap-player")
