"""Generated suites with known log-normal human times, written straight to the database in bulk.

For the statistics tests (does the estimate recover the true median?) and bench/stats.py (10,000 tasks and
60,000 attempts). Every row is a real row of the real tables: the exports and pages read them as they read
a contractor's work. Nothing here runs in production paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from baselining.models import (
    Assignment,
    AssignmentKind,
    AssignmentStatus,
    BaselineSession,
    ClockEvent,
    ContractorProfile,
    ContractorStatus,
    Outcome,
    ReviewStatus,
    SessionState,
)
from tasks.models import FamilyVersion, ScoringMode, Task, TaskFamily, TaskStatus, TaskVersion

SPREAD_SIGMA = math.log(3) / 1.645  # 90% of baseliners within about 3x of each other
AREAS = ("software engineering", "data science")  # each family asks for one of them, in turn


@dataclass(frozen=True)
class Suite:
    true_median: dict[int, float]  # task pk -> minutes
    n_tasks: int
    n_attempts: int


def generate_suite(
    *,
    n_tasks: int,
    attempts_per_task: int,
    seed: int = 0,
    tasks_per_family: int = 10,
    n_contractors: int = 60,
    invalid_rate: float = 0.03,
    qa_rate: float = 0.1,
    prefix: str = "gen",
    batch: int = 5000,
    contractor_sigma: float = 0.0,
) -> Suite:
    """Tasks with true medians from 1 minute to 16 hours; each attempt's time is log-normal around it.

    Each baseliner has a patience (1.2x to 4x the task's estimate, which is the true median off by up to
    2x): slower than that, they give up or hit the limit (a censored attempt); some succeed but the score
    says fail (a censored attempt too). A few attempts are marked invalid. Each contractor states 0-15 years
    of software engineering and 0-10 of data science; each family's tasks ask for one of the two, in turn;
    with contractor_sigma, each is also that much faster or slower on the log scale
    (N(0, contractor_sigma), unrelated to the years), their times multiplied by it.
    """
    rng = np.random.default_rng(seed)
    people = np.random.default_rng([seed, 1])  # contractors' own draws: the attempts' stream is unchanged
    years = people.integers(0, 16, size=n_contractors)
    data_years = np.random.default_rng([seed, 2]).integers(0, 11, size=n_contractors)
    speed = (
        people.normal(0, contractor_sigma, size=n_contractors)
        if contractor_sigma
        else np.zeros(n_contractors)
    )
    user_model = get_user_model()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}-c{i:04d}") for i in range(n_contractors)]
        )
        ContractorProfile.objects.bulk_create(
            [
                ContractorProfile(
                    user=u,
                    status=ContractorStatus.ACTIVE,
                    expertise=[
                        {"area": "software engineering", "years": int(years[i])},
                        {"area": "data science", "years": int(data_years[i])},
                    ],
                )
                for i, u in enumerate(users)
            ]
        )
        n_fam = math.ceil(n_tasks / tasks_per_family)
        families = TaskFamily.objects.bulk_create(
            [TaskFamily(name=f"{prefix}_f{i:05d}") for i in range(n_fam)]
        )
        fversions = FamilyVersion.objects.bulk_create(
            [FamilyVersion(family=f, version=1, content_digest=f"{i:064x}") for i, f in enumerate(families)]
        )
        medians = np.exp(rng.uniform(math.log(1), math.log(960), size=n_tasks))
        tasks = Task.objects.bulk_create(
            [
                Task(family=families[i // tasks_per_family], name=f"t{i:05d}", status=TaskStatus.READY)
                for i in range(n_tasks)
            ],
            batch_size=batch,
        )
        estimates = medians * np.exp(rng.uniform(-math.log(2), math.log(2), size=n_tasks))
        versions = TaskVersion.objects.bulk_create(
            [
                TaskVersion(
                    task=t, family_version=fversions[i // tasks_per_family], version=1,
                    instructions="generated", scoring_mode=ScoringMode.AUTOMATIC,
                    estimate_minutes=float(estimates[i]),
                    expertise=[AREAS[(i // tasks_per_family) % len(AREAS)]],
                )
                for i, t in enumerate(tasks)
            ],
            batch_size=batch,
        )  # fmt: skip
        for t, v in zip(tasks, versions, strict=True):
            t.latest_version = v
        Task.objects.bulk_update(tasks, ["latest_version"], batch_size=batch)

        n = n_tasks * attempts_per_task
        task_ix = np.repeat(np.arange(n_tasks), attempts_per_task)
        # distinct contractors per task: a rotation through the pool
        contractor_ix = (np.tile(np.arange(attempts_per_task), n_tasks) * 7 + task_ix) % n_contractors
        minutes = np.exp(
            np.log(medians[task_ix]) + rng.normal(0, SPREAD_SIGMA, size=n) + speed[contractor_ix]
        )
        patience = estimates[task_ix] * rng.uniform(1.2, 4.0, size=n)
        gave_up = minutes > patience
        wrong = ~gave_up & (rng.random(n) < 0.1)
        spent = np.where(gave_up, patience, minutes)
        outcome = np.where(gave_up, Outcome.GAVE_UP, np.where(wrong, Outcome.FAILURE, Outcome.SUCCESS))
        kinds = np.where(rng.random(n) < qa_rate, AssignmentKind.QA, AssignmentKind.BASELINE)
        invalid = rng.random(n) < invalid_rate
        began = [start + timedelta(minutes=float(m)) for m in rng.uniform(0, 300 * 24 * 60, size=n)]

        assignments = Assignment.objects.bulk_create(
            [
                Assignment(
                    contractor=users[contractor_ix[k]], task=tasks[task_ix[k]],
                    task_version=versions[task_ix[k]], kind=str(kinds[k]), status=AssignmentStatus.COMPLETED,
                    success=bool(outcome[k] == "success"),
                )
                for k in range(n)
            ],
            batch_size=batch,
        )  # fmt: skip
        sessions = BaselineSession.objects.bulk_create(
            [
                BaselineSession(
                    assignment=assignments[k], state=SessionState.ENDED, outcome=str(outcome[k]),
                    score=None if gave_up[k] else (1.0 if outcome[k] == "success" else 0.0),
                    working_seconds=round(float(spent[k]) * 60, 3),
                    ended_at=began[k] + timedelta(minutes=float(spent[k]) * 1.1),
                    review_status=ReviewStatus.INVALID if invalid[k] else ReviewStatus.VALID,
                    review_reason="rules" if invalid[k] else "",
                )
                for k in range(n)
            ],
            batch_size=batch,
        )  # fmt: skip
        ClockEvent.objects.bulk_create(
            [ClockEvent(session=s, seq=1, kind="started", at=began[k]) for k, s in enumerate(sessions)],
            batch_size=batch,
        )
    return Suite({t.pk: float(m) for t, m in zip(tasks, medians, strict=True)}, n_tasks, n)
