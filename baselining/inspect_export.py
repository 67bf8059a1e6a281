"""Human baselines as Inspect eval logs: one log per task, one sample per baseline attempt (docs/exports.md).

The attempts are runs.jsonl's (`attempt_rows` with kind baseline: finished, scored, and not marked invalid
unless asked), with the same times (the clock's working seconds; wall time from the clock's first start to
the end), scores (no score is 0.0, as `score_cont`), pseudonyms and links as the other exports. The logs are
built from inspect_ai's own classes and written by `inspect_ai.log.write_eval_log`, so
`inspect_ai.log.read_eval_log` and `inspect view` read them as they read an agent's eval.

A sample's terminal transcript is in its events: an info event with the recording's text (terminal output
with escape sequences removed) and one with the recording itself (asciicast v2 lines), both held
in the sample's `attachments` as Inspect holds large content, both bounded (TRANSCRIPT_MAX_CHARS,
CAST_MAX_BYTES; the replay link has it all).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from uuid import UUID

import pandas as pd
from django.conf import settings
from django.db.models import F
from django.http import FileResponse
from django.utils import timezone
from inspect_ai import __version__ as INSPECT_VERSION
from inspect_ai.event import Event, InfoEvent, ScoreEvent
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalMetric,
    EvalPlan,
    EvalPlanStep,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput
from inspect_ai.scorer import Score

from baselining.exports import CHUNK, INSPECT_ZIP, _finite, _seconds, suite_statistics, url_for_uuid
from baselining.selectors import ExportFilters, attempt_rows
from baselining.statistics import ESTIMATE_INTERVALS
from tasks.models import TaskVersion
from terminal.models import TerminalSession

MODEL = "human"
SCORER = "baseline"  # the name of each sample's score and of the log's one scorer
SOLVER = "human_baseline"
INPUT_MAX_CHARS = 20_000  # a sample's input: the instructions, up to this (the rest: the task's page)
TRANSCRIPT_MAX_CHARS = 1_000_000  # the recording's text in a sample
CAST_MAX_BYTES = 2_000_000  # the recording itself in a sample (whole lines of it)

# Terminal escape sequences: CSI (colours, cursor moves), OSC (titles, links; ended by BEL or ST), and the
# two-character ones (ESC 7, ESC =, ...). What is left of C0 control characters, but newline and tab, goes.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[P^_][^\x1b]*(?:\x1b\\)?|\x1b."
)
_CONTROLS = re.compile(r"[\x00-\x07\x0b-\x1f\x7f]")
_ERASE_LINE = re.compile(r"\x1b\[0?K")  # erase to the end of the line: readline's way of deleting
ERASE = "\ue000"  # what it stands for while the lines are worked out (a private-use character)

# the fields of attempt_rows each sample needs, with the version its instructions come from
ROW_FIELDS = [
    "id", "started_at", "ended_at", "working_seconds", "score", "outcome", "review_status", "review_reason",
    "terminal_id", "give_up_reason", "task", "family", "task_name", "task_version", "threshold", "contractor",
    "contractor_user",
]  # fmt: skip


@dataclass(frozen=True)
class TaskLog:
    """One task's eval log and the file name it goes by (`family__task.eval`)."""

    name: str
    log: EvalLog


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def file_name(family: str, task: str, suffix: str = "eval") -> str:
    """`family__task.eval`: family names are Python identifiers and task names hold no '/' (tasks.models),
    so the name is safe as it is; anything else is replaced all the same."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", f"{family}__{task}") + f".{suffix}"


def _line(raw: str) -> str:
    """One line as the terminal left it: a carriage return goes back to its start, a backspace one column
    left, what is written next overwrites, an erase-to-end-of-line (ERASE) cuts at the cursor."""
    buf: list[str] = []
    at = 0
    for ch in raw:
        if ch == "\r":
            at = 0
        elif ch == "\b":
            at = max(0, at - 1)
        elif ch == ERASE:
            del buf[at:]
        elif at < len(buf):
            buf[at] = ch
            at += 1
        else:
            buf.append(ch)
            at += 1
    return "".join(buf).rstrip(" ")


def terminal_text(cast: str) -> str:
    """What the terminal showed, as plain text: the output events of an asciicast v2 recording in order,
    escape sequences removed, carriage returns, backspaces and line erases applied, markers (pause,
    submit...) as lines of their own."""
    parts: list[str] = []
    for line in cast.splitlines()[1:]:  # the first line is the header
        try:
            at, code, data = json.loads(line)
        except (ValueError, TypeError):
            continue
        if code == "o" and isinstance(data, str):
            parts.append(data)
        elif code == "m":
            parts.append(f"\n[{float(at):.1f} s: {data}]\n")
    text = _ERASE_LINE.sub(ERASE, "".join(parts))
    text = _ESCAPES.sub("", text).replace("\r\n", "\n")
    lines = []
    for raw in text.split("\n"):
        if "\r" in raw or "\b" in raw or ERASE in raw:  # (the few lines that need it: the slow path)
            raw = _line(raw)
        lines.append(_CONTROLS.sub("", raw))
    return "\n".join(lines)


def _attachment(attachments: dict[str, str], content: str) -> str:
    """Content kept in the sample's attachments (as inspect_ai keeps large content): its reference."""
    key = hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()
    attachments[key] = content
    return f"attachment://{key}"


