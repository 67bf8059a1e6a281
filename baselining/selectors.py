"""Reads for assignments: which tasks a contractor may get, in priority order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import CharField, Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from baselining.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    AssignmentKind,
    BaselineSession,
    ClockEvent,
    ContractorProfile,
    ReviewStatus,
    SessionState,
    counts_towards_target,
)
from tasks.models import Task, TaskStatus, TaskVersion
from tasks.selectors import blocking_flags, unmet_needs


def pseudonym(user_path: str) -> Coalesce:
    """The contractor pseudonym of the user at `user_path`, or `u_<id>` for users without a profile.

    One person has one name across the API and the exports (baselines.csv, flags.csv); the username and
    e-mail are never selected.
    """
    return Coalesce(
        F(f"{user_path}__contractor__pseudonym"),
        Concat(Value("u_"), Cast(f"{user_path}_id", output_field=CharField())),
        output_field=CharField(),
    )


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
        .exclude(pk__in=blocking_flags(holding=True).values("task_id"))  # on hold for a problem
        .select_related("latest_version__family_version", "family")
        .annotate(open_or_done=Count("assignments", filter=counts_towards_target("assignments__")))
    )
    out = []
    for task in tasks:
        tv = task.latest_version
        if tv is None or unmet_needs(tv):  # on this backend, with today's secrets
            continue
        wanted = {e.strip().lower() for e in tv.expertise}
        if wanted and not wanted & areas:
            continue
        if kind == AssignmentKind.BASELINE and task.open_or_done >= task.target_baselines:
            continue
        out.append(Candidate(task, task.open_or_done, task.target_baselines))
    return sorted(out, key=lambda c: c.priority)


def expertise_areas(offered: tuple[str, ...]) -> list[str]:
    """The areas an application may choose from: `offered`, and every area a ready task asks for (drafts
    and retired tasks are nobody's business on a public page)."""
    named = Task.objects.filter(status=TaskStatus.READY).values_list("latest_version__expertise", flat=True)
    areas = {a.strip().lower() for a in offered}
    areas |= {str(a).strip().lower() for listed in named if isinstance(listed, list) for a in listed}
    return sorted(a for a in areas if a)


def human_times_fingerprint() -> tuple[object, ...]:
    """What the platform's human times (suite_statistics) are made of, in a few aggregates: the finished
    attempts by outcome, review and kind (and when the last ended and was reviewed), the last timing
    correction, the tasks and their versions (estimates), and the settings that choose the estimate. Any
    change to the human times changes it; a cache of what is computed from them keys on it."""
    finished = BaselineSession.objects.filter(state=SessionState.ENDED)  # what attempt_rows reads; live
    # sessions starting, pausing or resuming change nothing here
    sessions = finished.aggregate(
        n=Count("pk"), last=Max("pk"), ended=Max("ended_at"), reviewed=Max("reviewed_at")
    )
    mix = sorted(
        finished.values_list("outcome", "review_status", "assignment__kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return (
        sorted(sessions.items()),
        mix,
        ClockEvent.objects.filter(kind="staff_correction").aggregate(last=Max("pk"))["last"],
        Task.objects.aggregate(n=Count("pk"), last=Max("pk"))["n"],
        TaskVersion.objects.aggregate(last=Max("pk"))["last"],
        settings.BASELINE_ESTIMATE,
        tuple(settings.HUMAN_SOURCE_ORDER),
        settings.POOLED_SIGMA_BY,
    )


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


# --- Reads for statistics and exports: plain rows, one query each, no per-row ORM work -----------------

ATTEMPT_OUTCOMES = ("success", "failure", "gave_up", "time_limit")  # finished and scored
CENSORED_OUTCOMES = ("failure", "gave_up", "time_limit")  # the task took longer than the time spent


@dataclass(frozen=True)
class ExportFilters:
    family: str = ""
    status: str = ""  # the task's status
    since: date | None = None  # attempts that ended on or after this day (UTC)
    until: date | None = None  # ... and on or before this day
    include_invalid: bool = False  # attempts staff marked invalid (always excluded from statistics)


def date_window(filters: ExportFilters, field: str) -> Q:
    """`field` on or after the first day and before the end of the last (UTC days)."""
    q = Q()
    if filters.since:
        q &= Q(**{f"{field}__gte": datetime.combine(filters.since, time.min, tzinfo=UTC)})
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC)
        q &= Q(**{f"{field}__lt": end})
    return q


def attempt_rows(
    filters: ExportFilters, *, kinds: tuple[str, ...] = ("baseline", "qa"), with_invalid: bool | None = None
) -> QuerySet[Any, Any]:
    """Finished, scored attempts as dicts (one query; iterate with .iterator() for flat memory)."""
    first_start = ClockEvent.objects.filter(session=OuterRef("pk"), kind="started").order_by("seq")
    started = first_start.values("at")[:1]
    qs = BaselineSession.objects.filter(
        state=SessionState.ENDED, outcome__in=ATTEMPT_OUTCOMES, assignment__kind__in=kinds
    )
    if filters.family:
        qs = qs.filter(assignment__task__family__name=filters.family)
    if filters.status:
        qs = qs.filter(assignment__task__status=filters.status)
    qs = qs.filter(date_window(filters, "ended_at"))
    if not (filters.include_invalid if with_invalid is None else with_invalid):
        qs = qs.exclude(review_status=ReviewStatus.INVALID)
    return (
        qs.annotate(started_at=Subquery(started))
        .order_by("pk")
        .values(
            "id",
            "started_at",
            "ended_at",
            "working_seconds",
            "score",
            "outcome",
            "review_status",
            "review_reason",
            "terminal_id",
            "give_up_reason",
            task=F("assignment__task_id"),
            family=F("assignment__task__family__name"),
            task_name=F("assignment__task__name"),
            task_version=F("assignment__task_version__version"),
            threshold=F("assignment__task_version__success_threshold"),
            kind=F("assignment__kind"),
            contractor_user=F("assignment__contractor_id"),
            contractor=F("assignment__contractor__contractor__pseudonym"),
        )
    )


def task_rows(filters: ExportFilters) -> QuerySet[Any, Any]:
    qs = Task.objects.all()
    if filters.family:
        qs = qs.filter(family__name=filters.family)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("family__name", "name").values(
        "id",
        "name",
        "status",
        "target_baselines",
        family_name=F("family__name"),
        task_version=F("latest_version__version"),
        estimate_minutes=F("latest_version__estimate_minutes"),
        threshold=F("latest_version__success_threshold"),
        expertise=F("latest_version__expertise"),
    )
