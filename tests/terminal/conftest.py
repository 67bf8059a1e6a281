"""A real platform server for terminal tests: uvicorn (and, in "remote" mode, a session_host process)
as subprocesses, on the test database, with helpers to log in and open terminal sessions."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from tasks.models import Task
from terminal.keeper import instance_of, keeper_pids
from terminal.keepers import end_all
from terminal.models import TerminalSession
from terminal.services import terminal_session_create
from terminal.wsclient import TerminalClient
from tests.conftest import REPO

pytestmark = pytest.mark.sandbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or "postgres"
    return f"postgres://{user}@{sd.get('HOST') or '127.0.0.1'}:{sd.get('PORT') or 5432}/{sd['NAME']}"


@dataclass
class PlatformServer:
    tmp: Path
    mode: str  # "embedded" or "remote"
    port: int = field(default_factory=_free_port)
    web: subprocess.Popen[bytes] | None = None
    host: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> str:
        return str(self.tmp / "session-host.sock")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_database_url(),
            FAMILY_STORE=str(settings.FAMILY_STORE),
            RECORDINGS_DIR=str(settings.RECORDINGS_DIR),
            SECRET_KEY=settings.SECRET_KEY,
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        env.update(self.extra_env)
        if self.mode == "remote":
            env["SESSION_HOST_SOCKET"] = self.socket_path
        else:
            env.pop("SESSION_HOST_SOCKET", None)
        return env

    def start_host(self) -> None:
        with contextlib.suppress(FileNotFoundError):  # a killed host's: the new one is up when it is back
            os.unlink(self.socket_path)
        log = (self.tmp / "session-host.log").open("ab")
        self.host = subprocess.Popen(
            [sys.executable, "manage.py", "session_host"], cwd=REPO, env=self.env(), stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket_path):
            if self.host.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"session host did not start: {(self.tmp / 'session-host.log').read_text()}"
                )
            time.sleep(0.05)

    def start_web(self) -> None:
        log = (self.tmp / "web.log").open("ab")
        cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--ws-per-message-deflate", "false", "--log-level", "warning"]
        self.web = subprocess.Popen(cmd, cwd=REPO, env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.web.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"web server did not start: {(self.tmp / 'web.log').read_text()}"
                    ) from None
                time.sleep(0.05)

    def stop_web(self, sig: int = signal.SIGTERM) -> None:
        if self.web is not None:
            self.web.send_signal(sig)
            self.web.wait(timeout=20)
            self.web = None

    def stop_host(self, sig: int = signal.SIGTERM) -> None:
        """Stop the session host process (its sessions' keepers, and every shell, go on without it)."""
        if self.host is not None:
            self.host.send_signal(sig)
            try:
                self.host.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.host.kill()
                self.host.wait()
            self.host = None

    def stop(self) -> None:
        self.stop_web()
        self.stop_host()
        if self.mode == "remote":  # the keepers this server started, and only those
            with ThreadPoolExecutor(1) as pool:  # its own event loop: a browser test's thread runs one
                pool.submit(end_all, instance_of(self.socket_path), "test teardown").result()

    def alive(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/login/", timeout=30) as r:  # noqa: S310  (loopback test server)
                return bool(r.status == 200)
        except OSError:
            return False

    def log_in(self, user) -> str:  # type: ignore[no-untyped-def]
        """A session cookie for user (works from async test code: the ORM runs in a worker thread)."""

        def login() -> str:
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(user)
            return f"sessionid={client.cookies['sessionid'].value}"

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(login).result()

    def end_session(self, session: TerminalSession, user) -> None:  # type: ignore[no-untyped-def]
        """Press "End session" as user: a POST to the running server, with a CSRF token pair."""
        import urllib.request

        csrf = "e" * 32
        req = urllib.request.Request(  # noqa: S310  (loopback test server)
            f"{self.url}/terminal/sessions/{session.id}/end/",
            data=f"csrfmiddlewaretoken={csrf}".encode(),
            headers={"Cookie": f"{self.log_in(user)}; csrftoken={csrf}", "Referer": self.url + "/"},
        )
        urllib.request.urlopen(req, timeout=60)  # noqa: S310

    async def shell(self, session: TerminalSession, user, **kw) -> TerminalClient:  # type: ignore[no-untyped-def]
        """A client attached to the session's shell, its first prompt already there."""
        c = self.client(session, user, **kw)
        await c.connect(cols=200)
        await c.wait_for("$ ", timeout=30)
        return c

    def ws_url(self, session: TerminalSession) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/terminal/{session.id}/"

    def client(self, session: TerminalSession, user, **kw) -> TerminalClient:  # type: ignore[no-untyped-def]
        return TerminalClient(self.ws_url(session), cookie=self.log_in(user), origin=self.url, **kw)


@pytest.fixture
def _recordings(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.RECORDINGS_DIR = tmp_path / "recordings"


def _server(tmp_path: Path, mode: str, test_settings=None, **env: str) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    server = PlatformServer(tmp_path, mode, extra_env=env)
    if test_settings is not None and mode == "remote":
        # services called from the test process (pause, submit...) reach the same session host
        test_settings.SESSION_HOST_SOCKET = server.socket_path
    try:
        if mode == "remote":
            server.start_host()
        server.start_web()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["embedded", "remote"])
def server(request, tmp_path, _recordings, transactional_db, settings) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    """The platform in both of its shapes: the session host in the web process, or its own process."""
    yield from _server(tmp_path, request.param, settings)


@pytest.fixture
def embedded_server(tmp_path, _recordings, transactional_db) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    yield from _server(tmp_path, "embedded")


@pytest.fixture
def remote_server(tmp_path, _recordings, transactional_db, settings) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    yield from _server(tmp_path, "remote", settings)


@pytest.fixture
def impatient_server(tmp_path, _recordings, transactional_db, settings) -> Iterator[PlatformServer]:  # type: ignore[no-untyped-def]
    """Remote shape with the clock's idle and disconnect pauses after about a second."""
    yield from _server(tmp_path, "remote", settings, IDLE_PAUSE_AFTER="1.5", DISCONNECT_PAUSE_AFTER="1")


@pytest.fixture
def users(transactional_db):  # type: ignore[no-untyped-def]
    User = get_user_model()
    return {
        "staff": User.objects.create_user("staff1", password="x-staff-1", is_staff=True),
        "alice": User.objects.create_user("alice1", password="x-alice-1"),
        "bob": User.objects.create_user("bob1", password="x-bob-1"),
    }


@pytest.fixture
def suite(transactional_db):  # type: ignore[no-untyped-def]
    from tasks.services.importer import tasks_import
    from tests.conftest import EXAMPLES

    return tasks_import(path=EXAMPLES)


def new_session(user, task_id: str = "ssh_key/find_key", purpose: str = "baseline") -> TerminalSession:  # type: ignore[no-untyped-def]
    family, name = task_id.split("/")
    tv = Task.objects.get(family__name=family, name=name).latest_version
    assert tv is not None
    return terminal_session_create(user=user, task_version=tv, purpose=purpose)


def open_baseline(user, tv):  # type: ignore[no-untyped-def]
    """A baseline assignment of task version tv reserved for user, opened (its session created)."""
    from baselining.models import Assignment, AssignmentKind, AssignmentStatus
    from baselining.services.lifecycle import baseline_session_open

    assignment = Assignment.objects.create(
        contractor=user,
        task=tv.task,
        task_version=tv,
        kind=AssignmentKind.BASELINE,
        status=AssignmentStatus.RESERVED,
    )
    return baseline_session_open(assignment=assignment, user=user)


async def run(client: TerminalClient, command: str, timeout: float = 20) -> str:
    """Type a command into the shell and return what it printed (up to our end marker).

    The marker is typed as __E""ND<n>__ so that the shell's echo of the typed line never matches it."""
    since = client.received
    token = f"{time.monotonic_ns()}"
    typed = f'__E""ND{token}__$?'
    await client.send_input(f"{command}; echo {typed}\r")
    end = await client.wait_for(f"__END{token}__", timeout=timeout, since=since)
    raw = bytes(client.data[since - client.base : end - client.base]).decode(errors="replace")
    # Output starts after the last echo of the typed line (typed-ahead input can be echoed twice).
    out = raw[raw.rfind(typed) + len(typed) :]
    return ANSI.sub("", out.rsplit(f"__END{token}__", 1)[0]).strip("\r\n")


def keeper_pid(session: TerminalSession) -> int:
    """The pid of the keeper process that holds a live session (remote shape)."""
    pids = keeper_pids(str(session.id))
    if not pids:
        raise LookupError(f"no keeper for session {session.id}")
    return pids[0]


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@pytest.fixture
def worker(remote_server, settings) -> Iterator[subprocess.Popen[bytes] | None]:  # type: ignore[no-untyped-def]
    """With a Redis broker (CI), a real Celery worker runs the jobs; without one they run in-process."""
    settings.SESSION_HOST_SOCKET = remote_server.socket_path
    if not settings.REDIS_URL:
        yield None
        return
    log = (remote_server.tmp / "worker.log").open("ab")
    # jobs queued by earlier tests (whose rows are gone) must not reach this worker
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f"],
        cwd=REPO,
        env=remote_server.env(),
        stdout=log,
        stderr=log,
        check=True,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "info"],
        cwd=REPO,
        env=remote_server.env(),
        stdout=log,
        stderr=log,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def wait_until(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Poll predicate() (database state a server or worker process changes) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)
