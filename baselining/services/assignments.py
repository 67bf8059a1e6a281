"""Writes for contractors and assignments. Claiming is race-safe (docs/timing.md, conventions #6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from baselining.models import (
    COUNTS_TOWARDS_TARGET,
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    AssignmentKind,
    AssignmentStatus,
    ContractorProfile,
    ContractorStatus,
)
from baselining.selectors import Candidate, ExportFilters, eligible_tasks
from tasks.models import Task, TaskStatus

RULES_VERSION = "2026-11"
ERR_NOT_ACTIVE = "your contractor profile is not active"
ERR_RULES = "accept the baselining rules first"
ERR_CAPACITY = "you already have {n} open assignments; finish one first"
ERR_NOTHING = "no task is available for you right now"
ERR_NOTHING_NOW = (
    "no task is available for you right now: every task you may take has enough baselines, is on hold, or "
    "is one you have done or wrote; new tasks come as staff make them ready"
)


class AssignmentError(Exception):
    pass


def contractor_accept_rules(*, user: User, at: datetime | None = None) -> ContractorProfile:
    profile, _ = ContractorProfile.objects.get_or_create(user=user)
    profile.rules_version = RULES_VERSION
    profile.rules_accepted_at = at or timezone.now()
    profile.save(update_fields=["rules_version", "rules_accepted_at"])
    return profile


def _open_count(contractor: User) -> int:
    return Assignment.objects.filter(contractor=contractor, status__in=OPEN_ASSIGNMENT_STATUSES).count()


def assignment_outlook(*, contractor: User, kind: str = AssignmentKind.BASELINE) -> str | None:
    """Could "Get my next task" give this contractor a task now? None if so, else why not (the reason the
    claim would give), for pages that offer the next task (nothing is reserved here)."""
    profile = ContractorProfile.objects.filter(user=contractor).first()
    if profile is None or profile.status != ContractorStatus.ACTIVE:
        return ERR_NOT_ACTIVE
    if profile.rules_version != RULES_VERSION:
        return ERR_RULES
    open_count = _open_count(contractor)
    if open_count >= settings.MAX_OPEN_ASSIGNMENTS:
        return ERR_CAPACITY.format(n=open_count)
    if not eligible_tasks(contractor=contractor, kind=kind):
        return ERR_NOTHING_NOW
    return None


def _unsettled_first(candidates: list[Candidate]) -> list[Candidate]:
    """PRIORITISE_UNSETTLED: the ready tasks whose estimates disagree ("needs more baselines") first, each
    group in its usual order. The statistics are the whole ready suite's (its fits borrow from every task)."""
    if not candidates:
        return candidates
    # Imported here, not at the top: they pull pandas, numpy and scipy, which every process that sets Django
    # up would load otherwise, the session host too (through the apps' ready(): test_lean_host.py)
    from baselining.exports import suite_statistics  # noqa: PLC0415
    from baselining.statistics import unsettled_tasks  # noqa: PLC0415

    stats = suite_statistics(ExportFilters(status=TaskStatus.READY))
    apart = set(unsettled_tasks(stats, settings.BASELINE_ESTIMATE, settings.ESTIMATES_DISAGREE_FACTOR).index)
    return sorted(candidates, key=lambda c: c.task.pk not in apart)  # stable: the usual order within


def _balanced_mix(candidates: list[Candidate], contractor: User) -> list[Candidate]:
    """BALANCE_CONTRACTOR_MIX: among the tasks, those whose baseliners so far are the other way from this
    contractor (slow ones for a fast contractor) first, then the least filled for their target. A
    contractor the fit has not seen yet (no attempt) gets the usual order. In simulation it cuts the error
    of the estimates that do not model contractors (success-only, censored, pooled) by 5-9%, the adjusted
    one's by 2% (docs/exports.md, "Which estimate to use")."""
    if not candidates:
        return candidates
    from baselining.exports import load_frames  # noqa: PLC0415  (pandas and scipy: as in _unsettled_first)
    from baselining.statistics import speed_mix  # noqa: PLC0415

    _, attempts = load_frames(ExportFilters(status=TaskStatus.READY))
    speeds, mix = speed_mix(attempts)
    mine = float(speeds.get(contractor.pk, 0.0))
    return sorted(
        candidates,
        key=lambda c: (c.priority[0] + 10 * round(mine * float(mix.get(c.task.pk, 0.0)), 2), c.priority[1]),
    )


