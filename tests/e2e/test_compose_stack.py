"""The production shape, run for real: docker-compose.yml's stack built from this checkout
(scripts/platform-images.sh: no registry, the images come from Debian's packages), brought up, and driven
in a real browser through its web service: staff import the demo suite through the upload page, a
contractor baselines a task (claim, terminal, submit, scored by the worker), staff export the CSVs. Then
every service restarts, and later the stack is backed up as docs/deployment.md says, destroyed with its
volumes and restored: the sessions, the recording and the exports are the same, byte for byte."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import ARTIFACTS, metric_samples
from tests.e2e.conftest import login, start_session
from tests.test_deployment import compose_command

pytestmark = [pytest.mark.browser, pytest.mark.compose, pytest.mark.slow]

REPO = Path(settings.BASE_DIR)
PLATFORM_IMAGE = os.environ.get("PLATFORM_IMAGE", "baselines/platform:latest")
STAFF_PASSWORD = "x-staff-compose-1"
CONTRACTOR_PASSWORD = "x-alice-compose-1"
METRICS_TOKEN = "compose-metrics-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    project: str
    url: str
    env: dict[str, str]
    logs: Path

    def compose(
        self, *args: str, check: bool = True, timeout: float = 600, **kw: object
    ) -> subprocess.CompletedProcess:
        kw.setdefault("stdout", subprocess.PIPE)
        result = subprocess.run(
            [*compose_command(), "-f", str(REPO / "docker-compose.yml"), *args],
            env=self.env,
            cwd=REPO,
            stderr=subprocess.PIPE,
            timeout=timeout,
            **kw,  # type: ignore[call-overload]
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} failed: {result.stderr.decode(errors='replace')[-3000:]}"
            )
        return result

    def manage(self, *args: str, service: str = "web") -> str:
        """A management command in a running service's container; its standard output."""
        return self.compose("exec", "-T", service, "python", "manage.py", *args).stdout.decode()

    def shell(self, code: str) -> object:
        """Python run by `manage.py shell` in the web container; the JSON it prints last, decoded."""
        out = self.manage("shell", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until /healthz answers 200 and every service with a health check reports healthy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=3) as r:  # noqa: S310  (loopback)
                    web_ok = r.status == 200
            except (urllib.error.URLError, OSError):
                web_ok = False
            ids = self.compose("ps", "-q").stdout.decode().split()
            states = subprocess.run(
                [
                    "docker",
                    "inspect",
                    "-f",
                    "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                    *ids,
                ],
                capture_output=True,
                text=True,
            ).stdout.split("\n")
            unhealthy = [s for s in states if s.strip() and s.split(" ", 1)[1:] not in ([""], ["healthy"])]
            if web_ok and not unhealthy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"stack not healthy after {timeout:.0f} s: web {web_ok}, {unhealthy}")
            time.sleep(2)

    def data_tar(self, backups: Path, *args: str) -> None:
        """tar in the platform's image with the data volume at /data and `backups` at /b, as
        docs/deployment.md's backup and restore run it."""
        self.compose("run", "--rm", "--no-deps", "-v", f"{backups}:/b", "worker", "tar", *args)

    def dump_logs(self, name: str) -> None:
        out = self.compose("logs", "--no-color", "--tail", "300", check=False).stdout
        (self.logs / f"compose-{name}.log").write_bytes(out)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    built = subprocess.run(
        [str(REPO / "scripts" / "platform-images.sh")], capture_output=True, text=True, cwd=REPO
    )
    assert built.returncode == 0, f"the images did not build: {built.stdout[-2000:]}{built.stderr[-3000:]}"
    port = _free_port()
    project = f"bltest{os.getpid()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "COMPOSE_PROJECT_NAME": project,
        "SECRET_KEY": "compose-test-" + os.urandom(8).hex(),
        "FORWARDED_ALLOW_IPS": "*",  # the test's browser is the only client; no proxy in front
        "HTTPS": "0",
        "PORT": str(port),
        "WEB_ADDRESS": "127.0.0.1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "PLATFORM_IMAGE": PLATFORM_IMAGE,
        "POSTGRES_IMAGE": os.environ.get("POSTGRES_IMAGE", "baselines/postgres:15"),
        "REDIS_IMAGE": os.environ.get("REDIS_IMAGE", "baselines/redis:7"),
        "DOCKER_BASE_IMAGE": os.environ.get("DOCKER_BASE_IMAGE", "baselines/base:bookworm"),
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    s = Stack(project=project, url=f"http://127.0.0.1:{port}", env=env, logs=ARTIFACTS)
    try:
        s.compose("up", "-d")
        s.wait_healthy()
        yield s
    finally:
        s.dump_logs("final")
        s.compose("down", "-v", "--remove-orphans", check=False)