def read_recording(terminal_id: UUID | str) -> tuple[str, bool] | None:
    """The session's recording, whole lines up to CAST_MAX_BYTES, and whether that is all of it; None if
    there is none."""
    path = TerminalSession(id=terminal_id).recording_path  # (an unsaved instance: no query)
    try:
        with path.open("rb") as fh:
            data = fh.read(CAST_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    whole = len(data) <= CAST_MAX_BYTES
    if not whole:
        data = data[: data.rfind(b"\n", 0, CAST_MAX_BYTES) + 1]
    return data.decode("utf-8", errors="replace"), whole


def _transcript_events(
    row: dict[str, Any], contractor: str, replay: str, recording: str, attachments: dict[str, str]
) -> tuple[list[Event], dict[str, Any]]:
    """The events that carry the terminal transcript, and what the sample's metadata says of it."""
    started = row["started_at"] or row["ended_at"]
    header = f"Human baseline by **{contractor}**: {row['outcome']}."
    if not row["terminal_id"]:
        return [InfoEvent(source="baseline", data=header, timestamp=started, working_start=0.0)], {
            "transcript": "none"
        }
    header += f" [Replay in the platform]({replay}) · [recording (asciicast)]({recording})"
    events: list[Event] = [InfoEvent(source="baseline", data=header, timestamp=started, working_start=0.0)]
    found = read_recording(row["terminal_id"])
    if found is None:
        return events, {"transcript": "no recording"}
    cast, whole = found
    text = terminal_text(cast)
    cut = len(text) > TRANSCRIPT_MAX_CHARS
    text = text[:TRANSCRIPT_MAX_CHARS]
    note = (
        "" if whole and not cut else f"\n\n(cut at this size: the whole session is in the replay, {replay})"
    )
    events.append(
        InfoEvent(
            source="terminal",
            data=_attachment(attachments, text + note),  # (Inspect View shows it as it is, lines kept)
            timestamp=started,
            working_start=0.0,
        )
    )
    events.append(
        InfoEvent(
            source="asciicast",
            data={"format": "asciicast v2", "complete": whole, "recording": _attachment(attachments, cast)},
            timestamp=started,
            working_start=0.0,
        )
    )
    return events, {"transcript": "complete" if whole and not cut else "cut", "transcript_chars": len(text)}


def _input(instructions: str, task_id: str) -> str:
    if len(instructions) <= INPUT_MAX_CHARS:
        return instructions
    return (
        instructions[:INPUT_MAX_CHARS] + f"\n\n[instructions cut at {INPUT_MAX_CHARS} characters: {task_id}]"
    )


def sample_for(
    row: dict[str, Any], submission: str, instructions: str, replay_url: Any, recording_url: Any
) -> EvalSample:
    """One baseline attempt as an Inspect sample."""
    task_id = f"{row['family']}/{row['task_name']}"
    contractor = row["contractor"] or f"u_{row['contractor_user']}"  # as baselines.csv names them
    wall = _seconds(row["started_at"], row["ended_at"])
    working = row["working_seconds"]
    replay = replay_url(row["terminal_id"]) if row["terminal_id"] else ""
    recording = recording_url(row["terminal_id"]) if row["terminal_id"] else ""
    success = row["outcome"] == "success"
    explanation = row["outcome"]
    if row["give_up_reason"]:
        explanation += f": {row['give_up_reason']}"
    score = Score(
        value=row["score"] if row["score"] is not None else 0.0,  # as runs.jsonl's score_cont
        answer=submission,
        explanation=explanation,
        metadata={
            "outcome": row["outcome"],
            "success": success,
            "score": row["score"],
            "success_threshold": row["threshold"],
        },
    )
    attachments: dict[str, str] = {}
    events, transcript = _transcript_events(row, contractor, replay, recording, attachments)
    events.append(
        ScoreEvent(
            score=score,
            target="",
            scorer=SCORER,
            timestamp=row["ended_at"],
            working_start=working or 0.0,
        )
    )
    prompt = _input(instructions, task_id)
    return EvalSample(
        id=row["id"],
        epoch=1,
        input=prompt,
        target="",  # the answer stays in the platform (task data is never shown to contractors)
        messages=[
            ChatMessageUser(content=prompt),
            ChatMessageAssistant(content=submission, model=MODEL, source="generate"),
        ],
        output=ModelOutput.from_content(model=MODEL, content=submission),
        scores={SCORER: score},
        metadata={
            "contractor": contractor,
            "outcome": row["outcome"],
            "give_up_reason": row["give_up_reason"],
            "score": row["score"],
            "success": success,
            "started_at": _iso(row["started_at"]),
            "ended_at": _iso(row["ended_at"]),
            "working_seconds": working,
            "wall_seconds": wall,
            "paused_seconds": None if wall is None or working is None else max(0.0, wall - working),
            "review_status": row["review_status"],
            "review_reason": row["review_reason"],
            "task_id": task_id,
            "task_version": row["task_version"],
            "session_id": row["id"],
            "terminal_session_id": str(row["terminal_id"]) if row["terminal_id"] else None,
            "replay_url": replay,
            "recording_url": recording,
            **transcript,
        },
        started_at=_iso(row["started_at"]),
        completed_at=_iso(row["ended_at"]),
        total_time=wall,
        working_time=working,
        uuid=str(row["terminal_id"]) if row["terminal_id"] else f"baseline-session-{row['id']}",
        attachments=attachments,
        events=events,
    )


def _task_metadata(stats: pd.DataFrame, task: int) -> dict[str, Any]:
    """The task's human time as tasks.csv and runs.jsonl give it."""
    if task not in stats.index:
        return {}
    row = stats.loc[task]
    estimate = settings.BASELINE_ESTIMATE
    _, low, high = ESTIMATE_INTERVALS[estimate]
    baseline = row["human_source"] == "baseline"
    return {
        "human_minutes": _finite(row["human_minutes"]),
        "human_source": None if pd.isna(row["human_source"]) else str(row["human_source"]),
        "human_estimate": estimate if baseline else None,
        "human_minutes_low": _finite(row[low]) if baseline else None,
        "human_minutes_high": _finite(row[high]) if baseline else None,
        "attempts": int(row["attempts"]),
        "successes": int(row["successes"]),
    }


def task_log(rows: list[dict[str, Any]], samples: list[EvalSample], stats: pd.DataFrame) -> EvalLog:
    """One task's eval: model human, one sample per attempt, the mean score and success rate."""
    first = rows[0]
    task_id = f"{first['family']}/{first['task_name']}"
    starts = [r["started_at"] or r["ended_at"] for r in rows]
    ends = [r["ended_at"] for r in rows]
    values = [float(s.scores[SCORER].value) for s in samples if s.scores]  # type: ignore[arg-type]
    successes = sum(r["outcome"] == "success" for r in rows)
    n = len(samples)
    return EvalLog(
        status="success",
        eval=EvalSpec(
            created=timezone.now().isoformat(),
            task=task_id,
            task_version=max(r["task_version"] for r in rows),
            task_display_name=task_id,
            task_description="human baselines of this task (baseline platform)",
            solver=SOLVER,
            dataset=EvalDataset(name=first["family"], samples=n, sample_ids=[s.id for s in samples]),
            model=MODEL,
            config=EvalConfig(epochs=1),
            packages={"inspect_ai": INSPECT_VERSION},
            metadata={
                "source": "baseline platform",
                "task_source": settings.EXPORT_TASK_SOURCE,
                "task_family": first["family"],
                "task_name": first["task_name"],
                **_task_metadata(stats, first["task"]),
            },
        ),
        plan=EvalPlan(name="plan", steps=[EvalPlanStep(solver=SOLVER)]),
        results=EvalResults(
            total_samples=n,
            completed_samples=n,
            scores=[
                EvalScore(
                    name=SCORER,
                    scorer=SCORER,
                    scored_samples=n,
                    unscored_samples=0,
                    metrics={
                        "mean": EvalMetric(name="mean", value=sum(values) / n),
                        "success_rate": EvalMetric(name="success_rate", value=successes / n),
                    },
                )
            ],
        ),
        stats=EvalStats(started_at=_iso(min(starts)) or "", completed_at=_iso(max(ends)) or ""),
        samples=samples,
    )


def task_logs(filters: ExportFilters, base_url: str = "") -> Iterator[TaskLog]:
    """Each task's log in turn (one task's attempts in memory at a time), tasks in family and name order."""
    stats = suite_statistics(filters)
    replay_url = url_for_uuid("terminal:replay", base_url)
    recording_url = url_for_uuid("terminal:recording", base_url)
    rows = (
        attempt_rows(filters, kinds=("baseline",))
        .values(*ROW_FIELDS, "submission", task_version_id=F("assignment__task_version_id"))
        .order_by("assignment__task__family__name", "assignment__task__name", "pk")
    )
    names: set[str] = set()
    for _task, group in itertools.groupby(rows.iterator(chunk_size=CHUNK), key=lambda r: r["task"]):
        attempts = list(group)
        versions = {r["task_version_id"] for r in attempts}
        instructions = dict(TaskVersion.objects.filter(pk__in=versions).values_list("pk", "instructions"))
        samples = [
            sample_for(r, r["submission"], instructions[r["task_version_id"]], replay_url, recording_url)
            for r in attempts
        ]
        name = file_name(attempts[0]["family"], attempts[0]["task_name"])
        if name in names:  # (cannot happen with valid names; never overwrite one task with another)
            name = name.removesuffix(".eval") + f"-{attempts[0]['task']}.eval"
        names.add(name)
        yield TaskLog(name, task_log(attempts, samples, stats))


def write_logs(
    filters: ExportFilters, out: Path, base_url: str = "", log_format: Literal["eval", "json"] = "eval"
) -> list[tuple[str, int]]:
    """Write each task's log into `out` (beside, then renamed: a reader never sees half a file); the names
    written and their samples."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for t in task_logs(filters, base_url):
        name = t.name if log_format == "eval" else t.name.removesuffix(".eval") + ".json"
        part = out / f".{name}.part"
        write_eval_log(t.log, part.as_posix(), format=log_format)
        part.replace(out / name)
        written.append((name, len(t.log.samples or [])))
    return written


def write_zip(filters: ExportFilters, fh: IO[bytes], base_url: str = "") -> int:
    """Every task's .eval log in one zip (stored: a .eval is a zip already); the number of logs."""
    count = 0
    with (
        tempfile.TemporaryDirectory(prefix="inspect-export-") as tmp,
        zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf,
    ):
        for t in task_logs(filters, base_url):
            path = Path(tmp) / t.name
            write_eval_log(t.log, path.as_posix(), format="eval")
            zf.write(path, t.name)
            path.unlink()
            count += 1
    return count


def inspect_zip_response(filters: ExportFilters, base_url: str = "") -> FileResponse:
    """The zip as a download, from an anonymous temporary file (gone when the response closes it)."""
    fh = tempfile.TemporaryFile()  # noqa: SIM115  (the response closes it)
    try:
        write_zip(filters, fh, base_url)
    except BaseException:
        fh.close()
        raise
    fh.seek(0)
    return FileResponse(fh, as_attachment=True, filename=INSPECT_ZIP, content_type="application/zip")
