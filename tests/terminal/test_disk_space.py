"""Low on disk: no new session starts (a trial, a contractor opening an assignment, a sandbox being opened),
with a clear message, and nothing is left half-created. The threshold is set above the real free space."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from typing import cast

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from baselining.models import Assignment, BaselineSession, ContractorProfile, ContractorStatus
from baselining.services import assignment_claim_next, contractor_accept_rules
from config.text import sentence
from tasks.models import Task
from terminal.models import SessionStatus, TerminalSession
from terminal.services import ERR_DISK_LOW
from tests.factories import make_ready
from tests.terminal.conftest import PlatformServer, _server, new_session


def _more_than_free(path: object) -> int:
    """A MIN_FREE_DISK_MB that the file system of path cannot meet."""
    return shutil.disk_usage(str(path)).free // 2**20 + 1024


@pytest.mark.django_db
def test_a_trial_is_refused_with_a_message_and_nothing_is_created(
    client, demo_suite, settings, users
) -> None:
    client.force_login(users["staff"])
    tv = Task.objects.get(name="find_key").latest_version
    settings.MIN_FREE_DISK_MB = _more_than_free(settings.DATA_DIR)
    resp = client.post(reverse("terminal:try_start", args=[tv.pk]), follow=True)
    assert resp.redirect_chain[-1][0] == reverse("terminal:try")
    assert sentence(ERR_DISK_LOW) in resp.content.decode()
    assert not TerminalSession.objects.exists()


@pytest.mark.django_db
def test_opening_an_assignment_is_refused_until_there_is_room(client, demo_suite, settings, users) -> None:
    alice = users["alice"]
    make_ready(Task.objects.get(name="find_key"), users["staff"])
    ContractorProfile.objects.create(
        user=alice, status=ContractorStatus.ACTIVE, expertise=[{"area": "software engineering"}]
    )
    contractor_accept_rules(user=alice)
    assignment = assignment_claim_next(contractor=alice)
    client.force_login(alice)
    url = reverse("baselining:assignment", args=[assignment.pk])
    sessions_before = TerminalSession.objects.count()  # make_ready's QA run has one

    settings.MIN_FREE_DISK_MB = _more_than_free(settings.RECORDINGS_DIR)
    resp = client.post(url, follow=True)
    assert sentence(ERR_DISK_LOW) in resp.content.decode()
    assert not BaselineSession.objects.filter(assignment=assignment).exists()
    assert TerminalSession.objects.count() == sessions_before
    assert Assignment.objects.get(pk=assignment.pk).status == assignment.status  # not "in progress"

    settings.MIN_FREE_DISK_MB = 1  # space is back: the same button works
    resp = client.post(url)
    session = BaselineSession.objects.get(assignment=assignment)
    assert resp.url == reverse("baselining:session", args=[session.pk])


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_no_sandbox_is_opened_while_the_disk_is_low(tmp_path, _recordings, users, suite, settings) -> None:
    """A session created while there was room, attached after the disk filled: refused as unavailable (the
    session stays new, to start later), no sandbox, no recording."""
    alice = users["alice"]
    session = new_session(alice)
    sandboxes = set(os.listdir(settings.SANDBOX_DIR)) if settings.SANDBOX_DIR.exists() else set()
    free = str(_more_than_free(settings.DATA_DIR))
    servers = cast(Generator[PlatformServer], _server(tmp_path, "embedded", MIN_FREE_DISK_MB=free))
    server = next(servers)
    try:

        async def attach() -> dict[str, object]:
            c = server.client(session, alice)
            await c.connect()
            status = await c.wait_status(lambda s: s.get("state") == "unavailable", timeout=30)
            await c.close()
            return status

        status = async_to_sync(attach)()
    finally:
        servers.close()
    assert status["reason"] == ERR_DISK_LOW and status["input"] is False
    assert TerminalSession.objects.get(pk=session.pk).status == SessionStatus.NEW
    assert not session.recording_path.exists()
    now = set(os.listdir(settings.SANDBOX_DIR)) if settings.SANDBOX_DIR.exists() else set()
    assert now <= sandboxes | {".slots"}
