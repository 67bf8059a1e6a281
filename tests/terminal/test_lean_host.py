"""The session host and its keepers load only what they need: none of the statistics stack (pandas, numpy,
scipy, matplotlib: ~150 MiB and ~1.2 s of imports), which only the web process's pages and the workers'
jobs use; and the session host idles under 80 MiB of RSS (docs/deployment.md, Sizing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.terminal.conftest import PlatformServer

HEAVY = ("pandas", "numpy", "scipy", "matplotlib")
IDLE_RSS_MIB = 80

REPORT = f"import json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"

# What a session host process loads: Django set up, its command's module, the keepers' modules, and the
# system checks its command runs before it serves (as BaseCommand.execute runs them).
SESSION_HOST = f"""
import django
django.setup()
from terminal.management.commands.session_host import Command
import terminal.keeper, terminal.keepers
command = Command()
command.check(**command.get_check_kwargs({{}}))
{REPORT}
"""

# What a keeper's process loads: `python -m terminal.keeper --forker` (terminal/keepers.py starts it without
# DJANGO_SETTINGS_MODULE), here with no keeper to fork (stdin at its end, it returns at once).
KEEPER = f"""
import os, runpy, sys
sys.argv = ["terminal.keeper", "--forker"]
sys.stdin = open(os.devnull)
try:
    runpy.run_module("terminal.keeper", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    assert not exc.code, exc.code
{REPORT}
"""


def _loaded(code: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_session_host_loads_no_statistics_stack() -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings")
    assert _loaded(SESSION_HOST, env) == []


def test_a_keeper_loads_no_statistics_stack() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    assert _loaded(KEEPER, env) == []


@pytest.fixture
def session_host(tmp_path, _recordings, transactional_db) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    """A real `manage.py session_host` (keepers' shape), as the other terminal tests start it; no web."""
    server = PlatformServer(tmp_path, "remote")
    try:
        server.start_host()
        yield server
    finally:
        server.stop()


@pytest.mark.sandbox
def test_an_idle_session_host_holds_under_80_mib(session_host: PlatformServer) -> None:
    assert session_host.host is not None
    pid = session_host.host.pid
    log = session_host.tmp / "session-host.log"
    deadline = time.monotonic() + 30
    while "listening on" not in log.read_text():  # registered, serving: what it holds idle from now on
        assert session_host.host.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    time.sleep(1)
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
    # each of these has compiled extensions: a module of theirs loaded at any time since shows in the map
    mapped = {
        part
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
        if "site-packages/" in line
        for part in [line.split("site-packages/", 1)[1].split("/", 1)[0]]
        if part in HEAVY
    }
    assert mapped == set()
    assert rss_kib < IDLE_RSS_MIB * 1024, f"idle session host: {rss_kib / 1024:.1f} MiB of RSS"
