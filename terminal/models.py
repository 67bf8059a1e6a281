"""Terminal sessions: one sandbox, one shell, one recording, owned by one user."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class SessionPurpose(models.TextChoices):
    TRIAL = "trial", "Trial (staff)"
    BASELINE = "baseline", "Baseline"
    QA = "qa", "QA run"


class SessionStatus(models.TextChoices):
    NEW = "new", "New"
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"


class TerminalSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_version = models.ForeignKey("tasks.TaskVersion", on_delete=models.PROTECT, related_name="sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="terminal_sessions"
    )
    purpose = models.CharField(max_length=10, choices=SessionPurpose.choices)
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.NEW)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    fingerprint = models.JSONField(default=dict, blank=True)  # backend, rootfs/image digest, permissions...
    # Seconds into the recording where its size cap (RECORDING_MAX_MB) cut it; only samples follow.
    recording_truncated_at = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(status__in=["ended", "failed"]),
                name="terminal_session_ended_has_status",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_version} · {self.user} · {self.id}"

    @property
    def recording_path(self) -> Path:
        return Path(settings.RECORDINGS_DIR) / f"{self.id}.cast"
