"""Task status changes, each recorded with who, when and why."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from tasks.models import Task, TaskStatus, TaskStatusChange

ERR_SAME_STATUS = "the task is already {status}"
ERR_NOT_STAFF = "only staff may change a task's status"


class StatusChangeError(Exception):
    pass


def task_set_status(*, task: Task, status: str, by: User, note: str = "") -> TaskStatusChange:
    """Move a task to a new status and append the change to its history."""
    if not getattr(by, "is_staff", False):
        raise StatusChangeError(ERR_NOT_STAFF)
    if status not in TaskStatus.values:
        raise StatusChangeError(f"unknown status {status!r}")
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.status == status:
            raise StatusChangeError(ERR_SAME_STATUS.format(status=TaskStatus(status).label))
        change = TaskStatusChange.objects.create(
            task=locked, from_status=locked.status, to_status=status, changed_by=by, note=note
        )
        locked.status = status
        locked.save(update_fields=["status"])
    task.status = status
    return change
