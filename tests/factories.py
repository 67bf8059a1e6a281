"""Test data that would take a whole sandboxed session to produce for real.

The QA run flow itself (assignment, session, checklist) is exercised end to end in
tests/baselining/test_qa_runs.py and the browser tests; other tests only need its result: a task that
passed QA and may be made ready by staff, through the same status service staff use.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from baselining.models import (
    QA_QUESTIONS,
    Assignment,
    AssignmentKind,
    AssignmentStatus,
    BaselineSession,
    QAChecklist,
    SessionState,
)
from tasks.models import Task, TaskStatus, TaskStatusChange
from tasks.services.status import task_set_status
from terminal.services import terminal_session_create

QA_TESTER = "qa-tester"


def passed_qa_run(task: Task) -> QAChecklist:
    """A finished QA run of the task's current version whose checklist passed."""
    tester, _ = get_user_model().objects.get_or_create(username=QA_TESTER)
    version = task.latest_version
    assert version is not None
    assignment = Assignment.objects.create(
        contractor=tester,
        task=task,
        task_version=version,
        kind=AssignmentKind.QA,
        status=AssignmentStatus.COMPLETED,
    )
    terminal = terminal_session_create(user=tester, task_version=version, purpose=AssignmentKind.QA)
    session = BaselineSession.objects.create(
        assignment=assignment, terminal=terminal, state=SessionState.ENDED
    )
    good = {key: good for key, _question, good in QA_QUESTIONS}
    return QAChecklist.objects.create(session=session, answers=good, passed=True)


def make_ready(task: Task, by: Any, note: str = "") -> TaskStatusChange:
    """Staff make the task ready after a passed QA run, as the status service requires."""
    passed_qa_run(task)
    return task_set_status(task=task, status=TaskStatus.READY, by=by, note=note)
