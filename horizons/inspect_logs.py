"""Agent runs from Inspect eval logs: each sample becomes a row of METR's run format, stored by `runs_import`.

Logs are read with `inspect_ai.log.read_eval_log` (imported lazily: it takes over a second). Each sample (each
epoch) is one run:

- agent (`alias`): the eval's model, with the solver's name when the eval names one: `model (solver)`;
- task: from a staff mapping (`{"inspect_task/sample_id": "family/name", "inspect_task/*": "family/{id}"}`),
  else the sample id when it names a platform task exactly, else `inspect_task/sample_id`;
- score: the chosen scorer's value (default: the sample's first scorer), as a number (Inspect's C/I/P/N read
  with `value_to_float`: 1, 0, 0.5, 0); `score_binarized` is `value >= threshold` (default 1.0);
- `fatal_error_from`: `error: <message>` for a sample that errored, `usageLimits: <type> (<limit>)` (METR's
  word) for one that hit a limit; a sample with no score that errored or hit a limit scores 0;
- kept: `working_time` and `total_time` (seconds), `tokens_count` (all models' total tokens), started and
  completed times (epoch ms), `human_minutes` from the sample's metadata when it has one.

A file that is not a readable log, or a sample that cannot be scored, refuses the whole import (each file
named with its reason); nothing is stored.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from horizons.models import HumanTimes
from horizons.services import ImportResult, RunsImportError, runs_import
from tasks.models import Task

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

DEFAULT_THRESHOLD = 1.0
LOG_SUFFIXES = (".eval", ".json")
MAX_UNMATCHED_SHOWN = 20


class BadLogs(RunsImportError):
    """Logs that cannot be read, or samples that cannot be scored: nothing was stored; each is named."""

    def __init__(self, errors: list[str]) -> None:
        Exception.__init__(
            self, f"{len(errors)} bad log{'s' if len(errors) != 1 else ''}: " + "; ".join(errors)
        )
        self.errors = errors


class UnmatchedSamples(RunsImportError):
    """With the platform's human times, some samples map to no platform task: nothing is stored (unless the
    import is told to skip them). `unmatched` is `inspect_task/sample_id -> the task id it mapped to`."""

    def __init__(self, unmatched: dict[str, str]) -> None:
        shown = list(unmatched.items())[:MAX_UNMATCHED_SHOWN]
        more = f" (the first {len(shown)})" if len(unmatched) > len(shown) else ""
        Exception.__init__(
            self,
            f"{len(unmatched)} sample{'s' if len(unmatched) != 1 else ''} match no platform task{more}: "
            + "; ".join(f"{s} -> {t}" for s, t in shown)
            + ": map them (an Inspect task map) or skip them",
        )
        self.errors: list[str] = []
        self.unmatched = unmatched


@dataclass
class InspectRows:
    rows: list[dict[str, Any]]
    unmatched: dict[str, str] = field(default_factory=dict)  # inspect_task/sample_id -> mapped task id


def is_inspect_log(name: str, data: bytes) -> bool:
    """An `.eval` file, or a `.json` file holding one Inspect log (not METR's JSON Lines)."""
    if name.endswith(".eval"):
        return True
    if not name.endswith(".json"):
        return False
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("eval"), dict)


def log_files(paths: list[Path]) -> list[Path]:
    """The log files named, directories expanded to the `.eval` and `.json` files under them."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in LOG_SUFFIXES)
        elif path.is_file():
            out.append(path)
        else:
            raise RunsImportError([f"{path}: no such file or directory"])
    if not out:
        raise RunsImportError([f"{', '.join(map(str, paths))}: no .eval or .json logs"])
    return out


def read_logs(files: list[Path]) -> list[tuple[str, EvalLog]]:
    """Every log read whole; any that cannot be read refuses them all, each named with its reason."""
    from inspect_ai.log import read_eval_log  # noqa: PLC0415  (over a second to import: only when used)

    logs, errors = [], []
    for path in files:
        if path.suffix not in LOG_SUFFIXES:
            errors.append(f"{path.name}: not an Inspect log (.eval or .json)")
            continue
        try:
            log = read_eval_log(path.as_posix())
        except Exception as exc:  # inspect raises many kinds: the file is refused with its reason
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            errors.append(f"{path.name}: not a readable Inspect log ({reason[:300]})")
            continue
        if log.status == "started" or not log.samples:
            errors.append(f"{path.name}: the log has no samples (status {log.status})")
            continue
        logs.append((path.name, log))
    if errors:
        raise BadLogs(errors)
    return logs


def load_task_map(data: bytes) -> dict[str, str]:
    """A JSON object `{"inspect_task/sample_id" or "inspect_task/*": "family/name" (may use {id})}`."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunsImportError([f"the task map is not JSON ({exc})"]) from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise RunsImportError(
            ['the task map must be a JSON object of strings: {"task/sample": "family/name"}']
        )
    return {str(k): v for k, v in doc.items()}


