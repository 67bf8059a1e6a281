"""The demo (make run) shows the product: synthetic baselines behind Statistics and Exports, and the demo
agents' runs (examples/horizons/demo_runs.jsonl) behind Horizons, all labelled synthetic, none handed out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from baselining.synthetic import generate_suite
from horizons.demo import DEMO_AGENTS, DEMO_PREFIX, DEMO_SUITE, demo_runs, write_demo_runs
from horizons.models import AgentRun
from tasks.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
RUNS = Path(django_settings.BASE_DIR) / "examples" / "horizons" / "demo_runs.jsonl"


def _true_minutes() -> dict[str, float]:
    suite = generate_suite(prefix=DEMO_PREFIX, contractor_sigma=0.35, **DEMO_SUITE)
    tasks = Task.objects.select_related("family").in_bulk(list(suite.true_median))
    return {tasks[pk].task_id: m for pk, m in suite.true_median.items()}


def test_the_demo_runs_file_is_made_from_the_demo_suite() -> None:
    """The committed file is what horizons.demo makes from the demo suite's true medians (REGENERATE=1
    writes it)."""
    minutes = _true_minutes()
    if os.environ.get("REGENERATE"):
        write_demo_runs(minutes, RUNS)
    rows = [json.loads(line) for line in RUNS.read_text().splitlines()]
    assert rows == json.loads(json.dumps(demo_runs(minutes), sort_keys=True))
    assert {r["alias"] for r in rows} == set(DEMO_AGENTS) and all("synthetic" in r["alias"] for r in rows)


def test_make_run_seeds_statistics_and_horizons(client, settings) -> None:
    settings.DEMO_MODE = True
    settings.HORIZON_BOOTSTRAP = 100
    call_command("demo_setup")
    call_command("demo_setup")  # idempotent: seeded once
    synthetic = Task.objects.filter(family__name__startswith=f"{DEMO_PREFIX}_f")
    assert synthetic.count() == 40 and not synthetic.exclude(status=TaskStatus.RETIRED).exists()
    assert AgentRun.objects.count() == len(DEMO_AGENTS) * 40 * 4
    client.force_login(get_user_model().objects.get(username="staff"))
    stats = client.get("/stats/").content.decode()
    assert stats.count("<svg") == 4 and "synthetic_f00000/" in stats
    horizons = client.get("/horizons/").content.decode()
    for agent in DEMO_AGENTS:
        assert agent in horizons
    assert "doubling every" in horizons  # three release dates: the trend
    # alice's next task is a real demo task, never a synthetic one
    alice = get_user_model().objects.get(username="alice")
    client.force_login(alice)
    client.post("/work/rules/", {"agree": "yes"})
    resp = client.post("/work/next/")
    assert resp.status_code == 302 and "/work/assignments/" in resp["Location"]
    assert not alice.assignments.filter(task__family__name__startswith=DEMO_PREFIX).exists()