def assignment_claim_next(
    *, contractor: User, kind: str = AssignmentKind.BASELINE, now: datetime | None = None
) -> Assignment:
    """Give the contractor the highest-priority eligible task ("Get my next task").

    Race-safe: the contractor's profile row is locked first (one claim per contractor at a time, which
    makes the capacity check exact), then the candidate task's row (so its target is checked against a
    count no one else is changing). Claims that lose a race move on to the next candidate; the database's
    unique (contractor, task) constraint is the last line against a duplicate.
    """
    now = now or timezone.now()
    with transaction.atomic():
        profile = ContractorProfile.objects.select_for_update().filter(user=contractor).first()
        if profile is None or profile.status != ContractorStatus.ACTIVE:
            raise AssignmentError(ERR_NOT_ACTIVE)
        if profile.rules_version != RULES_VERSION:
            raise AssignmentError(ERR_RULES)
        open_count = _open_count(contractor)
        if open_count >= settings.MAX_OPEN_ASSIGNMENTS:
            raise AssignmentError(ERR_CAPACITY.format(n=open_count))
    candidates = eligible_tasks(contractor=contractor, kind=kind)
    if settings.BALANCE_CONTRACTOR_MIX and kind == AssignmentKind.BASELINE:
        candidates = _balanced_mix(candidates, contractor)
    if settings.PRIORITISE_UNSETTLED and kind == AssignmentKind.BASELINE:
        candidates = _unsettled_first(candidates)
    for candidate in candidates:
        try:
            with transaction.atomic():
                ContractorProfile.objects.select_for_update().get(pk=profile.pk)
                # of=("self",): PostgreSQL cannot lock the nullable side of the latest_version join.
                task = (
                    Task.objects.select_for_update(of=("self",))
                    .select_related("latest_version")
                    .get(pk=candidate.task.pk)
                )
                taken = Assignment.objects.filter(COUNTS_TOWARDS_TARGET, task=task).count()
                if kind == AssignmentKind.BASELINE and taken >= task.target_baselines:
                    continue
                if _open_count(contractor) >= settings.MAX_OPEN_ASSIGNMENTS:
                    raise AssignmentError(ERR_CAPACITY.format(n=settings.MAX_OPEN_ASSIGNMENTS))
                if task.latest_version is None:
                    continue
                return Assignment.objects.create(
                    contractor=contractor,
                    task=task,
                    task_version=task.latest_version,
                    kind=kind,
                    status=AssignmentStatus.RESERVED,
                    reserved_until=now + timedelta(hours=settings.RESERVATION_HOURS),
                )
        except IntegrityError:
            continue  # a concurrent claim of ours got this task first
    raise AssignmentError(ERR_NOTHING)


ERR_NOT_ELIGIBLE = "{contractor} may not get {task}: {why}"


def _why_not_eligible(*, contractor: User, task: Task, eligible: set[int]) -> str | None:
    if task.pk in eligible:
        return None
    if Assignment.objects.filter(contractor=contractor, task=task).exists():
        return "attempted it before"
    if task.family.authors.filter(pk=contractor.pk).exists():
        return "wrote it"
    return "not eligible (task status, expertise, needs or target)"


def assignment_assign(
    *, by: User, contractors: list[User], tasks: list[Task], kind: str, now: datetime | None = None
) -> tuple[list[Assignment], list[str]]:
    """Staff assign tasks to contractors, one by one or in bulk, under the same rules as "next task".

    Returns the assignments made and, for each pair refused, why. Each pair is its own transaction, so
    one refusal does not undo the others.
    """
    if not by.is_staff:
        raise AssignmentError("only staff assign tasks")
    now = now or timezone.now()
    made, refused = [], []
    for contractor in contractors:
        # one eligibility query per contractor (the target is checked again under the task's lock)
        eligible = {c.task.pk for c in eligible_tasks(contractor=contractor, kind=kind)}
        for task in tasks:
            why = _why_not_eligible(contractor=contractor, task=task, eligible=eligible)
            if why is not None:
                refused.append(ERR_NOT_ELIGIBLE.format(contractor=contractor, task=task, why=why))
                continue
            try:
                with transaction.atomic():
                    locked = (
                        Task.objects.select_for_update(of=("self",))
                        .select_related("latest_version")
                        .get(pk=task.pk)
                    )
                    taken = Assignment.objects.filter(COUNTS_TOWARDS_TARGET, task=locked).count()
                    if kind == AssignmentKind.BASELINE and taken >= locked.target_baselines:
                        refused.append(
                            ERR_NOT_ELIGIBLE.format(contractor=contractor, task=task, why="target reached")
                        )
                        continue
                    if locked.latest_version is None:
                        continue
                    made.append(
                        Assignment.objects.create(
                            contractor=contractor,
                            task=locked,
                            task_version=locked.latest_version,
                            kind=kind,
                            reserved_until=now + timedelta(hours=settings.RESERVATION_HOURS),
                            assigned_by=by,
                        )
                    )
            except IntegrityError:
                refused.append(
                    ERR_NOT_ELIGIBLE.format(contractor=contractor, task=task, why="attempted it before")
                )
    return made, refused
