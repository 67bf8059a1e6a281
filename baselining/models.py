"""Contractors, assignments and baseline sessions with their append-only clock log."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def _pseudonym() -> str:
    return "c_" + secrets.token_hex(6)


class ContractorStatus(models.TextChoices):
    APPLICANT = "applicant", "Applicant"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"


class ContractorProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contractor")
    status = models.CharField(
        max_length=10, choices=ContractorStatus.choices, default=ContractorStatus.APPLICANT
    )
    expertise = models.JSONField(default=list, blank=True)  # [{"area": "data science", "years": 4}, ...]
    background = models.TextField(blank=True)
    availability = models.CharField(max_length=200, blank=True)
    rules_version = models.CharField(max_length=20, blank=True)
    rules_accepted_at = models.DateTimeField(null=True, blank=True)
    pseudonym = models.CharField(max_length=20, unique=True, default=_pseudonym)  # for exports
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.status})"

    @property
    def areas(self) -> set[str]:
        return {str(e.get("area", "")).strip().lower() for e in self.expertise if isinstance(e, dict)}


class AssignmentKind(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    QA = "qa", "QA run"


class AssignmentStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


OPEN_ASSIGNMENT_STATUSES = (AssignmentStatus.RESERVED, AssignmentStatus.IN_PROGRESS)
# What counts towards a task's target of successful baselines: open ones (they may succeed) and successes.
COUNTS_TOWARDS_TARGET = models.Q(kind="baseline") & (
    models.Q(status__in=OPEN_ASSIGNMENT_STATUSES) | models.Q(status="completed", success=True)
)


class Assignment(models.Model):
    contractor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    task = models.ForeignKey("tasks.Task", on_delete=models.PROTECT, related_name="assignments")
    task_version = models.ForeignKey(
        "tasks.TaskVersion", on_delete=models.PROTECT, related_name="assignments"
    )
    kind = models.CharField(max_length=10, choices=AssignmentKind.choices)
    status = models.CharField(
        max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.RESERVED
    )
    reserved_until = models.DateTimeField(null=True, blank=True)
    success = models.BooleanField(null=True, blank=True)  # set when its session is scored (and valid)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None: the contractor claimed it with "Get my next task"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A contractor attempts a task once: any version, any kind. The database enforces it.
            models.UniqueConstraint(fields=["contractor", "task"], name="assignment_once_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.task} for {self.contractor}"
