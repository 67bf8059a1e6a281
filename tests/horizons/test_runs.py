"""Agent runs in (METR's format, atomic, every bad row named) and time horizons out: command, page, signals."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from baselining.synthetic import generate_suite
from horizons.models import Agent, AgentRun, RunBatch
from horizons.services import RunsImportError, runs_import
from tasks.models import Flag, Task

pytestmark = pytest.mark.django_db


def _runs(
    tasks: list[tuple[str, float]], agents: dict[str, float], seed: int = 0, per_task: int = 3
) -> bytes:
    """Runs of agents with known 50% horizons (minutes) on tasks of known human minutes, as JSON Lines."""
    rng = np.random.default_rng(seed)
    lines = []
    for agent, p50 in agents.items():
        for task_id, minutes in tasks:
            p = 1 / (1 + math.exp(0.9 * (math.log2(minutes) - math.log2(p50))))
            for k in range(per_task):
                ok = int(rng.random() < p)
                lines.append({"run_id": f"{agent}-{task_id}-{k}", "task_id": task_id,
                              "task_family": task_id.split("/")[0], "alias": agent, "model": agent.lower(),
                              "score_cont": float(ok), "score_binarized": ok, "human_minutes": minutes})  # fmt: skip
    return "\n".join(json.dumps(x) for x in lines).encode()


def suite_times(n_tasks: int) -> list[tuple[str, float]]:
    """A synthetic suite of n_tasks with baselines: each task's id and human minutes."""
    generate_suite(n_tasks=n_tasks, attempts_per_task=4, seed=9, tasks_per_family=5)
    from baselining.exports import suite_statistics
    from baselining.selectors import ExportFilters

    stats = suite_statistics(ExportFilters())
    return [
        (f"{f}/{n}", float(m))
        for f, n, m in zip(stats["family"], stats["name"], stats["human_minutes"], strict=True)
    ]


@pytest.fixture
def suite(db):  # type: ignore[no-untyped-def]
    return suite_times(40)


def test_a_bad_row_refuses_the_whole_file_and_names_every_bad_row(suite) -> None:
    good = _runs(suite[:5], {"A": 30.0})
    bad = good + b'\n{"task_id": "x/y", "alias": "A", "score": 1.7}\nnot json\n{"alias": "B", "score": 1}'
    with pytest.raises(RunsImportError) as info:
        runs_import(data=bad, name="runs.jsonl")
    text = str(info.value)
    assert text.startswith(
        "3 bad rows: line 16: score 1.7 is not in [0, 1] and there is no score_binarized; line 17: not JSON"
    )
    assert "line 18: no task_id" in text
    assert AgentRun.objects.count() == 0 and RunBatch.objects.count() == 0 and Agent.objects.count() == 0
    csv_bad = b"task_id,alias,score\nx/y,A,0.5\nx/z,,1\n"
    with pytest.raises(RunsImportError, match="line 3: no alias"):
        runs_import(data=csv_bad, name="runs.csv")


def test_platform_human_times_leave_out_unknown_tasks_and_file_times_keep_them(suite) -> None:
    data = _runs([*suite[:6], ("elsewhere/task", 12.0)], {"A": 30.0}, per_task=2)
    result = runs_import(data=data, name="runs.jsonl")
    assert result.stored == 12
    assert result.left_out == ["2 runs on elsewhere/task left out: the platform has no human time for it"]
    result = runs_import(data=data, name="runs.jsonl", human_times="file")
    assert result.stored == 14
    external = AgentRun.objects.filter(task_id_text="elsewhere/task")
    assert external.count() == 2 and all(r.task_id is None for r in external)
    with pytest.raises(RunsImportError, match="no human_minutes"):
        runs_import(data=b'{"task_id": "a/b", "alias": "A", "score": 1}', name="r.jsonl", human_times="file")


def test_compute_horizons_from_a_file_writes_the_table_and_plots(suite, tmp_path) -> None:
    agents = {"Weak": 4.0, "Middle": 30.0, "Strong": 240.0}
    path = tmp_path / "runs.jsonl"
    path.write_bytes(_runs(suite, agents, per_task=4))
    dates = tmp_path / "dates.csv"
    dates.write_text("agent,release_date\nWeak,2023-01-01\nMiddle,2024-01-01\nStrong,2025-01-01\n")
    out = io.StringIO()
    call_command("compute_horizons", "--out", str(tmp_path / "out"), "--runs", str(path), "--bootstrap", "200",
                 "--release-dates", str(dates), stdout=out)  # fmt: skip
    table = pd.read_csv(tmp_path / "out" / "horizons.csv")
    assert list(table.columns[:12]) == ["agent", "n_runs", "n_tasks", "weighted_success", "slope", "intercept",
                                        "p50_minutes", "p50_low", "p50_high", "p80_minutes", "p80_low", "p80_high"]  # fmt: skip
    by = table.set_index("agent")
    assert by.loc["Weak", "p50_minutes"] < by.loc["Middle", "p50_minutes"] < by.loc["Strong", "p50_minutes"]
    for agent, _p50 in agents.items():
        assert by.loc[agent, "p50_low"] <= by.loc[agent, "p50_minutes"] <= by.loc[agent, "p50_high"]
        assert by.loc[agent, "p80_minutes"] < by.loc[agent, "p50_minutes"]
    assert (tmp_path / "out" / "trend.svg").exists() and len(
        list((tmp_path / "out").glob("agent-*.svg"))
    ) == 3
    assert "doubling time" in out.getvalue()
    assert AgentRun.objects.count() == 0  # --runs does not store
    with pytest.raises(CommandError, match="no such file"):
        call_command("compute_horizons", "--out", str(tmp_path), "--runs", str(tmp_path / "missing.jsonl"))


