"""Inspect View (`inspect view`, inspect_ai's own log viewer) opens the exported human baselines: the
task's log, its human samples with their scores, and the clocked attempt's transcript and pseudonym."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from baselining.inspect_export import file_name, write_logs
from baselining.selectors import ExportFilters
from tests.baselining.test_inspect_export import BASE, baselines  # noqa: F401  (the fixture, by name)
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db]
INSPECT = Path(sys.executable).with_name("inspect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"inspect view exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (our own loopback server)
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"inspect view did not answer at {url} in {timeout} s")


def test_inspect_view_shows_the_human_samples_with_their_scores(baselines, tmp_path) -> None:  # noqa: F811
    logs = tmp_path / "logs"
    write_logs(ExportFilters(family=baselines.assignment.task.family.name), logs, BASE)
    task = baselines.assignment.task
    name = file_name(task.family.name, task.name)
    assert (logs / name).is_file()
    pseudonym = baselines.assignment.contractor.contractor.pseudonym
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    # it serves its bundled viewer and the log directory (nothing fetched from the internet: see below)
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [str(INSPECT), "view", "--log-dir", str(logs), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    from playwright.sync_api import sync_playwright

    outside: list[str] = []  # requests to anywhere but inspect view: none (it works offline)
    try:
        _wait_until_up(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
            page.goto(url)
            # the log directory: each task's log, model human, with its mean score
            task_id = f"{task.family.name}/{task.name}"
            page.get_by_text(task_id).first.wait_for(timeout=30_000)
            page.get_by_text("human", exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "inspect-view-1-logs.png"), full_page=True)
            page.get_by_text(task_id).first.click()
            # the task's samples: the human attempts with their submissions and scores (the clocked one 0.75,
            # 40 minutes in all)
            row = page.get_by_text("the key is 4F-19").first
            row.wait_for(timeout=30_000)
            for text in ("0.75", "40 min 0 sec"):
                page.get_by_text(text, exact=True).first.wait_for(timeout=10_000)
            assert "SUCCESS_RATE" in page.inner_text("body").upper()
            page.screenshot(path=str(ARTIFACTS / "inspect-view-2-samples.png"), full_page=True)
            row.click()
            # the sample: its score, the contractor's pseudonym, the links and the terminal's transcript
            page.get_by_text("hello from the sandbox").first.wait_for(timeout=30_000)
            page.get_by_text(pseudonym).first.wait_for(timeout=10_000)
            body = page.inner_text("body")
            assert "0.75" in body and "the key is 4F-19" in body and pseudonym in body
            assert "Replay in the platform" in body
            replay = page.get_by_role("link", name="Replay in the platform")
            assert replay.get_attribute("href") == f"{BASE}/terminal/sessions/{baselines.terminal_id}/replay/"
            page.screenshot(path=str(ARTIFACTS / "inspect-view-3-sample.png"), full_page=True)
            # its metadata: our clock's times (35 working minutes of 40)
            page.get_by_role("tab", name="Info").first.click()
            page.get_by_text("working_seconds").first.wait_for(timeout=10_000)
            page.get_by_text("2,400").first.wait_for(timeout=10_000)
            body = page.inner_text("body")
            assert "2,100" in body and "2,400" in body and pseudonym in body
            page.screenshot(path=str(ARTIFACTS / "inspect-view-4-metadata.png"), full_page=True)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not outside, outside
