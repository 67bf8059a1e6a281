"""The deployment files are valid and their documentation is complete."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from django.conf import settings

REPO = Path(settings.BASE_DIR)


def compose_command() -> list[str]:
    """`docker compose` (the plugin) when the CLI has it, else the standalone docker-compose."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "neither `docker compose` nor docker-compose is installed (scripts/docker-engine.sh)"
    return [standalone]


def test_compose_file_validates_and_keeps_the_socket_from_the_web() -> None:
    result = subprocess.run(
        [*compose_command(), "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "SECRET_KEY": "validate-only",
            "FORWARDED_ALLOW_IPS": "172.18.0.1",
        },
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) >= {"postgres", "redis", "web", "worker", "beat", "sessionhost"}
    for name in ("postgres", "redis", "web", "worker", "sessionhost"):
        assert "healthcheck" in services[name], name

    def mounts(name: str) -> list[str]:
        return [str(v.get("source") if isinstance(v, dict) else v) for v in services[name].get("volumes", [])]

    assert not any("docker.sock" in m for m in mounts("web") + mounts("beat"))
    assert any("docker.sock" in m for m in mounts("worker")) and any(
        "docker.sock" in m for m in mounts("sessionhost")
    )
    assert services["sessionhost"]["environment"]["SANDBOX_BACKEND"] == "docker"


def test_every_setting_is_documented() -> None:
    source = (REPO / "config" / "settings.py").read_text()
    names = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source)) | set(
        re.findall(r'_env_bool\("([A-Z_]+)"', source)
    )
    doc = (REPO / "docs" / "deployment.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"settings missing from docs/deployment.md: {missing}"
