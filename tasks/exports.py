"""flags.csv: one row per flag, with the session and recording offset where there is one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from baselining.exports import url_for_uuid
from baselining.selectors import ExportFilters, date_window
from tasks.models import Flag

FLAGS_COLUMNS: dict[str, str] = {
    "flag_id": "Int64", "task_id": "string", "family": "string", "task": "string", "task_version": "Int64",
    "category": "string", "severity": "string", "status": "string", "source": "string",
    "raised_by": "string", "created_at": "datetime", "updated_at": "datetime",
    "terminal_session_id": "string", "recording_offset_s": "float64", "replay_url": "string",
    "duplicate_of": "Int64", "fixed_in_version": "Int64", "description": "string",
    "resolution_note": "string",
}  # fmt: skip


def _pseudonym(user: Any) -> str:
    """As in baselines.csv: a name here and a session id would undo that file's pseudonyms."""
    profile = getattr(user, "contractor", None)
    return profile.pseudonym if profile is not None else f"u_{user.pk}"


def flags_table(filters: ExportFilters, base_url: str = "") -> Iterator[list[Any]]:
    """Filters: the task's family and status, and the day the flag was raised."""
    yield list(FLAGS_COLUMNS)
    qs = Flag.objects.select_related(
        "task__family", "task_version", "raised_by__contractor", "fixed_in"
    ).order_by("pk")
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
            f.severity, f.status, f.source, _pseudonym(f.raised_by), f.created_at.isoformat(),
            f.updated_at.isoformat(), f.terminal_session_id or "",
            "" if f.recording_offset is None else f"{f.recording_offset:.3f}", replay,
            f.duplicate_of_id or "", f.fixed_in.version if f.fixed_in else "", f.description,
            f.resolution_note,
        ]  # fmt: skip
