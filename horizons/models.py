"""Agent runs (METR's run format) imported to set against the platform's human times."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class HumanTimes(models.TextChoices):
    PLATFORM = "platform", "The platform's own statistics"
    FILE = "file", "The file's human_minutes"


class Agent(models.Model):
    name = models.CharField(max_length=200, unique=True)  # METR's `alias`
    model = models.CharField(max_length=200, blank=True)
    release_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunBatch(models.Model):
    """One uploaded file of runs: stored whole or not at all."""

    source = models.CharField(max_length=300)
    human_times = models.CharField(max_length=10, choices=HumanTimes.choices, default=HumanTimes.PLATFORM)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    report = models.JSONField(default=list, blank=True)  # what was left out, and why

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"runs from {self.source}"


class AgentRun(models.Model):
    batch = models.ForeignKey(RunBatch, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs")
    run_id = models.CharField(max_length=200, blank=True)
    task = models.ForeignKey(
        "tasks.Task", null=True, blank=True, on_delete=models.PROTECT, related_name="agent_runs"
    )
    task_id_text = models.CharField(max_length=400)  # `family/name` as in the file (external tasks too)
    task_family = models.CharField(max_length=200)
    score = models.FloatField(
        null=True, blank=True
    )  # score_cont (or score): in [0, 1] unless binarized given
    score_binarized = models.PositiveSmallIntegerField(null=True, blank=True)
    human_minutes = models.FloatField(null=True, blank=True)  # the file's (used with human_times=file)
    # kept, not fitted: why the run died (METR's `fatal_error_from`; Inspect's error or limit), its
    # working and total time in seconds, and the tokens it used
    fatal_error_from = models.CharField(max_length=300, blank=True)
    working_seconds = models.FloatField(null=True, blank=True)
    total_seconds = models.FloatField(null=True, blank=True)
    tokens = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "task_id_text"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=False) | models.Q(score_binarized__isnull=False),
                name="run_has_a_score",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} on {self.task_id_text}"
