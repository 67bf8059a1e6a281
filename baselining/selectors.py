"""Reads for assignments: which tasks a contractor may get, in priority order."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count

from baselining.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    AssignmentKind,
    ContractorProfile,
    counts_towards_target,
)
from tasks.models import Task, TaskStatus


@dataclass(frozen=True)
class Candidate:
    task: Task
    filled: int  # successful baselines plus open baseline assignments
    target: int

    @property
    def priority(self) -> tuple[float, object]:
        return (self.filled / max(1, self.target), self.task.created_at)


def eligible_tasks(*, contractor: User, kind: str) -> list[Candidate]:
    """Tasks this contractor may get, best first: fewest baselines for the target, then the oldest."""
    profile = ContractorProfile.objects.filter(user=contractor).first()
    areas = profile.areas if profile else set()
    status = TaskStatus.READY if kind == AssignmentKind.BASELINE else TaskStatus.QA
    tasks = (
        Task.objects.filter(status=status, latest_version__isnull=False)
        .exclude(assignments__contractor=contractor)  # attempted before: any version, any kind
        .exclude(family__authors=contractor)  # wrote it
        .exclude(flags__severity="blocking", flags__status__in=["open", "confirmed"])  # on hold for a problem
        .select_related("latest_version", "family")
        .annotate(open_or_done=Count("assignments", filter=counts_towards_target("assignments__")))
    )
    out = []
    for task in tasks:
        tv = task.latest_version
        if tv is None or tv.needs:
            continue
        wanted = {e.strip().lower() for e in tv.expertise}
        if wanted and not wanted & areas:
            continue
        if kind == AssignmentKind.BASELINE and task.open_or_done >= task.target_baselines:
            continue
        out.append(Candidate(task, task.open_or_done, task.target_baselines))
    return sorted(out, key=lambda c: c.priority)


def open_assignments(*, contractor: User) -> list[Assignment]:
    return list(
        Assignment.objects.filter(contractor=contractor, status__in=OPEN_ASSIGNMENT_STATUSES)
        .select_related("task__family", "task_version")
        .order_by("created_at")
    )


def assignment_history(*, contractor: User) -> list[Assignment]:
    return list(
        Assignment.objects.filter(contractor=contractor)
        .select_related("task__family", "task_version")
        .order_by("-created_at")
    )
