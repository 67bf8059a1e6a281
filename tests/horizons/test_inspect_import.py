"""Agent runs from Inspect eval logs (written here with inspect_ai.log): the same stored runs and the same
horizons as the equivalent METR run file; unmatched samples previewed; bad logs refused, nothing stored."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from horizons.analysis import analyse
from horizons.fit import FitOptions
from horizons.inspect_logs import UnmatchedSamples, inspect_import
from horizons.models import Agent, AgentRun, RunBatch
from horizons.services import RunsImportError, runs_import
from tests.horizons.test_runs import suite_times

pytestmark = pytest.mark.django_db

START = "2026-11-02T10:00:00+00:00"
END = "2026-11-02T10:20:00+00:00"
RUN_FIELDS = (
    "agent__name", "agent__model", "run_id", "task_id_text", "task_family", "score", "score_binarized",
    "fatal_error_from", "working_seconds", "total_seconds", "tokens", "task_id",
)  # fmt: skip


@pytest.fixture
def suite(db):  # type: ignore[no-untyped-def]
    return suite_times(20)


def _plan(suite: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """The runs both files describe: two agents of known horizons, two epochs per task, one error, one
    token limit. Agent A's log names samples by platform task id and scores numbers; agent B's log names
    them s0, s1, ... (mapped by a task map) and scores Inspect's C / I."""
    rng = np.random.default_rng(3)
    out: list[dict[str, Any]] = []
    for agent, p50 in (("A", 10.0), ("B", 60.0)):
        for i, (task_id, minutes) in enumerate(suite):
            p = 1 / (1 + math.exp(math.log2(minutes) - math.log2(p50)))
            for epoch in (1, 2):
                ok = bool(rng.random() < p)
                run = {
                    "agent": agent, "task_id": task_id, "sample_id": task_id if agent == "A" else f"s{i}",
                    "epoch": epoch, "ok": ok, "value": (1.0 if ok else 0.4) if agent == "A" else ("C" if ok else "I"),
                    "error": None, "limit": None, "working": 60.0 * (i + 1) + epoch, "total": 1200.0,
                    "tokens": 1000 * (i + 1) + epoch, "uuid": f"{agent}-{i}-{epoch}",
                }  # fmt: skip
                out.append(run)
    out[3] |= {"error": "RuntimeError: the sandbox died\nTraceback...", "value": None, "ok": False}
    out[-1] |= {"limit": ("token", 50000.0), "ok": False, "value": "I"}
    return out


