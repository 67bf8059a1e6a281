"""Task families, their immutable versions, tasks and task versions, and the audit trail of task status."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

FAMILY_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*\Z", "A family name is a Python module name: letters, digits and underscores."
)
# A task name goes into URLs, file names and METR's `family/task` ids, so it holds none of '/', '%', '?',
# '#', spaces or control characters. '-', '.' and '=' are in METR's own task names (`easy_see=true`);
# the first character is never '.' (no '.' or '..') nor '-' (never read as an option).
TASK_NAME_MAX = 200
TASK_NAME_RULE = (
    f"1 to {TASK_NAME_MAX} letters, digits, '_', '-', '.' or '=', starting with a letter, digit or '_'"
)
TASK_NAME_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9_.=-]{{0,{TASK_NAME_MAX - 1}}}\Z"
TASK_NAME_VALIDATOR = RegexValidator(TASK_NAME_PATTERN, f"A task name is {TASK_NAME_RULE}.")
STANDARD_VERSION_MAX = 20


class TaskFamily(models.Model):
    name = models.CharField(max_length=200, unique=True, validators=[FAMILY_NAME_VALIDATOR])
    # Who wrote it: never assigned to baseline or QA their own family.
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="authored_families")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "task families"

    def __str__(self) -> str:
        return self.name


class FamilyVersion(models.Model):
    """One imported state of a family's files. Never edited: changed content makes a new version."""

    family = models.ForeignKey(TaskFamily, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    content_digest = models.CharField(max_length=64)
    standard_version = models.CharField(max_length=STANDARD_VERSION_MAX, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    methods = models.JSONField(default=list, blank=True)  # optional TaskFamily methods it defines
    required_environment_variables = models.JSONField(default=list, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["family__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["family", "version"], name="family_version_unique"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="family_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.family.name} v{self.version}"

    @property
    def snapshot_dir(self) -> Path:
        """The immutable, content-addressed copy of this version's files."""
        return Path(settings.FAMILY_STORE) / self.content_digest / self.family.name


class TaskStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QA = "qa", "In QA"
    READY = "ready", "Ready"
    ON_HOLD = "on_hold", "On hold"
    RETIRED = "retired", "Retired"


class ScoringMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    MANUAL = "manual", "Manual"
    INTERMEDIATE = "intermediate", "Intermediate"


class Task(models.Model):
    family = models.ForeignKey(TaskFamily, on_delete=models.PROTECT, related_name="tasks")
    name = models.CharField(max_length=TASK_NAME_MAX, validators=[TASK_NAME_VALIDATOR])
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.DRAFT)
    target_baselines = models.PositiveIntegerField(default=3, help_text="Successful baselines wanted.")
    latest_version = models.ForeignKey(
        "TaskVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["family__name", "name"]
        constraints = [models.UniqueConstraint(fields=["family", "name"], name="task_unique_in_family")]

    def __str__(self) -> str:
        return self.task_id

    @property
    def task_id(self) -> str:
        return f"{self.family.name}/{self.name}"


class TaskVersion(models.Model):
    """A task as one family version defines it. The task data is private: kept for scoring only."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="versions")
    family_version = models.ForeignKey(FamilyVersion, on_delete=models.PROTECT, related_name="task_versions")
    version = models.PositiveIntegerField()
    instructions = models.TextField()
    permissions = models.JSONField(default=list, blank=True)
    resources = models.JSONField(default=dict, blank=True)
    scoring_mode = models.CharField(max_length=12, choices=ScoringMode.choices)
    success_threshold = models.FloatField(default=1.0)
    rubric = models.TextField(blank=True, help_text="Manual-scoring instructions from manifest.yaml.")
    expertise = models.JSONField(default=list, blank=True)
    estimate_minutes = models.FloatField(null=True, blank=True, help_text="Staff estimate of human time.")
    needs = models.JSONField(default=list, blank=True)  # what a backend must provide to run it
    meta = models.JSONField(default=dict, blank=True)
    task_data = models.JSONField(default=dict, blank=True)  # get_tasks()[name]: never shown to contractors
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["task", "version"], name="task_version_unique"),
            models.CheckConstraint(
                condition=models.Q(success_threshold__gt=0, success_threshold__lte=1),
                name="task_version_threshold_in_0_1",
            ),
            models.CheckConstraint(
                condition=models.Q(estimate_minutes__isnull=True) | models.Q(estimate_minutes__gt=0),
                name="task_version_estimate_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task.task_id} v{self.version}"


class TaskStatusChange(models.Model):
    """Append-only history of a task's status: who moved it, when, why."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=TaskStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=TaskStatus.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task}: {self.from_status or '-'} -> {self.to_status}"


class FlagCategory(models.TextChoices):
    ENVIRONMENT = "environment", "Environment broken"
    MISSING = "missing", "File or resource missing"
    INTERNET = "internet", "Needs internet"
    UNCLEAR = "unclear", "Instructions unclear or underspecified"
    FALSE_POSITIVE = "false_positive", "Scorer accepts a wrong answer"
    FALSE_NEGATIVE = "false_negative", "Scorer rejects a right answer"
    SHORTCUT = "shortcut", "Answer can be guessed or shortcut"
    NO_ITERATION = "no_iteration", "Solvable without any iteration"
    MEMORISED = "memorised", "Solution likely memorised or public"
    ESTIMATE = "estimate", "Time estimate far off"
    OTHER = "other", "Other"


class FlagSeverity(models.TextChoices):
    BLOCKING = "blocking", "Blocking"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONFIRMED = "confirmed", "Confirmed"
    FIXED = "fixed", "Fixed"
    REJECTED = "rejected", "Rejected"
    DUPLICATE = "duplicate", "Duplicate"


ACTIVE_FLAG_STATUSES = (FlagStatus.OPEN, FlagStatus.CONFIRMED)


class Flag(models.Model):
    """A reported task problem, tied to a task version and, from a session, to a moment in its recording."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="flags")
    task_version = models.ForeignKey(TaskVersion, on_delete=models.PROTECT, related_name="flags")
    terminal_session = models.ForeignKey(
        "terminal.TerminalSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="flags"
    )
    recording_offset = models.FloatField(null=True, blank=True)  # seconds into the session's recording
    source = models.CharField(max_length=10, default="page")  # session, survey, replay, api, page
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flags")
    category = models.CharField(max_length=16, choices=FlagCategory.choices)
    severity = models.CharField(max_length=10, choices=FlagSeverity.choices)
    description = models.TextField()
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    resolution_note = models.TextField(blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fixed_in = models.ForeignKey(
        TaskVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="fixes"
    )
    invalidate_old_sessions = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="duplicate") | models.Q(duplicate_of__isnull=False),
                name="flag_duplicate_has_original",
            ),
            models.CheckConstraint(
                condition=models.Q(recording_offset__isnull=True) | models.Q(recording_offset__gte=0),
                name="flag_offset_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.task}: {self.get_category_display()} ({self.severity})"


class FlagChange(models.Model):
    """The history of every change to a flag: who, when, from what to what, and why."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="changes")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.flag_id}: {self.from_status or '-'} -> {self.to_status}"


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """An uploaded suite imported by a worker (which may build images): its progress, output and result."""

    source = models.CharField(max_length=300)  # the uploaded file's name
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED)
    output = models.TextField(blank=True)  # image builds and the sandbox's words, as they come
    report = models.JSONField(default=list, blank=True)  # the import report's lines
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import of {self.source} ({self.status})"

    @property
    def workdir(self) -> Path:
        return Path(settings.DATA_DIR) / "imports" / str(self.pk)
