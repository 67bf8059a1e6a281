"""Terminal pages over HTTP: who may open which page, and what sandbox_exec does."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from terminal.models import SessionStatus, TerminalSession
from tests.terminal.conftest import new_session

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_page_access_matrix(client, users, suite, settings, tmp_path) -> None:
    settings.RECORDINGS_DIR = tmp_path
    session = new_session(users["alice"])
    session.recording_path.write_text('{"version": 2, "width": 80, "height": 24}\n')
    urls = {
        "session": reverse("terminal:session", args=[session.id]),
        "replay": reverse("terminal:replay", args=[session.id]),
        "recording": reverse("terminal:recording", args=[session.id]),
        "try": reverse("terminal:try"),
        "sessions": reverse("terminal:sessions"),
    }
    expected = {
        None: {"session": 302, "replay": 302, "recording": 302, "try": 302, "sessions": 302},
        "alice": {"session": 200, "replay": 403, "recording": 403, "try": 403, "sessions": 403},
        "bob": {"session": 404, "replay": 403, "recording": 403, "try": 403, "sessions": 403},
        "staff": {"session": 200, "replay": 200, "recording": 200, "try": 200, "sessions": 200},
    }
    for who, codes in expected.items():
        client.logout()
        if who:
            client.force_login(users[who])
        got = {name: client.get(url).status_code for name, url in urls.items()}
        assert got == codes, who
    client.force_login(users["bob"])
    assert client.post(reverse("terminal:end", args=[session.id])).status_code == 404
    session.refresh_from_db()
    assert session.status == SessionStatus.NEW


def test_contractors_cannot_open_trial_sessions(client, users, suite) -> None:
    from tasks.models import TaskVersion

    tv = TaskVersion.objects.first()
    client.force_login(users["alice"])
    assert client.post(reverse("terminal:try_start", args=[tv.pk])).status_code == 403
    client.force_login(users["staff"])
    resp = client.post(reverse("terminal:try_start", args=[tv.pk]))
    assert resp.status_code == 302
    assert TerminalSession.objects.get().purpose == "trial"


def test_sandbox_exec_prints_output_and_returns_the_exit_code(users, suite, capfd) -> None:
    with pytest.raises(SystemExit) as done:
        call_command("sandbox_exec", "ssh_key/find_key", "--", "sh", "-c", "whoami; ls keys | wc -l; exit 3")
    assert done.value.code == 3
    assert capfd.readouterr().out.split() == ["agent", "6"]
    with pytest.raises(SystemExit) as done:
        call_command("sandbox_exec", "ssh_key/find_key", "--", "cat", "/root/ssh_key.py")
    assert done.value.code == 1
    assert "Permission denied" in capfd.readouterr().err
