"""Staff see the sandbox machines on the Sessions page (up, draining, down with its sessions' clocks paused)
and drain one with a click. Screenshot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from terminal.models import SandboxHost
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_see_the_machines_and_drain_one(page, embedded_server, users) -> None:
    now = timezone.now()
    common = {"backend": "docker", "capacity": 40, "cpus": 16, "memory_mb": 65536, "started_at": now}
    SandboxHost.objects.create(name="sandbox-1", address="127.0.1.11:7700", heartbeat_at=now, **common)
    SandboxHost.objects.create(
        name="sandbox-2", address="127.0.1.12:7700", heartbeat_at=now, draining=True, **common
    )
    gone = now - timedelta(minutes=3)
    SandboxHost.objects.create(
        name="sandbox-3", address="127.0.1.13:7700", heartbeat_at=gone, down_since=gone, **common
    )
    login(page, embedded_server.url, "staff1", "x-staff-1")
    page.goto(f"{embedded_server.url}/terminal/sessions/")
    states = {
        row.get_attribute("data-host"): row.get_attribute("data-state")
        for row in page.locator("#hosts tbody tr").all()
    }
    assert states == {"sandbox-1": "up", "sandbox-2": "draining", "sandbox-3": "down"}
    assert "its sessions' clocks are paused" in page.inner_text("tr[data-host=sandbox-3]")
    page.screenshot(path=str(ARTIFACTS / "hosts-1-machines.png"), full_page=True)
    page.locator("tr[data-host=sandbox-1] button").click()
    page.wait_for_selector("tr[data-host=sandbox-1][data-state=draining]")
    assert SandboxHost.objects.get(name="sandbox-1").draining
    page.locator("tr[data-host=sandbox-2] button").click()
    page.wait_for_selector("tr[data-host=sandbox-2][data-state=up]")
    page.screenshot(path=str(ARTIFACTS / "hosts-2-drained.png"), full_page=True)