def _write_logs(plan: list[dict[str, Any]], where: Path) -> None:
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalError,
        EvalLog,
        EvalSample,
        EvalSampleLimit,
        EvalSpec,
        write_eval_log,
    )
    from inspect_ai.model import ModelUsage
    from inspect_ai.scorer import Score

    where.mkdir(parents=True, exist_ok=True)
    for agent, task, model, solver, fmt in (
        ("A", "suite_a", "openai/model-a", "react", "eval"),
        ("B", "suite_b", "anthropic/model-b", None, "json"),
    ):
        samples = []
        for r in (r for r in plan if r["agent"] == agent):
            samples.append(
                EvalSample(
                    id=r["sample_id"],
                    epoch=r["epoch"],
                    input="do the task",
                    target="",
                    scores=None
                    if r["value"] is None
                    else {"check": Score(value=r["value"]), "other": Score(value=0)},
                    error=None
                    if r["error"] is None
                    else EvalError(message=r["error"], traceback="tb", traceback_ansi="tb"),
                    limit=None
                    if r["limit"] is None
                    else EvalSampleLimit(type=r["limit"][0], limit=r["limit"][1]),
                    model_usage={
                        model: ModelUsage(
                            input_tokens=r["tokens"] - 100, output_tokens=100, total_tokens=r["tokens"]
                        )
                    },
                    started_at=START,
                    completed_at=END,
                    total_time=r["total"],
                    working_time=r["working"],
                    uuid=r["uuid"],
                )
            )
        log = EvalLog(
            status="success",
            eval=EvalSpec(
                created=START,
                task=task,
                model=model,
                solver=solver,
                config=EvalConfig(epochs=2),
                dataset=EvalDataset(name=task, samples=len(samples) // 2),
            ),
            samples=samples,
        )
        write_eval_log(log, (where / f"{task}.{fmt}").as_posix(), format=fmt)  # type: ignore[arg-type]


def _metr_file(plan: list[dict[str, Any]]) -> bytes:
    """The same runs as METR's run format (with the working and total time Inspect keeps)."""
    rows = []
    for r in plan:
        score = {"C": 1.0, "I": 0.0, None: 0.0}.get(r["value"], r["value"])
        fatal = None
        if r["error"]:
            fatal = "error: " + r["error"].splitlines()[0]
        elif r["limit"]:
            fatal = f"usageLimits: {r['limit'][0]} ({r['limit'][1]:g})"
        rows.append({
            "run_id": r["uuid"], "task_id": r["task_id"], "task_family": r["task_id"].split("/")[0],
            "alias": "openai/model-a (react)" if r["agent"] == "A" else "anthropic/model-b",
            "model": "openai/model-a" if r["agent"] == "A" else "anthropic/model-b",
            "score_cont": score, "score_binarized": int(r["ok"]), "fatal_error_from": fatal,
            "started_at": 1793613600000, "completed_at": 1793614800000, "working_time": r["working"],
            "total_time": r["total"], "tokens_count": r["tokens"],
        })  # fmt: skip
    return "\n".join(json.dumps(r) for r in rows).encode()


def _stored() -> list[tuple[Any, ...]]:
    return sorted(AgentRun.objects.values_list(*RUN_FIELDS))


def _figures() -> pd.DataFrame:
    result = analyse(FitOptions(n_bootstrap=100, seed=1)).result
    assert result is not None
    return result.table.drop(columns=[c for c in result.table.columns if c == "release_date"])


def _forget() -> None:
    AgentRun.objects.all().delete()
    RunBatch.objects.all().delete()
    Agent.objects.all().delete()


def test_inspect_logs_give_the_same_runs_and_horizons_as_the_metr_file(suite, tmp_path) -> None:
    plan = _plan(suite)
    _write_logs(plan, tmp_path / "logs")
    task_map = tmp_path / "map.json"
    task_map.write_text(json.dumps({f"suite_b/s{i}": t for i, (t, _) in enumerate(suite)}))
    out = io.StringIO()
    call_command("import_runs", str(tmp_path / "logs"), "--inspect-map", str(task_map), stdout=out)
    assert f"{len(plan)} runs imported from 2 Inspect log(s)" in out.getvalue()
    assert "score binarised at >= 1 (the first scorer)" in out.getvalue()
    from_inspect, inspect_figures = _stored(), _figures()
    assert len(from_inspect) == len(plan) and {r[1] for r in from_inspect} == {
        "openai/model-a",
        "anthropic/model-b",
    }
    errored = [r for r in from_inspect if r[7]]
    assert sorted(r[7] for r in errored) == [
        "error: RuntimeError: the sandbox died",
        "usageLimits: token (50000)",
    ]
    assert all(r[11] is not None for r in from_inspect)  # every run on its platform task
    assert {r[10] for r in from_inspect} == {p["tokens"] for p in plan}
    assert {r[8] for r in from_inspect} == {p["working"] for p in plan} and {r[9] for r in from_inspect} == {
        1200.0
    }

    _forget()
    runs_import(data=_metr_file(plan), name="runs.jsonl")
    assert _stored() == from_inspect
    pd.testing.assert_frame_equal(_figures(), inspect_figures)


def test_unmatched_samples_are_listed_and_refuse_the_import_unless_skipped(suite, tmp_path) -> None:
    plan = _plan(suite)
    _write_logs(plan, tmp_path)
    out = io.StringIO()
    call_command("import_runs", str(tmp_path / "suite_b.json"), "--preview", stdout=out)
    assert f"{len(suite)} samples match no platform task:" in out.getvalue()
    assert "suite_b/s0 -> suite_b/s0" in out.getvalue()
    assert AgentRun.objects.count() == 0
    with pytest.raises(UnmatchedSamples, match=f"{len(suite)} samples match no platform task"):
        inspect_import([tmp_path / "suite_b.json", tmp_path / "suite_a.eval"])
    assert RunBatch.objects.count() == 0
    result = inspect_import(
        [tmp_path / "suite_b.json", tmp_path / "suite_a.eval"],
        skip_unmatched=True,
        scorer="check",
        threshold=0.4,
    )
    assert result.stored == len(suite) * 2  # agent A's runs; B's left out, reported
    assert result.left_out[0] == "score binarised at >= 0.4 (check)"
    assert AgentRun.objects.filter(score=0.4, score_binarized=1).exists()
    with pytest.raises(RunsImportError, match="no score from scorer 'nope'"):
        inspect_import([tmp_path / "suite_a.eval"], scorer="nope")


def test_bad_logs_are_refused_with_the_file_and_reason_and_nothing_is_stored(suite, tmp_path) -> None:
    _write_logs(_plan(suite), tmp_path)
    data = (tmp_path / "suite_a.eval").read_bytes()
    (tmp_path / "broken.eval").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.json").write_text('{"eval": 1}')
    with pytest.raises(CommandError) as info:
        call_command("import_runs", str(tmp_path))
    text = str(info.value)
    assert text.startswith("nothing imported: 2 bad logs: broken.eval: not a readable Inspect log (")
    assert "garbage.json: not a readable Inspect log (" in text
    assert AgentRun.objects.count() == 0 and RunBatch.objects.count() == 0 and Agent.objects.count() == 0


def test_the_page_takes_an_inspect_log(suite, tmp_path, client) -> None:
    staff = get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True)
    client.force_login(staff)
    _write_logs(_plan(suite), tmp_path)
    upload = io.BytesIO((tmp_path / "suite_a.eval").read_bytes())
    upload.name = "suite_a.eval"
    resp = client.post("/horizons/", {"runs": upload, "human_times": "platform"}, follow=True)
    assert resp.status_code == 200
    assert f"{len(suite) * 2} runs imported from suite_a.eval" in resp.content.decode()
    assert AgentRun.objects.filter(agent__name="openai/model-a (react)").count() == len(suite) * 2
    upload = io.BytesIO((tmp_path / "suite_b.json").read_bytes())
    upload.name = "suite_b.json"
    resp = client.post("/horizons/", {"runs": upload, "human_times": "platform"}, follow=True)
    assert (
        "Nothing was imported" in resp.content.decode()
        and "suite_b/s0 -&gt; suite_b/s0" in resp.content.decode()
    )
    assert RunBatch.objects.count() == 1


def test_with_the_files_times_samples_need_human_minutes_and_unknown_tasks_are_kept(suite, tmp_path) -> None:
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, write_eval_log
    from inspect_ai.scorer import Score

    def log(metadata: dict[str, Any]) -> Path:
        sample = EvalSample(
            id=1, epoch=1, input="x", target="", scores={"s": Score(value="C")}, metadata=metadata
        )
        spec = EvalSpec(
            created=START, task="outside", model="m/x", config=EvalConfig(), dataset=EvalDataset()
        )
        path = tmp_path / f"log{len(metadata)}.eval"
        write_eval_log(EvalLog(status="success", eval=spec, samples=[sample]), path.as_posix())
        return path

    with pytest.raises(
        RunsImportError, match=r"log0.eval: .* on outside/1: no human_minutes in the sample's"
    ):
        inspect_import([log({})], human_times="file")
    result = inspect_import([log({"human_minutes": 12})], human_times="file")
    run = AgentRun.objects.get()
    assert (
        result.stored == 1
        and run.task is None
        and run.task_id_text == "outside/1"
        and run.human_minutes == 12
    )
