"""The demo's agent runs (make run): three made-up agents of known 50% horizons on the demo's synthetic
tasks, so the Horizons page has something to show out of the box. examples/horizons/demo_runs.jsonl is
written by `write_demo_runs` from the synthetic suite's true task medians (tests/horizons/test_demo.py
checks the file is what this module makes). Labelled synthetic everywhere: the agents are "Demo agent ...".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DEMO_PREFIX = "synthetic"  # the demo's generated families: synthetic_f00000, ...
DEMO_SUITE = {"n_tasks": 40, "attempts_per_task": 5, "seed": 2026, "tasks_per_family": 8, "n_contractors": 24}
DEMO_AGENTS = {  # name -> (50% horizon in minutes, release date)
    "Demo agent A (synthetic)": (3.0, "2023-06-01"),
    "Demo agent B (synthetic)": (15.0, "2024-03-01"),
    "Demo agent C (synthetic)": (60.0, "2024-11-01"),
}
RUNS_PER_TASK = 4
SLOPE = 0.9  # logistic slope per doubling of human time, about METR's


def demo_runs(task_minutes: dict[str, float], seed: int = 7) -> list[dict[str, object]]:
    """METR-format rows: each demo agent on each task (task id -> its true median), RUNS_PER_TASK times,
    succeeding with the logistic chance its horizon gives."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for agent, (p50, released) in DEMO_AGENTS.items():
        for task_id, minutes in sorted(task_minutes.items()):
            chance = 1 / (1 + math.exp(SLOPE * (math.log2(minutes) - math.log2(p50))))
            for k in range(RUNS_PER_TASK):
                ok = int(rng.random() < chance)
                rows.append({
                    "run_id": f"{agent.split(' (')[0].replace(' ', '-').lower()}-{task_id}-{k}",
                    "task_id": task_id, "task_family": task_id.split("/")[0], "alias": agent,
                    "model": agent, "score_cont": float(ok), "score_binarized": ok,
                    "human_minutes": round(minutes, 3), "release_date": released,
                })  # fmt: skip
    return rows


def write_demo_runs(task_minutes: dict[str, float], path: Path) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in demo_runs(task_minutes)))
