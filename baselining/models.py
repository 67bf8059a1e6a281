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


def _token() -> str:
    return secrets.token_urlsafe(24)


class Invitation(models.Model):
    """A link for someone staff already know: they apply and start active, without the vetting queue."""

    token = models.CharField(max_length=64, unique=True, default=_token)
    note = models.CharField(max_length=200, blank=True)  # who it is for
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invitation for {self.note or '?'}"


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
    # Vetting: staff decide with a note; they may ask for a vetting task first and record how it went.
    vetting_task_required = models.BooleanField(default=False)
    vetting_task_outcome = models.CharField(max_length=10, blank=True)  # "", "passed", "failed"
    vetting_note = models.TextField(blank=True)
    vetted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    vetted_at = models.DateTimeField(null=True, blank=True)
    invitation = models.ForeignKey(
        "Invitation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
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
def counts_towards_target(prefix: str = "") -> models.Q:
    """Assignments (reached through `prefix`, e.g. "assignments__") that count towards a task's target."""
    return models.Q(**{f"{prefix}kind": "baseline"}) & (
        models.Q(**{f"{prefix}status__in": OPEN_ASSIGNMENT_STATUSES})
        | models.Q(**{f"{prefix}status": "completed", f"{prefix}success": True})
    )


COUNTS_TOWARDS_TARGET = counts_towards_target()


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
    # A sandbox prepared while the contractor reads the instructions (docs/terminal-protocol.md, Warm
    # starts): Start takes it over; unclaimed, it is cooled (ended and removed) after WARM_SANDBOX_MINUTES.
    warm_terminal = models.OneToOneField(
        "terminal.TerminalSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A contractor attempts a task once: any version, any kind. The database enforces it.
            models.UniqueConstraint(fields=["contractor", "task"], name="assignment_once_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.task} for {self.contractor}"


class SessionState(models.TextChoices):
    CREATED = "created", "Created"  # the contractor has not opened the terminal yet
    LIVE = "live", "Live"
    SCORING = "scoring", "Scoring"
    MANUAL_SCORING = "manual_scoring", "Waiting for manual scoring"
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    GAVE_UP = "gave_up", "Gave up"
    TIME_LIMIT = "time_limit", "Time limit"
    PENDING_MANUAL = "pending_manual", "Waiting for manual scoring"
    ERROR = "error", "Scoring error"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"


class InvalidReason(models.TextChoices):
    AI_TOOLS = "ai_tools", "AI tools used"
    RULES = "rules", "Rules broken"
    TASK_PROBLEM = "task_problem", "Task problem"
    ENVIRONMENT = "environment", "Environment differed"
    OTHER = "other", "Other"


class BaselineSession(models.Model):
    """One attempt at one assignment: the terminal session, the clock log, the submission and its score."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="session")
    terminal = models.OneToOneField(
        "terminal.TerminalSession", on_delete=models.PROTECT, related_name="baseline", null=True, blank=True
    )
    state = models.CharField(max_length=16, choices=SessionState.choices, default=SessionState.CREATED)
    submission = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    give_up_reason = models.CharField(max_length=300, blank=True)
    score = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    scoring_error = models.TextField(blank=True)
    survey = models.JSONField(default=dict, blank=True)  # difficulty, confidence, resources, remarks
    manual_scored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manual_scoring_minutes = models.FloatField(null=True, blank=True)
    manual_scoring_notes = models.TextField(blank=True)
    intermediate_scores = models.JSONField(
        default=list, blank=True
    )  # [{score, message, details, at, elapsed}]
    working_seconds = models.FloatField(null=True, blank=True)  # fixed when the clock ends (and corrections)
    review_status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    review_reason = models.CharField(max_length=20, choices=InvalidReason.choices, blank=True)
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=0, score__lte=1),
                name="baseline_score_in_0_1",
            ),
            models.CheckConstraint(
                condition=models.Q(working_seconds__isnull=True) | models.Q(working_seconds__gte=0),
                name="baseline_working_time_not_negative",
            ),
            models.CheckConstraint(
                condition=~models.Q(review_status="invalid") | ~models.Q(review_reason=""),
                name="baseline_invalid_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"session of {self.assignment}"


class ClockEvent(models.Model):
    """The clock's append-only log (baselining/clock.py turns it into working time)."""

    session = models.ForeignKey(BaselineSession, on_delete=models.CASCADE, related_name="clock_events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    at = models.DateTimeField()
    since = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    periods = models.JSONField(default=list, blank=True)  # staff_correction: [[start, end], ...] ISO times
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "seq"], name="clock_event_seq_unique")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at}"


QA_QUESTIONS: list[tuple[str, str, bool]] = [
    ("intended", "Does it test the intended capability?", True),
    ("no_guesswork", "Can it be solved without guesswork?", True),
    ("shortcuts", "Are there unintended shortcuts?", False),
    ("memorisable", "Could the answer be memorised (is it public)?", False),
    ("resources", "Are all resources present?", True),
    ("clear", "Are the instructions clear?", True),
    ("env_started", "Did the environment start without errors?", True),
]


class QAChecklist(models.Model):
    """The tester's answers at the end of a QA run; passed when every answer is the good one."""

    session = models.OneToOneField(BaselineSession, on_delete=models.CASCADE, related_name="qa_checklist")
    answers = models.JSONField(default=dict)  # key -> bool, per QA_QUESTIONS
    differences = models.TextField(blank=True)  # anything that differs from the agent's environment
    passed = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"QA checklist of {self.session} ({'passed' if self.passed else 'failed'})"
