"""Which baseline estimate to trust: suites simulated like METR's, with known task medians, run through the
same task_statistics that writes tasks.csv, and each estimator scored against the truth (issue 17, item 4).

A simulated suite: task medians log-uniform from 1 minute to 16 hours; 1-8 attempts per task, each by a
different contractor; contractors' speed factors log-normal (between them, `contractor_sigma`) on top of
each one's own variation from task to task (`residual_sigma`); a share of the contractors who only take
short tasks and are slower on average (`short_only_slowdown`, as METR found its external hires slower than
its own staff); censoring as baselining has it: give-ups (each attempt's patience, independent of how
it was going), time limits (a few times the task's estimate), and wrong answers (submitted part way). The
truth is each task's median working time for the suite's average contractor (effects centred on zero).

Estimators scored (the columns of tasks.csv): the success-only geometric mean with its t-interval, the
task's own censored log-normal fit, the pooled fit (one spread for the suite) and the contractor-adjusted
fit. For each: the share of tasks with an estimate, the bias and RMSE of the log median, the coverage of
the 95% interval and its median width (high / low), by attempts per task and by task length.

`bench/validity.py` prints the table; tests/baselining/test_validity.py checks the claims docs/exports.md
makes from it on a fixed seed. No database here: numpy and pandas only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from baselining.statistics import task_statistics

SHORT_MINUTES = 60.0  # the short-only contractors take tasks under an hour
ESTIMATORS = {  # name -> (median, interval low, interval high) columns of tasks.csv
    "success-only gmean": ("gmean_minutes", "ci_low", "ci_high"),
    "censored": ("censored_median_minutes", "censored_ci_low", "censored_ci_high"),
    "pooled": ("pooled_median_minutes", "pooled_ci_low", "pooled_ci_high"),
    "adjusted": ("adjusted_median_minutes", "adjusted_ci_low", "adjusted_ci_high"),
}
ATTEMPT_BINS = {"1": (1, 1), "2": (2, 2), "3-4": (3, 4), "5-8": (5, 8)}
LENGTH_BINS = {"< 15 min": (0, 15), "15-60 min": (15, 60), "1-4 h": (60, 240), "4-16 h": (240, 960)}


@dataclass(frozen=True)
class SuiteSpec:
    tasks: int = 200
    contractors: int = 40
    min_attempts: int = 1
    max_attempts: int = 8
    residual_sigma: float = 0.8  # one contractor's own variation from task to task (log minutes)
    contractor_sigma: float = 0.45  # between contractors' speeds (log): with the above, about 2.6x in all
    short_only_share: float = 0.3  # contractors who only take tasks under SHORT_MINUTES
    short_only_slowdown: float = 0.4  # how much slower they are on average (log: 1.5x)
    patience: tuple[float, float] = (0.3, 3.0)  # give up past the task's median times e^U(a, b)
    time_limit: float = 1.6  # the limit: the task's estimate (its median, off by up to 2x) times e^this
    wrong_share: float = 0.1  # attempts that submit a wrong answer part way
    wrong_progress: tuple[float, float] = (0.4, 1.0)  # when: this share of what a success would have taken
    # who takes which task: "random" (each task's baseliners drawn at random), or the platform's claim loop
    # in its "usual" order or with the contractor mix "balanced" (BALANCE_CONTRACTOR_MIX)
    assignment: str = "random"
    known_speed_error: float = 0.15  # how well the platform knows each contractor's speed (log)


def _claims(
    rng: np.random.Generator,
    spec: SuiteSpec,
    mu: np.ndarray,
    effect: np.ndarray,
    short_only: np.ndarray,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The platform's claim loop: contractors ask for their next task one at a time, in random order, and
    get the eligible task (under its target, not done by them, short enough for the short-only ones) that
    is least filled for its target ("usual"), or with BALANCE_CONTRACTOR_MIX ("balanced") the one whose
    baseliners so far are most the other way from them (fast for a slow one), as far as the platform knows
    their speeds (each known with an error of `known_speed_error`), the least filled among equals."""
    known = effect + rng.normal(0.0, spec.known_speed_error, effect.size)
    done = np.zeros((mu.size, effect.size), dtype=bool)
    filled = np.zeros(mu.size)
    mix = np.zeros(mu.size)  # the sum of the known speeds of each task's baseliners so far
    short = np.exp(mu) < SHORT_MINUTES
    task, who = [], []
    stuck = 0
    while (filled < target).any() and stuck < 50 * effect.size:
        c = int(rng.integers(effect.size))
        open_ = (filled < target) & ~done[:, c] & (short | ~short_only[c])
        if not open_.any():
            stuck += 1
            continue
        order = filled / target + rng.uniform(0, 1e-6, mu.size)  # ties at random
        if spec.assignment == "balanced":
            order = order + 10 * np.round(known[c] * mix, 2)  # offsetting first, then the least filled
        t = int(np.flatnonzero(open_)[np.argmin(order[open_])])
        done[t, c] = True
        filled[t] += 1
        mix[t] += known[c]
        task.append(t)
        who.append(c)
    return np.array(task, dtype=np.intp), np.array(who, dtype=np.intp)


