"""Prometheus metrics (issue 16): the session host counts live sessions, starts, provisioning time, the
shell's echo and the bytes recorded, in both shapes: embedded on the web's /metrics, with keepers on the
session host's own endpoint, where each keeper's samples are added up (multiprocess mode). /metrics is not
for everyone; /readyz says which dependency is missing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from tests.conftest import REPO, metric_samples
from tests.terminal.conftest import PlatformServer, _server, new_session, run, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310  (loopback)
        return metric_samples(r.read().decode())


@pytest.fixture(params=["embedded", "remote"])
def measured(
    request, tmp_path: Path, _recordings, transactional_db, settings
) -> Iterator[tuple[PlatformServer, str]]:  # type: ignore[no-untyped-def]
    """The platform in both shapes, with the URL where the session host's metrics are read."""
    if request.param == "embedded":
        for server in _server(tmp_path, "embedded", settings):
            yield server, f"{server.url}/metrics"
        return
    port = _port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "SESSION_HOST_METRICS_PORT": str(port)}
    for server in _server(tmp_path, "remote", settings, **env):
        yield server, f"http://127.0.0.1:{port}/metrics"


def test_the_session_host_counts_sessions_starts_echoes_and_recorded_bytes(measured, users, suite) -> None:
    server, url = measured
    before = scrape(url)
    session = new_session(users["alice"])

    async def typing() -> None:
        c = await server.shell(session, users["alice"])
        for i in range(5):
            assert (await run(c, f"echo typed-{i}")).strip() == f"typed-{i}"
        live = scrape(url)
        assert live.get("baselines_live_sessions", 0) == before.get("baselines_live_sessions", 0) + 1
        await c.close()

    async_to_sync(typing)()
    after = scrape(url)
    live = 'baselines_session_starts_total{result="live"}'
    assert after[live] == before.get(live, 0) + 1
    assert (
        after["baselines_sandbox_provision_seconds_count"]
        == before.get("baselines_sandbox_provision_seconds_count", 0) + 1
    )
    assert after["baselines_sandbox_provision_seconds_sum"] > 0.01
    echoes = after["baselines_echo_seconds_count"] - before.get("baselines_echo_seconds_count", 0)
    assert echoes >= 5  # one per command typed at least (each is written, then its echo read)
    assert 0 < after["baselines_echo_seconds_sum"] / after["baselines_echo_seconds_count"] < 1
    recorded = before.get("baselines_recorded_bytes_total", 0)  # written within FLUSH_INTERVAL of the output
    wait_until(lambda: scrape(url).get("baselines_recorded_bytes_total", 0) > recorded + 100)

    server.end_session(session, users["alice"])
    wait_until(
        lambda: scrape(url).get("baselines_live_sessions", 0) == before.get("baselines_live_sessions", 0)
    )


def test_metrics_are_for_the_scraper_only(embedded_server, settings) -> None:
    """From loopback without a token (the machine's own scraper), else only with METRICS_TOKEN."""
    scrape(f"{embedded_server.url}/metrics")
    again = scrape(f"{embedded_server.url}/metrics")  # counted once answered: the first scrape is in this one
    assert again['baselines_http_requests_total{method="GET",status="200",view="metrics"}'] >= 1


def test_metrics_token_and_readiness(client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert answer.status_code == 200 and b"baselines_http_requests_total" in answer.content
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    client.generic("MADEUP1", "/healthz")  # a method of the client's own: no series of its own
    series = client.get("/metrics").content.decode()
    assert "MADEUP1" not in series and 'method="other"' in series

    settings.SESSION_HOST_SOCKET = ""
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok", ready.content
    settings.REDIS_URL = f"redis://127.0.0.1:{_port()}/0"  # nothing listens there
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["redis"].startswith("unreachable"), down.content
    settings.REDIS_URL = ""
    settings.SESSION_HOST_SOCKET = "/nonexistent/host.sock"  # production, and no session host registered
    nohost = client.get("/readyz")
    assert nohost.status_code == 503 and nohost.json()["checks"]["session_hosts"] == "0 taking sessions of 0"


def test_json_logs_name_the_session() -> None:
    """LOG_FORMAT=json: one JSON object per line, with the session the line is about."""
    code = (
        "import django, logging; django.setup(); from config.logs import about_session;"
        "logging.getLogger('terminal.host').warning('first line'); about_session('5f0c');"
        "logging.getLogger('terminal.host').warning('about %s', 'it')"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO, check=True
    )
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    lines = [d for d in lines if d["logger"] == "terminal.host"]
    assert [(d["level"], d["logger"], d["message"], d["session_id"]) for d in lines] == [
        ("WARNING", "terminal.host", "first line", None),
        ("WARNING", "terminal.host", "about it", "5f0c"),
    ], out.stderr
    assert all(d["time"] for d in lines)
