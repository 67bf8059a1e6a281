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
    PARKED = "parked", "Parked"  # paused long: its files kept in a snapshot, its sandbox gone until resumed
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"


class SandboxHost(models.Model):
    """A machine's session host, as it registered itself (`manage.py session_host`): where the web side
    reaches it, what it runs, how much it takes, and whether it is alive (its heartbeat)."""

    name = models.CharField(max_length=100, unique=True)
    address = models.CharField(max_length=300)  # "HOST:PORT" (TCP) or a Unix socket's path
    backend = models.CharField(max_length=20)
    capacity = models.PositiveIntegerField()  # live sessions it takes at most
    cpus = models.PositiveIntegerField(default=0)
    memory_mb = models.PositiveIntegerField(default=0)
    live_sessions = models.PositiveIntegerField(default=0)  # as of the last heartbeat
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    draining = models.BooleanField(default=False)  # no new sessions; its live ones run to their end
    # Set by the watcher when the heartbeat stopped (its sessions were paused), cleared by the next heartbeat.
    down_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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
    # The machine whose session host runs it (placed when it first opens); none: the default one.
    host = models.ForeignKey(
        SandboxHost, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    parked_image = models.CharField(max_length=100, blank=True)  # the snapshot while parked
    # Each time its sandbox could not start: [{"at": ISO time, "reason": ..., "host": machine}] (staff see
    # them; the owner may try again, terminal_session_retry).
    start_failures = models.JSONField(default=list, blank=True)

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