def test_the_page_shows_horizons_and_a_signal_becomes_a_flag(suite, client) -> None:
    staff = get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True)
    client.force_login(staff)
    data = _runs(suite, {"Weak": 4.0, "Middle": 30.0, "Strong": 240.0}, per_task=3)
    # a task every agent solves although it is long for the weak one: a scorer that can be fooled?
    longest = max(suite, key=lambda t: t[1])[0]
    rows = [json.loads(x) for x in data.decode().splitlines()]
    for r in rows:
        if r["task_id"] == longest:
            r["score_cont"], r["score_binarized"] = 1.0, 1
    upload = io.BytesIO("\n".join(json.dumps(r) for r in rows).encode())
    upload.name = "runs.jsonl"
    resp = client.post("/horizons/", {"runs": upload, "human_times": "platform"}, follow=True)
    html = resp.content.decode()
    assert f"{len(rows)} runs imported from runs.jsonl" in html
    assert html.count("<svg") >= 3 and "Weak" in html and "Flag for QA" in html
    task = Task.objects.get(family__name=longest.split("/")[0], name=longest.split("/")[1])
    resp = client.post(
        "/horizons/flag/", {"task": task.pk, "kind": "too_easy", "agents": "Weak (100% vs 3%)"}
    )
    flag = Flag.objects.get()
    assert resp.status_code == 302 and flag.task == task and flag.category == "shortcut"
    assert "Weak (100% vs 3%)" in flag.description and flag.source == "horizons"


def test_contractors_cannot_see_horizons(client) -> None:
    client.force_login(get_user_model().objects.create_user("carol", password="x-pass-123"))
    assert client.get("/horizons/").status_code == 403
    assert client.post("/horizons/flag/", {"task": 1, "kind": "too_easy"}).status_code == 403


def test_the_fit_is_computed_once_for_what_it_depends_on(suite, client, monkeypatch, settings) -> None:
    """Loading the page again reads the fit it made; an upload, a release date, another option, or a change
    to the platform's human times (a review that invalidates an attempt) makes it fit again."""
    import horizons.views
    from baselining.models import BaselineSession, InvalidReason
    from baselining.services.review import baseline_session_review

    settings.HORIZON_BOOTSTRAP = 50
    fits: list[object] = []
    analyse = horizons.views.analyse

    def counted(options: object) -> object:
        fits.append(options)
        return analyse(options)  # type: ignore[arg-type]

    monkeypatch.setattr(horizons.views, "analyse", counted)
    client.force_login(get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True))

    def upload(agents: dict[str, float], seed: int) -> None:
        f = io.BytesIO(_runs(suite, agents, seed=seed))
        f.name = "runs.jsonl"
        assert client.post("/horizons/", {"runs": f, "human_times": "platform"}).status_code == 302

    upload({"Weak": 4.0, "Strong": 240.0}, seed=1)

    def fitted_part() -> str:  # the agents, the trend, each agent's plot (no per-response CSRF token)
        return (
            client.get("/horizons/")
            .content.decode()
            .split('<section id="agents">')[1]
            .split('id="signals"')[0]
        )

    first = fitted_part()
    assert len(fits) == 1 and "Strong" in first
    assert fitted_part() == first and len(fits) == 1  # read, not refitted
    client.get("/horizons/?weighting=equal")
    assert len(fits) == 2  # another option: its own fit
    client.get("/horizons/?weighting=equal")
    assert len(fits) == 2
    upload({"Middle": 30.0}, seed=2)
    assert "Middle" in client.get("/horizons/").content.decode() and len(fits) == 3
    Agent.objects.filter(name="Weak").update(release_date="2024-01-01")
    client.get("/horizons/")
    assert len(fits) == 4
    session = BaselineSession.objects.filter(assignment__kind="baseline", outcome="success").first()
    assert session is not None
    staff = get_user_model().objects.get(username="boss")
    baseline_session_review(session=session, by=staff, valid=False, reason=InvalidReason.RULES)
    client.get("/horizons/")
    assert len(fits) == 5  # the human times changed under the platform's runs
    from django.utils import timezone

    from baselining.models import ClockEvent

    ClockEvent.objects.create(session=session, seq=99, kind="paused", at=timezone.now(), reason="idle")
    client.get("/horizons/")
    assert len(fits) == 5  # a clock event that is no timing correction: nothing the fit reads
