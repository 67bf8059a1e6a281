"""Agent runs in: parsing METR's run files (JSON Lines or CSV), checking every row, storing all or nothing.

Human times come from the platform's statistics (`platform`, the default: runs on tasks it does not know,
or that have no human time, are reported and left out) or from the file's `human_minutes` (`file`: tasks
from outside the platform's suites are kept as external tasks).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from django.db import transaction

from baselining.exports import suite_statistics
from baselining.selectors import ExportFilters
from horizons.models import Agent, AgentRun, HumanTimes, RunBatch
from tasks.models import Task

MAX_ERRORS_SHOWN = 20
HUMAN_ALIAS = "human"


class RunsImportError(Exception):
    """The file was refused; nothing was stored. `errors` names each bad row (line numbers are 1-based)."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_ERRORS_SHOWN]
        which = f"; the first {len(shown)}" if len(errors) > len(shown) else ""
        super().__init__(
            f"{len(errors)} bad row{'s' if len(errors) != 1 else ''}{which}: " + "; ".join(shown)
        )
        self.errors = errors


@dataclass
class ParsedRun:
    line: int
    agent: str
    model: str
    run_id: str
    task_id: str
    task_family: str
    score: float | None
    score_binarized: int | None
    human_minutes: float | None
    release_date: str = ""
    fatal_error_from: str = ""
    working_seconds: float | None = None
    total_seconds: float | None = None
    tokens: int | None = None


class UnknownTasks(RunsImportError):
    """With the platform's human times, none of the file's runs is on a task the platform has a time for:
    nothing is imported (it would be an empty batch); `unknown` is each such task with its number of runs."""

    def __init__(self, runs: int, unknown: dict[str, int]) -> None:
        Exception.__init__(
            self,
            f"none of its {runs} runs is on a task this platform has a human time for ({len(unknown)} "
            f"task{'s' if len(unknown) != 1 else ''}, listed below): to use the human times in the file, "
            f'choose "{HumanTimes.FILE.label}"',
        )
        self.errors: list[str] = []
        self.unknown = unknown


@dataclass
class ImportResult:
    batch: RunBatch | None
    stored: int
    left_out: list[str] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)  # task -> runs left out: no platform human time


def _records(data: bytes, name: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line number, row) for every row that parses, and an error for every line that does not."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunsImportError([f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    stripped = text.lstrip()
    if name.endswith((".jsonl", ".json", ".ndjson")) or stripped.startswith("{"):
        out, errors = [], []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"line {n}: not JSON ({exc.msg})")
                continue
            if not isinstance(doc, dict):
                errors.append(f"line {n}: not a JSON object")
                continue
            out.append((n, doc))
        return out, errors
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise RunsImportError(["line 1: no header"])
    return [(n, dict(row)) for n, row in enumerate(reader, start=2)], []


def _number(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "nan", "null", "none")):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{key} is a boolean")
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError(f"{key} is infinite")
    return number


def _row(n: int, doc: dict[str, Any], human_times: str) -> ParsedRun:
    task_id = str(doc.get("task_id") or "").strip()
    agent = str(doc.get("alias") or doc.get("agent") or "").strip()
    if not task_id:
        raise ValueError("no task_id")
    if not agent:
        raise ValueError("no alias (the agent's name)")
    family = str(doc.get("task_family") or "").strip() or task_id.split("/", 1)[0]
    score = _number(doc, "score_cont")
    if score is None:
        score = _number(doc, "score")
    binarized = _number(doc, "score_binarized")
    if score is None and binarized is None:
        raise ValueError("no score_cont, score or score_binarized")
    # METR's continuous scores may leave [0, 1] (RE-Bench's normalised scores do); the outcome is then
    # score_binarized. Without it, the score is the outcome and must be a fraction.
    if binarized is None and score is not None and not 0 <= score <= 1:
        raise ValueError(f"score {score:g} is not in [0, 1] and there is no score_binarized")
    if binarized is not None and binarized not in (0, 1):
        raise ValueError(f"score_binarized {binarized:g} is not 0 or 1")
    minutes = _number(doc, "human_minutes")
    if minutes is not None and minutes <= 0:
        raise ValueError(f"human_minutes {minutes:g} is not positive")
    if human_times == HumanTimes.FILE and minutes is None:
        raise ValueError("no human_minutes (needed with human times from the file)")
    tokens = _number(doc, "tokens_count")
    return ParsedRun(
        line=n, agent=agent, model=str(doc.get("model") or "").strip(), run_id=str(doc.get("run_id") or ""),
        task_id=task_id, task_family=family, score=score,
        score_binarized=None if binarized is None else int(binarized), human_minutes=minutes,
        release_date=str(doc.get("release_date") or "").strip(),
        fatal_error_from=_text(doc.get("fatal_error_from")), working_seconds=_number(doc, "working_time"),
        total_seconds=_total_seconds(doc), tokens=None if tokens is None else int(tokens),
    )  # fmt: skip


