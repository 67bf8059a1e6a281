"""Shared fixtures: a family store per test, family directories written on the fly, the demo suite."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from sandbox import get_backend
from sandbox.docker import DockerBackend
from tasks.services.importer import ImportReport, tasks_import

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "tasks"
ARTIFACTS = REPO / "test-artifacts"
# METR's public runs (January 2025), provided on this kind of machine; METR_RUNS points elsewhere.
METR_RUNS = Path(os.environ.get("METR_RUNS", "/work/shared/data/metr/all_runs_2025-01-28.jsonl"))


def metr_runs() -> Path:
    """The METR run file; a test that needs it fails (never skips) without it, saying where it looked."""
    if not METR_RUNS.is_file():
        pytest.fail(f"METR's run file is missing: {METR_RUNS} (set METR_RUNS to its path)")
    return METR_RUNS


@pytest.fixture(autouse=True)
def _family_store(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FAMILY_STORE = tmp_path / "family-store"


MakeFamily = Callable[..., Path]


@pytest.fixture
def make_family(tmp_path: Path) -> MakeFamily:
    """Write FAMILY/FAMILY.py (and optionally manifest.yaml and other files) under a suite directory."""

    def make(
        name: str,
        source: str,
        *,
        manifest: str | None = None,
        files: dict[str, str] | None = None,
        suite: str = "suite",
    ) -> Path:
        d = tmp_path / suite / name
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.py").write_text(textwrap.dedent(source))
        if manifest is not None:
            (d / "manifest.yaml").write_text(textwrap.dedent(manifest))
        for rel, text in (files or {}).items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
        return d

    return make


@pytest.fixture
def demo_suite(db: None) -> ImportReport:
    return tasks_import(path=EXAMPLES)


def pytest_configure(config: pytest.Config) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert settings.SANDBOX_BACKEND  # settings load before any test


SIMPLE_FAMILY = """
class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"one": {"answer": "42"}, "two": {"answer": "7"}}

    @staticmethod
    def get_instructions(t):
        return "Submit the answer."

    @staticmethod
    def score(t, submission):
        return 1.0 if submission.strip() == t["answer"] else 0.0
"""


@pytest.fixture
def docker(settings) -> DockerBackend:  # type: ignore[no-untyped-def]
    """The docker backend, made the configured one for this test."""
    settings.SANDBOX_BACKEND = "docker"
    backend = get_backend()
    assert isinstance(backend, DockerBackend)
    backend.check()  # fails, never skips, without an engine or the base image
    return backend


def metric_samples(text: str) -> dict[str, float]:
    """Every sample of a Prometheus exposition, by name and labels (`name{a="b"}`, labels sorted)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out
