"""The replay in a real browser: every link into a recording lands on the moment it names, in the recording's
own seconds, whether the player compresses idle gaps or not (issue 18, item 1). The recording: 57.2 s with
three long pauses, which the player plays in about 20 s with its gaps cut to 5 s."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from baselining.synthetic import generate_suite
from tasks.models import Flag, TaskVersion
from terminal.services import terminal_session_create
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVENTS = [
    [0.5, "o", "one\r\n"],
    [1.0, "m", "start"],
    [20.0, "o", "two\r\n"],
    [21.0, "m", "pause"],
    [40.0, "o", "three\r\n"],
    [42.9, "m", "flag"],
    [57.2, "o", "four\r\n"],
]


@pytest.fixture
def replay_url(live_server, settings, tmp_path) -> str:  # type: ignore[no-untyped-def]
    settings.RECORDINGS_DIR = tmp_path
    generate_suite(n_tasks=1, attempts_per_task=1, n_contractors=1)
    staff = get_user_model().objects.create_user("staff", password="staff-pass-1", is_staff=True)
    session = terminal_session_create(user=staff, task_version=TaskVersion.objects.get(), purpose="trial")
    header = {"version": 2, "width": 40, "height": 6}
    session.recording_path.write_text("\n".join(json.dumps(e) for e in [header, *EVENTS]) + "\n")
    return f"/terminal/sessions/{session.id}/replay/"


def _at(page) -> float:  # type: ignore[no-untyped-def]
    """Where the player is, in the recording's seconds."""
    return float(page.evaluate("window.replay.recordingTime()"))


def _screen(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.inner_text("#player"))


def _open(page, base: str, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + url)
    page.wait_for_selector("#player[data-ready=true] .ap-player")
    page.evaluate("window.player.pause()")


def test_links_land_on_the_moment_they_name(page, live_server, replay_url) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, live_server.url, "staff", "staff-pass-1", path="/login/?next=/tasks/")
    page.wait_for_url("**/tasks/")
    # ?t=40 was past the end of the compressed player (it plays 20 s), ?t=10 showed what came at 22 s
    for t, shown, not_yet in ((40.5, "three", "four"), (10, "one", "two"), (22, "two", "three")):
        _open(page, live_server.url, f"{replay_url}?t={t}")
        assert abs(_at(page) - t) < 0.6, (t, _at(page))
        screen = _screen(page)
        assert shown in screen and not_yet not in screen, (t, screen)
    page.screenshot(path=str(ARTIFACTS / "replay-deep-link.png"), full_page=True)
    # the markers: each seeks to its own moment
    page.click("button.marker:has-text('flag @ 42.9 s')")
    page.wait_for_function("Math.abs(window.replay.recordingTime() - 42.9) < 0.6")
    assert "three" in _screen(page) and "four" not in _screen(page)
    # without compression: the same moment, the player's clock now the recording's
    page.evaluate("window.player.pause()")
    page.uncheck("#compress")
    page.wait_for_selector("#player[data-ready=true] .ap-player")
    assert abs(_at(page) - 42.9) < 0.6
    page.click("button.marker:has-text('pause @ 21.0 s')")
    page.wait_for_function("Math.abs(window.replay.recordingTime() - 21) < 0.6")
    assert abs(float(page.evaluate("window.player.getCurrentTime()")) - _at(page)) < 0.01
    page.screenshot(path=str(ARTIFACTS / "replay-uncompressed.png"), full_page=True)
    _open(page, live_server.url, f"{replay_url}?t=22")  # the choice is remembered
    assert not page.is_checked("#compress") and abs(_at(page) - 22) < 0.6
    page.check("#compress")
    # past the end, inf, garbage: clamped or ignored, never a script error
    _open(page, live_server.url, f"{replay_url}?t=1000")
    assert abs(_at(page) - 57.2) < 0.6
    for garbage in ("inf", "abc", "-3"):
        _open(page, live_server.url, f"{replay_url}?t={garbage}")
        assert _at(page) <= 1.0  # the first frames (the poster is the frame at 1 s), and why
        assert "is not a number of seconds from the start" in page.inner_text("main")
    assert not errors, errors
    # a flag from the replay carries the recording's seconds
    _open(page, live_server.url, f"{replay_url}?t=41")
    page.click("summary:has-text('Report a problem')")
    page.fill("textarea[name=description]", "three is wrong")
    page.click("#flag-from-replay")
    page.wait_for_load_state()
    flag = Flag.objects.get()
    assert flag.recording_offset is not None and abs(flag.recording_offset - 41) < 0.6
