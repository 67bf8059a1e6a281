"""The validation report: which baseline estimate to trust (issue 17, item 4; docs/exports.md, "Which
estimate to use").

    .venv/bin/python bench/validity.py [--suites 40] [--tasks 200] [--seed 2026]

Simulates suites like METR's (baselining/validity.py says how: medians from 1 minute to 16 hours, 1-8
attempts, give-ups, time limits and wrong answers, contractors' speeds apart, some only on short tasks),
runs each through task_statistics, the code that writes tasks.csv, and prints for every estimator (the
success-only geometric mean, the task's own censored fit, the pooled fit, the contractor-adjusted fit) the
share of tasks it gives an estimate for, the bias and RMSE of the log median, and the coverage and median
width (high / low) of its 95% interval: over all tasks, by attempts per task and by task length. The same
seed gives the same table. Then the same suites with one assumption changed at a time (every contractor
as fast; wrong answers as slow as a success; no give-ups; tasks handed out by the platform's claim loop, in
its usual order and with BALANCE_CONTRACTOR_MIX), over all tasks. About 25 s at the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import pandas as pd  # noqa: E402

from baselining.validity import SuiteSpec, report, simulate  # noqa: E402

SCENARIOS = {  # the main table's suites with one thing changed: how much the conclusions rest on it
    "every contractor as fast": {"contractor_sigma": 0.0, "short_only_slowdown": 0.0, "residual_sigma": 0.92},
    "a quarter of attempts wrong, at what a success would have taken": {
        "wrong_share": 0.25,
        "wrong_progress": (1.0, 1.0),
    },
    "no one gives up, a time limit at 8x": {"patience": (50.0, 50.0), "time_limit": 2.1},
    "tasks claimed as the platform hands them out (least filled first)": {"assignment": "usual"},
    "... with BALANCE_CONTRACTOR_MIX": {"assignment": "balanced"},
}


def rows(table: pd.DataFrame, by: str, label: str = "") -> list[str]:
    out = []
    for r in table.loc[table["by"] == by].itertuples():
        group = label or (
            "all" if by == "all" else f"{r.group} attempts" if by == "attempts" else str(r.group)
        )
        out.append(
            f"| {r.estimator} | {group} | {int(r.tasks)} | {r.estimated:.0%} | {r.bias:+.3f} | "
            f"{r.rmse:.3f} | {r.with_interval:.0%} | {r.coverage:.1%} | {r.width:.1f} |"
        )
    return out


HEADER = [
    "| estimator | which tasks | tasks | estimated | bias (log) | RMSE (log) | with interval | coverage | width (x) |",
    "|---|---|---|---|---|---|---|---|---|",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suites", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    spec = SuiteSpec(tasks=args.tasks)
    t0 = time.perf_counter()
    table = report(simulate(args.suites, spec, seed=args.seed))
    lines = [
        f"{args.suites} suites of {spec.tasks} tasks (seed {args.seed}); {spec.contractors} contractors each, "
        f"speeds apart by sigma {spec.contractor_sigma} (log), each one's own variation {spec.residual_sigma}; "
        f"{spec.short_only_share:.0%} of them only on tasks under an hour and e^{spec.short_only_slowdown} "
        f"slower; {spec.wrong_share:.0%} of attempts wrong",
        "",
        *HEADER,
        *rows(table, "all"),
        *rows(table, "attempts"),
        *rows(table, "length"),
        "",
        f"The same suites with one thing changed ({args.suites // 2} suites each), all tasks:",
        "",
        *HEADER,
    ]
    for name, change in SCENARIOS.items():
        changed = dataclasses.replace(spec, **change)  # type: ignore[arg-type]
        lines += rows(report(simulate(args.suites // 2, changed, seed=args.seed)), "all", name)
    lines += ["", f"{time.perf_counter() - t0:.1f} s in all"]
    print("\n".join(lines).replace("nan%", "-").replace("| nan |", "| - |").replace("+nan", "-"))


if __name__ == "__main__":
    main()
