"""From stored runs to time horizons: the rows fit_agents wants, the fits, and the disagreements between
agents and human times that deserve a look from QA."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from baselining.selectors import human_times_fingerprint
from horizons.fit import FitOptions, HorizonResult, doubling_time, fit_agents, outcome, success_curve
from horizons.models import Agent, AgentRun, HumanTimes, RunBatch
from horizons.services import platform_human_minutes

RUN_COLUMNS = ["agent", "task_id", "task_family", "human_minutes", "score", "score_binarized"]


def stored_runs() -> tuple[pd.DataFrame, list[str]]:
    """Every stored run with its human time: the platform's current one (batches imported with `platform`)
    or the file's (`file`). Runs whose platform task has lost its time are left out and reported."""
    values = AgentRun.objects.values_list(
        "agent__name", "task_id_text", "task_family", "human_minutes", "score", "score_binarized",
        "batch__human_times",
    )  # fmt: skip
    frame = pd.DataFrame.from_records(list(values), columns=[*RUN_COLUMNS, "source"])
    if frame.empty:
        return frame[RUN_COLUMNS], []
    platform = frame["source"] == HumanTimes.PLATFORM
    if platform.any():
        known = platform_human_minutes()
        frame.loc[platform, "human_minutes"] = frame.loc[platform, "task_id"].map(known)
    missing = frame["human_minutes"].isna()
    report = [
        f"{n} runs on {t} left out: no human time now"
        for t, n in frame.loc[missing, "task_id"].value_counts().items()
    ]
    return frame.loc[~missing, RUN_COLUMNS].astype({"human_minutes": "float64"}), report


def inputs_fingerprint(options: FitOptions) -> str:
    """What a fit of the stored runs depends on, as a digest: the imports (each batch's id and time), the
    release dates, the options and, when some runs take the platform's human times, what those are made of
    (human_times_fingerprint). A few aggregate queries: the fit itself reads every run and refits."""
    batches = list(RunBatch.objects.order_by("pk").values_list("pk", "created_at"))
    parts: list[object] = [batches, sorted(stored_release_dates().items()), repr(options)]
    if AgentRun.objects.filter(batch__human_times=HumanTimes.PLATFORM).exists():
        parts.append(human_times_fingerprint())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class Analysis:
    runs: pd.DataFrame
    result: HorizonResult | None
    trend: dict[str, object] | None
    left_out: list[str]
    dates: dict[str, object]  # agent -> release date, for the trend


def stored_release_dates() -> dict[str, object]:
    return dict(Agent.objects.filter(release_date__isnull=False).values_list("name", "release_date"))


def analyse(
    options: FitOptions, runs: pd.DataFrame | None = None, dates: dict[str, object] | None = None
) -> Analysis:
    """Fit every agent; the trend against release dates (the stored ones unless dates are given)."""
    left_out: list[str] = []
    if runs is None:
        runs, left_out = stored_runs()
    if dates is None:
        dates = stored_release_dates()
    if runs.empty:
        return Analysis(runs, None, None, left_out, dates)
    result = fit_agents(runs, options)
    return Analysis(runs, result, trend(result, dates), left_out, dates)


def trend(result: HorizonResult, dates: dict[str, object]) -> dict[str, object] | None:
    table = result.table.set_index("agent")
    have = [a for a in table.index if a in dates and not pd.isna(table.at[a, "p50_minutes"])]
    if len(have) < 3:
        return None
    release = pd.Series(pd.to_datetime([dates[a] for a in have]), index=have)
    return doubling_time(release, table.loc[have, "p50_minutes"])


# --- Agent-human discrepancies: QA signals -----------------------------------------------------------

TOO_EASY, TOO_HARD = "too_easy", "too_hard"


def discrepancies(analysis: Analysis, *, min_runs: int = 2, gap: float = 0.6) -> pd.DataFrame:
    """Tasks where agents' success is far from what the task's human time predicts for them:
    too_easy: agents succeed much more often than predicted (a scorer that can be fooled? a shortcut?);
    too_hard: agents fail a task predicted to be easy for them (broken environment? a wrong human time?).
    One row per (task, kind) with the agents involved, largest gaps first."""
    if analysis.result is None or analysis.runs.empty:
        return pd.DataFrame(columns=["task_id", "kind", "human_minutes", "agents", "gap", "runs"])
    fits = analysis.result.table.set_index("agent")[["slope", "intercept"]]
    runs = analysis.runs.copy()
    runs["y"] = outcome(runs)
    g = runs.groupby(["task_id", "agent"]).agg(
        observed=("y", "mean"), n=("y", "size"), minutes=("human_minutes", "first")
    )
    g = g.loc[g["n"] >= min_runs].reset_index()
    g = g.join(fits, on="agent")
    g = g.loc[g["slope"].notna()]
    g["predicted"] = success_curve(
        g["slope"].to_numpy(dtype=float),
        g["intercept"].to_numpy(dtype=float),
        g["minutes"].to_numpy(dtype=float),
    )
    g["gap"] = g["observed"] - g["predicted"]
    rows = []
    for kind, mask in ((TOO_EASY, g["gap"] >= gap), (TOO_HARD, g["gap"] <= -gap)):
        for task_id, part in g.loc[mask].groupby("task_id"):
            rows.append(
                {
                    "task_id": task_id,
                    "kind": kind,
                    "human_minutes": float(part["minutes"].iloc[0]),
                    "agents": ", ".join(
                        f"{a} ({o:.0%} vs {p:.0%})"
                        for a, o, p in zip(part["agent"], part["observed"], part["predicted"], strict=True)
                    ),
                    "gap": float(part["gap"].abs().max()),
                    "runs": int(part["n"].sum()),
                }
            )
    out = pd.DataFrame(rows, columns=["task_id", "kind", "human_minutes", "agents", "gap", "runs"])
    return out.sort_values("gap", ascending=False, ignore_index=True)
