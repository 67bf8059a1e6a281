"""Placing a new session on a sandbox machine (terminal_session_place): alive, not draining, able to run the
task, with room, least loaded first; no machine registered means the one default session host."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox import backend_provides
from terminal.models import SandboxHost, SessionStatus
from terminal.services import NoRoomError, terminal_session_place
from tests.terminal.conftest import new_session

pytestmark = pytest.mark.django_db


def _host(name: str, backend: str = "bubblewrap", capacity: int = 2, **kw) -> SandboxHost:  # type: ignore[no-untyped-def]
    now = timezone.now()
    kw.setdefault("heartbeat_at", now)
    return SandboxHost.objects.create(
        name=name, address=f"/run/{name}.sock", backend=backend, capacity=capacity, started_at=now, **kw
    )


def place(session):  # type: ignore[no-untyped-def]
    return terminal_session_place(session=session, provides=backend_provides)


def test_no_registered_machine_means_the_default_host(users, suite) -> None:
    assert place(new_session(users["alice"])) is None


def test_least_loaded_then_full_then_no_room(users, suite) -> None:
    a, b = _host("a", capacity=2), _host("b", capacity=4)
    placed = [place(new_session(users["alice"])).name for _ in range(6)]
    # loads as fractions of capacity: a 0/2 b 0/4 -> a; a 1/2 b 0/4 -> b; ... until both are full
    assert sorted(placed) == ["a", "a", "b", "b", "b", "b"]
    assert SandboxHost.objects.get(pk=a.pk).sessions.count() == 2
    with pytest.raises(NoRoomError):
        place(new_session(users["alice"]))
    # an ended session frees its room
    b.sessions.filter().update(status=SessionStatus.ENDED)
    assert place(new_session(users["alice"])).name == "b"


def test_draining_down_and_unfit_machines_are_passed_over(users, suite) -> None:
    _host("draining", draining=True)
    _host("down", heartbeat_at=timezone.now() - timedelta(minutes=5))
    _host("docker", backend="docker")
    _host("bwrap")
    needs_image = new_session(users["alice"])
    needs_image.task_version.needs = ["install"]
    needs_image.task_version.save(update_fields=["needs"])
    assert place(needs_image).name == "docker"  # only docker builds images
    needs_image.task_version.needs = []
    needs_image.task_version.save(update_fields=["needs"])
    assert place(new_session(users["alice"])).name == "bwrap"
    session = new_session(users["alice"])
    first = place(session)
    assert place(session) == first  # placed once