def map_task(task: str, sample_id: str, task_map: dict[str, str], known: set[str]) -> str:
    """The platform task id of an Inspect task's sample: the map (exact, then `task/*`), else the sample id
    when it names a platform task, else `task/sample_id`."""
    mapped = task_map.get(f"{task}/{sample_id}") or task_map.get(f"{task}/*")
    if mapped:
        return mapped.replace("{id}", sample_id).replace("{task}", task)
    if sample_id in known:
        return sample_id
    return f"{task}/{sample_id}"


def _epoch_ms(value: str | None) -> int | None:
    if not value:
        return None
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def _score(sample: EvalSample, scorer: str | None) -> float | None:
    from inspect_ai.scorer import value_to_float  # noqa: PLC0415  (as read_logs)

    scores = sample.scores or {}
    if not scores:
        return None
    name = scorer or next(iter(scores))
    if name not in scores:
        raise ValueError(f"no score from scorer {name!r} (it has {', '.join(scores)})")
    value = scores[name].value
    if isinstance(value, dict | list):
        raise ValueError(f"scorer {name!r} gives several values ({value!r}); one number is needed")
    number = float(value_to_float()(value))
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"scorer {name!r} gives {value!r}")
    return number


def _fatal_error(sample: EvalSample) -> str:
    if sample.error is not None:
        message = sample.error.message.strip().splitlines()[0] if sample.error.message.strip() else "error"
        return f"error: {message}"[:300]
    if sample.limit is not None:
        return f"usageLimits: {sample.limit.type} ({sample.limit.limit:g})"  # METR's word, and which limit
    return ""


def _row(
    source: str, log: EvalLog, sample: EvalSample, task_id: str, scorer: str | None, threshold: float
) -> dict[str, Any]:
    fatal = _fatal_error(sample)
    score = _score(sample, scorer)
    if score is None:
        if not fatal:
            raise ValueError("no score")
        score = 0.0
    spec = log.eval
    alias = f"{spec.model} ({spec.solver})" if spec.solver else spec.model
    usage = sample.model_usage or {}
    metadata = sample.metadata or {}
    human = metadata.get("human_minutes")
    return {
        "run_id": sample.uuid or f"{spec.eval_id}/{sample.id}/{sample.epoch}",
        "task_id": task_id,
        "task_family": task_id.split("/", 1)[0],
        "alias": alias,
        "model": spec.model,
        "score_cont": score,
        "score_binarized": int(score >= threshold),
        "fatal_error_from": fatal or None,
        "started_at": _epoch_ms(sample.started_at),
        "completed_at": _epoch_ms(sample.completed_at),
        "working_time": sample.working_time,
        "total_time": sample.total_time,
        "tokens_count": sum(u.total_tokens for u in usage.values()) if usage else None,
        "human_minutes": human if isinstance(human, int | float) and not isinstance(human, bool) else None,
        "source": source,
    }


def inspect_rows(
    logs: list[tuple[str, EvalLog]],
    task_map: dict[str, str] | None = None,
    scorer: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> InspectRows:
    """Each sample as a METR run row; a sample that cannot be scored refuses them all, named by file."""
    known = {t.task_id for t in Task.objects.select_related("family")}
    rows, errors, unmatched = [], [], {}
    for source, log in logs:
        for sample in log.samples or []:
            sample_id = str(sample.id)
            task_id = map_task(log.eval.task, sample_id, task_map or {}, known)
            if task_id not in known:
                unmatched[f"{log.eval.task}/{sample_id}"] = task_id
            try:
                rows.append(_row(source, log, sample, task_id, scorer, threshold))
            except ValueError as exc:
                errors.append(f"{source}: sample {sample_id} (epoch {sample.epoch}): {exc}")
    if errors:
        raise BadLogs(errors)
    return InspectRows(rows, unmatched)


def inspect_import(
    files: list[Path],
    *,
    human_times: str = HumanTimes.PLATFORM,
    task_map: dict[str, str] | None = None,
    scorer: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    skip_unmatched: bool = False,
    by: Any = None,
) -> ImportResult:
    """Read, convert and store Inspect logs through the METR runs import: all or nothing."""
    converted = inspect_rows(read_logs(files), task_map, scorer, threshold)
    if converted.unmatched and human_times == HumanTimes.PLATFORM and not skip_unmatched:
        raise UnmatchedSamples(converted.unmatched)
    if human_times == HumanTimes.FILE:
        timeless = [
            f"{r['source']}: {r['run_id']} on {r['task_id']}"
            for r in converted.rows
            if r["human_minutes"] is None
        ]
        if timeless:
            raise BadLogs(
                [
                    f"{t}: no human_minutes in the sample's metadata (needed with the file's times)"
                    for t in timeless
                ]
            )
    name = ", ".join(sorted({p.name for p in files}))
    return runs_import(
        records=converted.rows,
        name=f"Inspect: {name}",
        human_times=human_times,
        by=by,
        report_head=(f"score binarised at >= {threshold:g} ({scorer or 'the first scorer'})",),
    )


def inspect_upload(name: str, data: bytes, **options: Any) -> ImportResult:
    """One uploaded log (the Horizons page), read from a temporary file under its own name."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(data)
        return inspect_import([path], **options)
