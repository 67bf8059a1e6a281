"""Exports: tasks.csv, baselines.csv and METR-format JSON Lines, streamed row by row (docs/exports.md).

Each export is a generator of rows from one or two queries; the statistics behind tasks.csv and the `metr`
rows' human_minutes come from `suite_statistics`, which reads plain rows and computes with pandas.
Columns and their dtypes are declared once here; the docs, the tests and the readers use these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
from django.conf import settings
from django.urls import reverse

from baselining.models import ContractorProfile
from baselining.selectors import ExportFilters, attempt_rows, date_window, pseudonym, task_rows
from baselining.statistics import ESTIMATE_INTERVALS, TASK_STAT_COLUMNS, contractor_table, task_statistics
from config.streaming import csv_lines, jsonl_lines
from tasks.models import Flag

# name -> pandas dtype, in column order. Datetimes are ISO 8601 in UTC (parse with parse_dates).
TASKS_COLUMNS: dict[str, str] = {
    "task_id": "string", "task_family": "string", "task_name": "string", "status": "string",
    "task_version": "Int64", "target_baselines": "Int64",
    "attempts": "Int64", "successes": "Int64", "success_rate": "float64", "invalid_excluded": "Int64",
    "pending_review": "Int64", "gmean_minutes": "float64", "gsd": "float64", "ci_low": "float64",
    "ci_high": "float64", "fastest_minutes": "float64", "slowest_minutes": "float64", "spread": "float64",
    "qa_runs": "Int64", "qa_successes": "Int64", "qa_gmean_minutes": "float64",
    "censored_n": "Int64", "censored_median_minutes": "float64", "censored_sigma": "float64",
    "censored_ci_low": "float64", "censored_ci_high": "float64",
    "pooled_median_minutes": "float64", "pooled_sigma": "float64", "pooled_ci_low": "float64",
    "pooled_ci_high": "float64",
    "adjusted_median_minutes": "float64", "adjusted_ci_low": "float64", "adjusted_ci_high": "float64",
    "estimate_minutes": "float64", "human_minutes": "float64", "human_source": "string",
}  # fmt: skip
BASELINES_COLUMNS: dict[str, str] = {
    "run_id": "Int64", "task_id": "string", "task_family": "string", "task_name": "string",
    "task_version": "Int64", "contractor": "string", "kind": "string",
    "started_at": "datetime", "ended_at": "datetime",
    "working_seconds": "float64", "paused_seconds": "float64", "wall_seconds": "float64",
    "score": "float64", "success": "boolean", "outcome": "string", "give_up_reason": "string",
    "review_status": "string", "review_reason": "string", "recording_url": "string",
}  # fmt: skip
METR_COLUMNS: list[str] = [
    "task_id", "task_family", "task_version", "task_source", "run_id", "alias", "model", "score_cont",
    "score_binarized", "fatal_error_from", "human_minutes", "human_score", "human_source", "human_cost",
    "started_at", "completed_at", "time_limit", "generation_cost", "tokens_count", "cloned", "scaffold",
    "equal_task_weight", "invsqrt_task_weight",
]  # fmt: skip
# After METR's own columns (a join with their files gives these NaN on their rows): which estimate a
# baseline human_minutes is (BASELINE_ESTIMATE) and its 95% interval; null when the time is not a baseline's.
RUNS_EXTRA_COLUMNS: list[str] = ["human_estimate", "human_minutes_low", "human_minutes_high"]
CHUNK = 2000


def read_csv_kwargs(columns: dict[str, str]) -> dict[str, Any]:
    """The arguments that make pandas.read_csv give each column its documented dtype."""
    dates = [c for c, t in columns.items() if t == "datetime"]
    dtypes = {c: t for c, t in columns.items() if t != "datetime"}
    return {"dtype": dtypes, "parse_dates": dates, "keep_default_na": False, "na_values": [""]}


TASK_ROW_FIELDS = [
    "id", "name", "status", "target_baselines", "family_name", "task_version", "estimate_minutes",
    "threshold", "expertise",
]  # fmt: skip


ATTEMPT_FIELDS = [
    "id",
    "task",
    "kind",
    "outcome",
    "working_seconds",
    "review_status",
    "contractor_user",
    "contractor",
]


def _shared_strings(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows with one object per distinct string: a kind, an outcome or a pseudonym is held once, not
    once per attempt."""
    seen: dict[str, str] = {}
    share = seen.setdefault
    for row in rows:
        yield tuple([share(v, v) if type(v) is str else v for v in row])  # a list: faster than a generator