def simulate_suite(rng: np.random.Generator, spec: SuiteSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """One suite: (tasks, attempts) as task_statistics takes them, and each task's true median (minutes)."""
    n = spec.tasks
    mu = rng.uniform(0.0, math.log(960.0), n)
    short_only = np.arange(spec.contractors) < round(spec.short_only_share * spec.contractors)
    effect = rng.normal(0.0, spec.contractor_sigma, spec.contractors) + spec.short_only_slowdown * short_only
    effect -= effect.mean()  # the truth is the suite's average contractor's median
    attempts = rng.integers(spec.min_attempts, spec.max_attempts + 1, n)
    if spec.assignment == "random":
        task_rows, who_rows = [], []
        for t in range(n):
            allowed = np.flatnonzero(~short_only | (math.exp(mu[t]) < SHORT_MINUTES))
            k = min(int(attempts[t]), allowed.size)
            who_rows.append(rng.choice(allowed, k, replace=False))
            task_rows.append(np.full(k, t))
        task, who = np.concatenate(task_rows), np.concatenate(who_rows)
    else:
        task, who = _claims(rng, spec, mu, effect, short_only, attempts)
    m = task.size
    log_time = mu[task] + effect[who] + spec.residual_sigma * rng.standard_normal(m)
    give_up = mu[task] + rng.uniform(*spec.patience, m)
    limit = (mu + rng.uniform(-math.log(2), math.log(2), n) + spec.time_limit)[task]
    wrong = rng.random(m) < spec.wrong_share
    submitted_wrong = log_time + np.log(rng.uniform(*spec.wrong_progress, m))
    # the first of these to come ends the attempt (a wrong answer is never a success, even at that time)
    ends = np.stack(
        [np.where(wrong, np.inf, log_time), np.where(wrong, submitted_wrong, np.inf), give_up, limit]
    )
    first = ends.argmin(axis=0)
    outcome = np.array(["success", "failure", "gave_up", "time_limit"])[first]
    minutes = np.exp(ends.min(axis=0))
    ids = pd.Index([f"sim/t{t}" for t in range(n)], name="task")
    tasks = pd.DataFrame({"estimate_minutes": np.nan, "family": "sim"}, index=ids)
    rows = pd.DataFrame(
        {
            "task": ids[task],
            "kind": "baseline",
            "outcome": outcome,
            "working_seconds": minutes * 60,
            "review_status": "valid",
            "contractor": [f"c{c}" for c in who],
            "contractor_user": who,
        }
    )
    return tasks, rows, pd.Series(np.exp(mu), index=ids, name="true_minutes")


def score_suite(tasks: pd.DataFrame, rows: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    """Per task and estimator: the log error, whether the interval holds the truth, its log width."""
    out = task_statistics(tasks, rows, adjusted=True)
    attempts = rows.groupby("task").size().reindex(tasks.index, fill_value=0)
    frames = []
    for name, (median, low, high) in ESTIMATORS.items():
        covered = (out[low] <= truth) & (truth <= out[high])
        frames.append(
            pd.DataFrame(
                {
                    "estimator": name,
                    "attempts": attempts.to_numpy(),
                    "true_minutes": truth.to_numpy(),
                    "error": np.log(out[median] / truth).to_numpy(),
                    "covered": covered.where(out[low].notna()).to_numpy(),
                    "width": np.log(out[high] / out[low]).to_numpy(),
                },
                index=tasks.index,
            )
        )
    return pd.concat(frames)


def simulate(suites: int, spec: SuiteSpec = SuiteSpec(), seed: int = 2026) -> pd.DataFrame:
    """score_suite over `suites` simulated suites (the same seed, the same table)."""
    rng = np.random.default_rng(seed)
    return pd.concat([score_suite(*simulate_suite(rng, spec)) for _ in range(suites)], ignore_index=True)


def _summarise(scored: pd.DataFrame) -> pd.Series:
    has = scored["error"].notna()
    with_ci = scored["covered"].notna()
    err = scored.loc[has, "error"]
    return pd.Series(
        {
            "tasks": len(scored),
            "estimated": has.mean(),
            "bias": err.mean(),
            "rmse": math.sqrt(float((err**2).mean())) if len(err) else math.nan,
            "with_interval": with_ci.mean(),
            "coverage": scored.loc[with_ci, "covered"].astype(float).mean(),
            "width": math.exp(float(scored.loc[with_ci, "width"].median())) if with_ci.any() else math.nan,
        }
    )


def _bin(values: pd.Series, bins: Mapping[str, tuple[float, float]], closed_high: bool) -> pd.Series:
    labels = pd.Series(pd.NA, index=values.index, dtype="string")
    for label, (lo, hi) in bins.items():
        inside = (values >= lo) & ((values <= hi) if closed_high else (values < hi))
        labels[inside] = label
    return labels


def report(scored: pd.DataFrame) -> pd.DataFrame:
    """The validation table: one row per (estimator, by, group), by "all", "attempts" and "length"."""
    groups = {
        "all": pd.Series("all", index=scored.index, dtype="string"),
        "attempts": _bin(scored["attempts"], ATTEMPT_BINS, closed_high=True),
        "length": _bin(scored["true_minutes"], LENGTH_BINS, closed_high=False),
    }
    parts = []
    for by, labels in groups.items():
        order = ["all"] if by == "all" else list(ATTEMPT_BINS if by == "attempts" else LENGTH_BINS)
        for name in ESTIMATORS:
            mine = scored["estimator"] == name
            for label in order:
                row = _summarise(scored.loc[mine & (labels == label).fillna(False)])
                parts.append(pd.concat([pd.Series({"estimator": name, "by": by, "group": label}), row]))
    return pd.DataFrame(parts)