def _text(value: Any) -> str:
    """METR's `fatal_error_from`: null, a string, or (in some files) an object; kept as text."""
    if value is None or value == "":
        return ""
    return (value if isinstance(value, str) else json.dumps(value, sort_keys=True)).strip()


def _total_seconds(doc: dict[str, Any]) -> float | None:
    """`total_time` (seconds, as Inspect's logs give it), else completed_at - started_at (epoch milliseconds)
    when both are given and not METR's 0 placeholder."""
    total = _number(doc, "total_time")
    if total is not None:
        return total
    start, end = _number(doc, "started_at"), _number(doc, "completed_at")
    if not start or not end or end < start:
        return None
    return (end - start) / 1000


def parse_runs(data: bytes, name: str, human_times: str = HumanTimes.PLATFORM) -> list[ParsedRun]:
    """Every row checked; any bad row refuses the whole file, naming each one."""
    records, errors = _records(data, name)
    return _parse(records, errors, human_times)


def _parse(records: list[tuple[int, dict[str, Any]]], errors: list[str], human_times: str) -> list[ParsedRun]:
    rows = []
    for n, doc in records:
        try:
            rows.append(_row(n, doc, human_times))
        except (ValueError, TypeError) as exc:
            errors.append(f"line {n}: {exc}")
    if errors:
        raise RunsImportError(sorted(errors, key=lambda e: int(e.split(":")[0].split()[-1])))
    if not rows:
        raise RunsImportError(["the file has no runs"])
    return rows


def platform_human_minutes() -> dict[str, float]:
    """task_id -> the platform's chosen human_minutes, for tasks that have one."""
    stats = suite_statistics(ExportFilters())
    have = stats.loc[stats["human_minutes"].notna()]
    return {
        f"{f}/{n}": float(m)
        for f, n, m in zip(have["family"], have["name"], have["human_minutes"], strict=True)
    }


def without_humans(rows: list[ParsedRun]) -> tuple[list[ParsedRun], list[str]]:
    """METR's files carry their human baselines as runs of the agent "human": they are not an agent."""
    humans = sum(1 for r in rows if r.agent.lower() == HUMAN_ALIAS)
    if not humans:
        return rows, []
    note = f"{humans} rows of alias {HUMAN_ALIAS!r} left out: human baselines are not agent runs"
    return [r for r in rows if r.agent.lower() != HUMAN_ALIAS], [note]


def usable_runs(
    rows: list[ParsedRun], human_times: str
) -> tuple[list[ParsedRun], dict[str, float], list[str]]:
    """The runs that can be fitted, the platform's human times (when asked for), and a report of what was
    left out: METR's human rows, runs on tasks without a platform time."""
    rows, left_out = without_humans(rows)
    known: dict[str, float] = {}
    if human_times == HumanTimes.PLATFORM:
        known = platform_human_minutes()
        left_out += _left_out_report([r.task_id for r in rows if r.task_id not in known])
        rows = [r for r in rows if r.task_id in known]
    return rows, known, left_out