def _demo_suite_archive(to: Path) -> Path:
    archive = to / "demo-suite.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for family in sorted((REPO / "examples" / "tasks").iterdir()):
            if family.is_dir():
                tar.add(family, arcname=family.name, filter=lambda i: None if "__pycache__" in i.name else i)
    return archive


def _fetch(page, url: str) -> bytes:  # type: ignore[no-untyped-def]
    """A GET with the page's login (its cookies): the body, which must be a 200."""
    response = page.request.get(url)
    assert response.status == 200, f"{url}: {response.status} {response.text()[:300]}"
    return bytes(response.body())


def _evidence(page, stack: Stack, terminal_id: str, session_id: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """What must survive a restart and a restore: the exports, the recording, the session's page."""
    got = {name: _fetch(page, f"{stack.url}/stats/exports/{name}") for name in ("baselines.csv", "tasks.csv")}
    got["recording"] = _fetch(page, f"{stack.url}/terminal/sessions/{terminal_id}/recording.cast")
    page.goto(f"{stack.url}/work/review/{session_id}/")
    got["review"] = page.inner_text("main").encode()
    return got


def _observable(stack: Stack, session_id: str) -> None:
    """Readiness, each service's metrics after one baseline, and JSON logs that name the session."""
    with urllib.request.urlopen(f"{stack.url}/readyz", timeout=10) as r:  # noqa: S310  (loopback)
        ready = json.loads(r.read())
    assert ready["ready"] and ready["checks"]["session_hosts"] == "1 taking sessions of 1", ready
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.url}/metrics", timeout=10)  # noqa: S310
    assert refused.value.code == 403  # the web's port is public behind the proxy: the token is needed
    asked = urllib.request.Request(  # noqa: S310  (loopback)
        f"{stack.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(asked, timeout=10) as r:  # noqa: S310
        web = metric_samples(r.read().decode())
    assert web['baselines_http_requests_total{method="POST",status="302",view="tasks:upload"}'] == 1

    def inside(service: str, port: int) -> dict[str, float]:
        read = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics').read().decode())"
        return metric_samples(stack.compose("exec", "-T", service, "python", "-c", read).stdout.decode())

    host = inside("sessionhost", 9102)  # the keepers' samples, added up
    assert host['baselines_session_starts_total{result="live"}'] == 1
    assert host["baselines_sandbox_provision_seconds_count"] == 1
    assert host["baselines_echo_seconds_count"] >= 10  # a keystroke each, at least
    assert host["baselines_recorded_bytes_total"] > 1000
    worker = inside("worker", 9101)
    assert worker['baselines_jobs_total{state="SUCCESS",task="baselining.score_session"}'] == 1
    assert worker['baselines_jobs_total{state="SUCCESS",task="tasks.run_import_job"}'] == 1
    assert worker['baselines_job_queue_depth{queue="celery"}'] == 0

    def json_lines(service: str) -> list[dict[str, object]]:
        lines = stack.compose("logs", "--no-color", service).stdout.decode().splitlines()
        return [json.loads(line.split("| ", 1)[1]) for line in lines if "| {" in line]

    for service in ("web", "worker", "sessionhost"):
        docs = json_lines(service)
        assert docs and all({"time", "level", "logger", "message"} <= set(d) for d in docs), service
    # the job's own lines ("succeeded") name its session; "received" is the main process's, before the job
    scored = [
        d
        for d in json_lines("worker")
        if d["logger"] == "celery.app.trace" and "score_session" in str(d["message"])
    ]
    assert scored and all(d["session_id"] == session_id for d in scored), scored


def test_the_composed_stack_serves_a_baseline_survives_restart_and_restores_from_backup(
    stack: Stack, browser, tmp_path: Path
) -> None:
    shot = lambda page, name: page.screenshot(path=str(ARTIFACTS / f"compose-{name}.png"), full_page=True)  # noqa: E731
    stack.compose(
        "exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={STAFF_PASSWORD}", "web",
        "python", "manage.py", "createsuperuser", "--noinput", "--username", "staff", "--email", "staff@example.org",
    )  # fmt: skip
    stack.shell(
        "import json; from django.contrib.auth import get_user_model;"
        "from baselining.models import ContractorProfile, ContractorStatus;"
        f"u = get_user_model().objects.create_user('alice', password='{CONTRACTOR_PASSWORD}');"
        "ContractorProfile.objects.create(user=u, status=ContractorStatus.ACTIVE,"
        " expertise=[{'area': 'software engineering', 'years': 5}]); print(json.dumps(u.pk))"
    )

    # Staff import the demo suite through the upload page; the worker imports it.
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    page = staff.new_page()
    login(page, stack.url, "staff", STAFF_PASSWORD)
    page.goto(f"{stack.url}/tasks/import/")
    page.set_input_files("input[name=archive]", str(_demo_suite_archive(tmp_path)))
    page.click("main button[type=submit]")
    page.wait_for_url("**/tasks/import/*/")
    for _ in range(300):  # the job's page refreshes itself until the worker is done
        with contextlib.suppress(PlaywrightError):  # a refresh under the read
            if page.locator("#job-report, #job-error").count():
                break
        page.wait_for_timeout(1000)
    shot(page, "1-imported")
    assert "ssh_key: imported" in page.inner_text("main"), page.inner_text("main")[:2000]
    # Ready for baselining as the demo setup makes it (ready needs a passed QA run, which is not this test's).
    stack.shell(
        "import json; from tasks.models import Task, TaskStatus; from tasks.services.status import"
        " record_status_change; t = Task.objects.get(family__name='ssh_key', name='find_key');"
        "record_status_change(task=t, status=TaskStatus.READY, by=None, note='compose test');"
        "print(json.dumps(t.pk))"
    )

    # A contractor baselines it in the terminal, through the composed web service and session host.
    contractor = browser.new_context(viewport={"width": 1280, "height": 900})
    alice = contractor.new_page()
    login(alice, stack.url, "alice", CONTRACTOR_PASSWORD)
    alice.wait_for_url("**/work/")
    alice.check("input[name=agree]")
    alice.click('button:has-text("Accept")')
    alice.click("#next-task")
    alice.wait_for_url("**/work/assignments/**")
    start_session(alice)
    alice.locator(".xterm").click()
    alice.keyboard.type("grep -l 'PRIVATE KEY' keys/*\n")
    alice.wait_for_function("window.terminalClient.text().includes('keys/backup.dat')", timeout=20_000)
    shot(alice, "2-terminal")
    alice.fill("#submission", "backup.dat")
    alice.click("#submit")
    alice.wait_for_selector("#result")
    for _ in range(120):  # scored by the worker container
        if "Success" in alice.inner_text("#result"):
            break
        alice.wait_for_timeout(500)
        alice.reload()
    shot(alice, "3-scored")
    assert "Success" in alice.inner_text("#result")
    ids = stack.shell(
        "import json; from baselining.models import BaselineSession;"
        "s = BaselineSession.objects.get(assignment__kind='baseline');"
        "print(json.dumps([str(s.pk), str(s.terminal_id), s.outcome, s.working_seconds]))"
    )
    assert isinstance(ids, list)
    session_id, terminal_id, outcome, working = ids
    assert outcome == "success" and working > 0

    _observable(stack, session_id)
    before = _evidence(page, stack, terminal_id, session_id)
    shot(page, "4-review")
    rows = before["baselines.csv"].decode().splitlines()
    assert len(rows) == 2 and "find_key" in rows[1] and "success" in rows[1], rows
    assert b'"o"' in before["recording"] and b"backup.dat" in before["recording"]

    # Every service restarts: nothing is lost.
    stack.compose("restart")
    stack.wait_healthy()
    assert _evidence(page, stack, terminal_id, session_id) == before

    # Backups as docs/deployment.md gives them, the stack destroyed with its volumes, then restored.
    dump = tmp_path / "db.dump"
    with dump.open("wb") as f:
        stack.compose("exec", "-T", "postgres", "pg_dump", "-U", "baselines", "-Fc", "baselines", stdout=f)
    data_volume = f"{stack.project}_data"
    stack.data_tar(tmp_path, "czf", "/b/data.tgz", "-C", "/data", ".")
    assert dump.stat().st_size > 10_000 and (tmp_path / "data.tgz").stat().st_size > 1_000
    stack.compose("down", "-v")
    volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True).stdout.split()
    assert data_volume not in volumes and f"{stack.project}_pgdata" not in volumes

    stack.compose("up", "-d", "postgres")
    for _ in range(60):
        if (
            stack.compose(
                "exec", "-T", "postgres", "pg_isready", "-h", "127.0.0.1", "-U", "baselines", check=False
            ).returncode
            == 0
        ):
            break
        time.sleep(1)
    with dump.open("rb") as f:
        stack.compose(
            "exec", "-T", "postgres", "pg_restore", "-U", "baselines", "--clean", "--if-exists", "-d", "baselines",
            stdin=f,
        )  # fmt: skip
    stack.data_tar(tmp_path, "xzf", "/b/data.tgz", "-C", "/data")
    stack.compose("up", "-d")
    stack.wait_healthy()
    after = _evidence(page, stack, terminal_id, session_id)
    shot(page, "5-restored")
    assert after == before
    staff.close()
    contractor.close()