def load_frames(filters: ExportFilters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tasks the filters select (indexed by pk) and all their finished attempts, invalid ones included."""
    tasks = pd.DataFrame.from_records(list(task_rows(filters)), columns=TASK_ROW_FIELDS).set_index("id")
    tasks = tasks.rename(columns={"family_name": "family"})
    tasks["task_version"] = tasks["task_version"].astype("Int64")
    tasks["estimate_minutes"] = tasks["estimate_minutes"].astype("float64")
    values = attempt_rows(filters, with_invalid=True).values_list(*ATTEMPT_FIELDS)
    rows = list(_shared_strings(values.iterator(chunk_size=CHUNK)))
    # the copy lets go of the row-by-column object array the string columns are views of, and with it of
    # a Python int or float per cell (the frame then holds half as much)
    attempts = pd.DataFrame.from_records(rows, columns=ATTEMPT_FIELDS)
    del rows
    attempts = attempts.copy()
    attempts["working_seconds"] = attempts["working_seconds"].astype("float64")
    return tasks, attempts


def suite_statistics(
    filters: ExportFilters,
    frames: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    *,
    adjusted: bool | None = None,
) -> pd.DataFrame:
    """Per-task statistics for the tasks the filters select (invalid attempts excluded and counted). The
    contractor-adjusted columns (the costliest fit) only with `adjusted`, or by default when they are the
    baseline estimate."""
    tasks, attempts = frames if frames is not None else load_frames(filters)
    stats = task_statistics(
        tasks,
        attempts,
        source_order=settings.HUMAN_SOURCE_ORDER,
        pooling=settings.POOLED_SIGMA_BY,
        baseline_estimate=settings.BASELINE_ESTIMATE,
        adjusted=settings.BASELINE_ESTIMATE == "adjusted" if adjusted is None else adjusted,
    )
    joined = tasks.join(stats.drop(columns=["estimate_minutes"]))
    joined.attrs = dict(stats.attrs)  # (the contractor fit, when it was made: contractor_table reuses it)
    return joined


def _cell(value: Any) -> Any:
    kind = type(value)  # the frequent types first, by exact type: the isinstance chain below is slow
    if kind is str or kind is int:
        return value
    if kind is float:
        return "" if math.isnan(value) else repr(value)
    if value is None:
        return ""
    if kind is datetime:
        return value.isoformat()
    if value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))  # the shortest exact representation
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def tasks_table(filters: ExportFilters) -> Iterator[list[Any]]:
    stats = suite_statistics(filters, adjusted=True)
    yield list(TASKS_COLUMNS)
    for row in stats.itertuples():
        r = row._asdict()
        yield [
            _cell(v)
            for v in (
                f"{r['family']}/{r['name']}", r["family"], r["name"], r["status"], r["task_version"],
                r["target_baselines"], *(r[c] for c in TASK_STAT_COLUMNS),
            )
        ]  # fmt: skip


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


def url_for_uuid(name: str, base_url: str) -> Callable[[UUID | str], str]:
    """base_url + reverse(name, args=[id]) for a URL whose one argument is a <uuid:...>, reversed once, at the
    first call: per row, reverse() costs more than the rest of the row."""
    parts: list[str] = []

    def url(value: UUID | str) -> str:
        if not parts:
            placeholder = UUID(int=0)
            parts.extend(reverse(name, args=[placeholder]).split(str(placeholder)))
        return f"{base_url}{parts[0]}{value}{parts[1]}"

    return url


def baselines_table(filters: ExportFilters, base_url: str = "") -> Iterator[list[Any]]:
    yield list(BASELINES_COLUMNS)
    recording_url = url_for_uuid("terminal:recording", base_url)
    for r in attempt_rows(filters).iterator(chunk_size=CHUNK):
        wall = _seconds(r["started_at"], r["ended_at"])
        working = r["working_seconds"]
        paused = None if wall is None or working is None else max(0.0, wall - working)
        recording = ""
        if r["terminal_id"]:
            recording = recording_url(r["terminal_id"])
        yield [
            _cell(v)
            for v in (
                r["id"], f"{r['family']}/{r['task_name']}", r["family"], r["task_name"], r["task_version"],
                r["contractor"] or f"u_{r['contractor_user']}", r["kind"], r["started_at"], r["ended_at"],
                working, paused, wall, r["score"], r["outcome"] == "success", r["outcome"],
                r["give_up_reason"], r["review_status"], r["review_reason"], recording,
            )
        ]  # fmt: skip


METR_SOURCE_FIELDS = [
    "id", "task", "family", "task_name", "task_version", "threshold", "score", "outcome", "give_up_reason",
    "working_seconds",
]  # fmt: skip


def metr_rows(filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """Human baselines as rows of METR's run files (metr-formats.md), one dict per attempt."""
    frames = load_frames(filters)
    stats = suite_statistics(filters, frames)
    attempts = frames[1]
    exported = attempts["kind"] == "baseline"
    if not filters.include_invalid:
        exported &= attempts["review_status"] != "invalid"
    per_task = attempts.loc[exported].groupby("task").size().to_dict()
    # only the columns used below: no started_at subquery, no datetimes to convert per row
    runs = attempt_rows(filters, kinds=("baseline",)).values(*METR_SOURCE_FIELDS)
    per_family = stats.loc[stats.index.isin(list(per_task))].groupby("family").size().to_dict()
    equal_total = len(per_task)
    # plain dicts: a DataFrame.at per row costs more than the rest of the row
    family, human, sources = (stats[c].to_dict() for c in ("family", "human_minutes", "human_source"))
    estimate = settings.BASELINE_ESTIMATE
    _, low_column, high_column = ESTIMATE_INTERVALS[estimate]
    lows, highs = stats[low_column].to_dict(), stats[high_column].to_dict()
    invsqrt = {t: 1 / math.sqrt(per_family[family[t]]) for t in per_task}
    invsqrt_total = sum(invsqrt.values())
    limit = round(settings.TIME_LIMIT_HOURS * 3600)
    task_source, hourly_rate = settings.EXPORT_TASK_SOURCE, settings.HUMAN_HOURLY_RATE
    for r in runs.iterator(chunk_size=CHUNK):
        task = r["task"]
        human_minutes = human[task]
        source = sources[task]
        has_time = not pd.isna(human_minutes)
        working_ms = None if r["working_seconds"] is None else round(r["working_seconds"] * 1000)
        fatal = None
        if r["outcome"] == "gave_up":
            fatal = "gave_up" + (f": {r['give_up_reason']}" if r["give_up_reason"] else "")
        elif r["outcome"] == "time_limit":
            fatal = "time_limit"
        yield {
            "task_id": f"{r['family']}/{r['task_name']}",
            "task_family": r["family"],
            "task_version": r["task_version"],
            "task_source": task_source,
            "run_id": r["id"],
            "alias": "human",
            "model": "human",
            "score_cont": r["score"] if r["score"] is not None else 0.0,
            "score_binarized": int(r["outcome"] == "success"),
            "fatal_error_from": fatal,
            "human_minutes": float(human_minutes) if has_time else None,
            "human_score": r["threshold"],
            "human_source": str(source) if has_time else None,
            "human_cost": float(human_minutes) / 60 * hourly_rate if has_time else None,
            "started_at": 0,
            "completed_at": working_ms,
            "time_limit": limit,
            "generation_cost": None,
            "tokens_count": None,
            "cloned": None,
            "scaffold": None,
            "equal_task_weight": 1 / equal_total / per_task[task],
            "invsqrt_task_weight": invsqrt[task] / invsqrt_total / per_task[task],
            "human_estimate": estimate if source == "baseline" else None,
            "human_minutes_low": _finite(lows[task]) if source == "baseline" else None,
            "human_minutes_high": _finite(highs[task]) if source == "baseline" else None,
        }


def _finite(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


EXPORTS = {
    "tasks.csv": "tasks",
    "baselines.csv": "baselines",
    "contractors.csv": "contractors",
    "flags.csv": "flags",
    "runs.jsonl": "metr",
}
# Human baselines as Inspect eval logs, one .eval per task, zipped (baselining/inspect_export.py: it
# imports inspect_ai, 1.3 s and 20 MB, so the pages and the API import it only when it is asked for)
INSPECT_ZIP = "inspect.zip"
DOWNLOADS = [*EXPORTS, INSPECT_ZIP]


# -- contractors.csv: one row per contractor who baselined, by pseudonym ----------------------------------
CONTRACTORS_COLUMNS: dict[str, str] = {
    "contractor": "string", "attempts": "Int64", "successes": "Int64", "success_rate": "float64",
    "relative_speed": "float64", "speed_factor": "float64", "speed_ci_low": "float64",
    "speed_ci_high": "float64", "years_experience": "float64", "expertise_areas": "string",
    "years_in_task_areas": "float64",
}  # fmt: skip


def _stated_years(expertise: Any, areas: set[str] | None = None) -> list[float]:
    """The numbers of years an application's expertise ([{"area": ..., "years": ...}, ...]) states: in
    every area, or only in `areas` (lower case). What is not a finite number >= 0 is not a number of years."""
    entries = [e for e in expertise if isinstance(e, dict)] if isinstance(expertise, list) else []
    years = []
    for e in entries:
        if areas is not None and str(e.get("area", "")).strip().lower() not in areas:
            continue
        try:
            value = float(e["years"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            years.append(value)
    return years


def stated_experience(expertise: Any) -> tuple[float | None, str]:
    """From an application's expertise: the most years stated in any area (None if none is a number) and
    the areas, `;`-separated."""
    years = _stated_years(expertise)
    entries = [e for e in expertise if isinstance(e, dict)] if isinstance(expertise, list) else []
    areas = sorted({str(e["area"]).strip() for e in entries if str(e.get("area", "")).strip()})
    return (max(years) if years else None), "; ".join(areas)


def years_in(expertise: Any, areas: Any) -> float | None:
    """The years an application states in any of a task's areas (its version's `expertise`), the most of
    them; None when the task names no area, or the application none of them with a number of years."""
    wanted = {str(a).strip().lower() for a in areas} if isinstance(areas, list) else set()
    years = _stated_years(expertise, wanted)
    return max(years) if years else None


def contractors_frame(
    filters: ExportFilters,
    frames: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    stats: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """contractor_table over the tasks the filters select, with each contractor's stated experience."""
    tasks, attempts = frames if frames is not None else load_frames(filters)
    if stats is None:
        stats = suite_statistics(filters, (tasks, attempts))
    table = contractor_table(stats, attempts)
    applications = dict(
        ContractorProfile.objects.filter(pseudonym__in=list(table["contractor"])).values_list(
            "pseudonym", "expertise"
        )
    )
    stated = {p: stated_experience(e) for p, e in applications.items()}
    table["years_experience"] = (
        table["contractor"].map(lambda c: stated.get(c, (None, ""))[0]).astype("float64")
    )
    table["expertise_areas"] = table["contractor"].map(lambda c: stated.get(c, (None, ""))[1])
    # expertise match: the years each stated in the area of each task they baselined, over their attempts
    mine = attempts.loc[
        (attempts["kind"] == "baseline")
        & (attempts["review_status"] != "invalid")
        & attempts["contractor"].notna()
    ]
    areas = tasks["expertise"]
    matched = pd.Series(
        [
            years_in(applications.get(c), areas.get(t))
            for c, t in zip(mine["contractor"], mine["task"], strict=True)
        ],
        index=mine.index,
        dtype="float64",
    )
    by_contractor = matched.groupby(mine["contractor"]).mean()
    table["years_in_task_areas"] = table["contractor"].map(by_contractor).astype("float64")
    return table


def contractors_table(filters: ExportFilters) -> Iterator[list[Any]]:
    table = contractors_frame(filters)
    yield list(CONTRACTORS_COLUMNS)
    for row in table[list(CONTRACTORS_COLUMNS)].itertuples(index=False):
        yield [_cell(v) for v in row]


# -- flags.csv: one row per flag, with the session and recording offset where there is one -----------
FLAGS_COLUMNS: dict[str, str] = {
    "flag_id": "Int64", "task_id": "string", "family": "string", "task": "string", "task_version": "Int64",
    "category": "string", "severity": "string", "status": "string", "source": "string",
    "raised_by": "string", "created_at": "datetime", "updated_at": "datetime",
    "terminal_session_id": "string", "recording_offset_s": "float64", "replay_url": "string",
    "duplicate_of": "Int64", "fixed_in_version": "Int64", "description": "string",
    "resolution_note": "string",
}  # fmt: skip


def flags_table(filters: ExportFilters, base_url: str = "") -> Iterator[list[Any]]:
    """Filters: the task's family and status, and the day the flag was raised."""
    yield list(FLAGS_COLUMNS)
    qs = (
        Flag.objects.select_related("task__family", "task_version", "fixed_in")
        .annotate(raised_by_pseudonym=pseudonym("raised_by"))  # the reporter's name is never loaded
        .order_by("pk")
    )
    if filters.family:
        qs = qs.filter(task__family__name=filters.family)
    if filters.status:
        qs = qs.filter(task__status=filters.status)
    qs = qs.filter(date_window(filters, "created_at"))
    replay_url = url_for_uuid("terminal:replay", base_url)
    for f in qs.iterator(chunk_size=1000):
        replay = ""
        if f.terminal_session_id:
            replay = replay_url(f.terminal_session_id)
            if f.recording_offset is not None:
                replay += f"?t={f.recording_offset:.1f}"
        yield [
            f.pk, f.task.task_id, f.task.family.name, f.task.name, f.task_version.version, f.category,
            f.severity, f.status, f.source, f.raised_by_pseudonym, f.created_at.isoformat(),
            f.updated_at.isoformat(), f.terminal_session_id or "",
            "" if f.recording_offset is None else f"{f.recording_offset:.3f}", replay,
            f.duplicate_of_id or "", f.fixed_in.version if f.fixed_in else "", f.description,
            f.resolution_note,
        ]  # fmt: skip


def text_columns(columns: dict[str, str]) -> list[int]:
    """The positions of a CSV's text (`string`) columns: the ones neutralised against formulas."""
    return [i for i, dtype in enumerate(columns.values()) if dtype == "string"]


def export_lines(name: str, filters: ExportFilters, base_url: str = "") -> Iterator[str]:
    """The text of one export, line by line: tasks.csv, baselines.csv, contractors.csv, flags.csv or
    runs.jsonl.

    In the CSV files every text cell that a spreadsheet would run as a formula starts with `'`
    (config.streaming.csv_text); runs.jsonl, like the API's JSON, keeps the raw text."""
    if name == "tasks.csv":
        return csv_lines(tasks_table(filters), text_columns(TASKS_COLUMNS))
    if name == "baselines.csv":
        return csv_lines(baselines_table(filters, base_url), text_columns(BASELINES_COLUMNS))
    if name == "contractors.csv":
        return csv_lines(contractors_table(filters), text_columns(CONTRACTORS_COLUMNS))
    if name == "flags.csv":
        return csv_lines(flags_table(filters, base_url), text_columns(FLAGS_COLUMNS))
    if name == "runs.jsonl":
        return jsonl_lines(metr_rows(filters))
    raise KeyError(name)