def runs_frame(rows: list[ParsedRun], human_times: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows as fit_agents wants them, with human times from the chosen source; and what was left out."""
    rows, known, left_out = usable_runs(rows, human_times)
    frame = pd.DataFrame.from_records(
        [
            (
                r.agent,
                r.task_id,
                r.task_family,
                known.get(r.task_id, r.human_minutes),
                r.score,
                r.score_binarized,
            )
            for r in rows
        ],
        columns=["agent", "task_id", "task_family", "human_minutes", "score", "score_binarized"],
    )
    return frame, left_out


def _left_out_report(task_ids: list[str]) -> list[str]:
    """One line per task whose runs were left out (the platform does not know it or has no time for it)."""
    if not task_ids:
        return []
    counts = pd.Series(task_ids).value_counts()
    return [
        f"{n} run{'s' if n != 1 else ''} on {task} left out: the platform has no human time for it"
        for task, n in counts.items()
    ]


def runs_import(
    *,
    data: bytes = b"",
    name: str,
    human_times: str = HumanTimes.PLATFORM,
    by: Any = None,
    records: list[dict[str, Any]] | None = None,
    report_head: tuple[str, ...] = (),
) -> ImportResult:
    """Parse, check and store a file of runs (or `records`, its rows already read, as Inspect logs give
    them), all or nothing; `report_head` leads the batch's report."""
    if records is None:
        parsed = parse_runs(data, name, human_times)
    else:
        parsed = _parse(list(enumerate(records, 1)), [], human_times)
    rows, known, left_out = usable_runs(parsed, human_times)
    left_out = [*report_head, *left_out]
    unknown: dict[str, int] = {}
    if human_times == HumanTimes.PLATFORM:
        agents_only, _ = without_humans(parsed)
        unknown = dict(Counter(r.task_id for r in agents_only if r.task_id not in known).most_common())
        if agents_only and not rows:  # found before anything is stored
            raise UnknownTasks(len(agents_only), unknown)
    tasks = {t.task_id: t for t in Task.objects.select_related("family")}
    with transaction.atomic():
        batch = RunBatch.objects.create(
            source=name[:300], human_times=human_times, created_by=by, report=left_out
        )
        agents = _agents({(r.agent, r.model, r.release_date) for r in rows})
        AgentRun.objects.bulk_create(
            [
                AgentRun(
                    batch=batch, agent=agents[r.agent], run_id=r.run_id[:200], task=tasks.get(r.task_id),
                    task_id_text=r.task_id[:400], task_family=r.task_family[:200], score=r.score,
                    score_binarized=r.score_binarized, human_minutes=r.human_minutes,
                    fatal_error_from=r.fatal_error_from[:300], working_seconds=r.working_seconds,
                    total_seconds=r.total_seconds, tokens=r.tokens,
                )
                for r in rows
            ],
            batch_size=2000,
        )  # fmt: skip
    return ImportResult(batch, len(rows), left_out, unknown)


def _agents(seen: set[tuple[str, str, str]]) -> dict[str, Agent]:
    out: dict[str, Agent] = {}
    for name, model, release in sorted(seen):
        agent, _ = Agent.objects.get_or_create(name=name[:200], defaults={"model": model[:200]})
        if release and agent.release_date is None:
            try:
                agent.release_date = date.fromisoformat(release[:10])
                agent.save(update_fields=["release_date"])
            except ValueError:
                pass
        out[name] = agent
    return out


def release_dates_import(data: bytes) -> int:
    """A small CSV `agent,release_date` (YYYY-MM-DD) setting agents' release dates; all or nothing."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    if not reader.fieldnames or not {"agent", "release_date"} <= set(reader.fieldnames):
        raise RunsImportError(["line 1: the header must have agent,release_date"])
    pairs, errors = [], []
    for n, row in enumerate(reader, start=2):
        try:
            pairs.append((str(row["agent"]).strip(), date.fromisoformat(str(row["release_date"]).strip())))
        except ValueError:
            errors.append(f"line {n}: {row.get('release_date')!r} is not a date (YYYY-MM-DD)")
    if errors:
        raise RunsImportError(errors)
    with transaction.atomic():
        for agent, day in pairs:
            Agent.objects.update_or_create(name=agent, defaults={"release_date": day})
    return len(pairs)
