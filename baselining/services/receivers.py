"""Signal receivers, connected in baselining/apps.py: the terminal's (the owner attached, went idle, left,
came back) move the clock; a flag fixed with invalidate_old_sessions invalidates older versions' sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from baselining import clock
from baselining.models import Assignment, BaselineSession, InvalidReason, ReviewStatus
from baselining.services.lifecycle import (
    baseline_session_auto_pause,
    baseline_session_owner_back,
    baseline_session_parked,
    baseline_session_platform_down,
    baseline_session_platform_outage,
    baseline_session_start_failed,
    baseline_session_started,
)
from terminal.models import TerminalSession


def on_terminal_live(sender: type[TerminalSession], session_id: Any, at: datetime, **kwargs: Any) -> None:
    baseline_session_started(terminal_session_id=session_id, at=at)


def on_terminal_start_failed(sender: Any, session_id: Any, reason: str, **kwargs: Any) -> None:
    baseline_session_start_failed(terminal_session_id=session_id, reason=reason)


def on_terminal_idle(sender: Any, session_id: Any, at: datetime, **kwargs: Any) -> None:
    baseline_session_auto_pause(terminal_session_id=session_id, reason=clock.PauseReason.IDLE, since=at)


def on_terminal_owner_left(sender: Any, session_id: Any, at: datetime, **kwargs: Any) -> None:
    baseline_session_auto_pause(terminal_session_id=session_id, reason=clock.PauseReason.DISCONNECT, since=at)


def on_terminal_owner_back(sender: Any, session_id: Any, at: datetime, **kwargs: Any) -> None:
    baseline_session_owner_back(terminal_session_id=session_id)


def on_terminal_platform_outage(
    sender: Any, session_id: Any, since: datetime, until: datetime, **kwargs: Any
) -> None:
    baseline_session_platform_outage(terminal_session_id=session_id, since=since, until=until)


def on_terminal_platform_down(sender: Any, session_id: Any, since: datetime, **kwargs: Any) -> None:
    baseline_session_platform_down(terminal_session_id=session_id, since=since)


def on_terminal_parked(sender: Any, session_id: Any, at: datetime, **kwargs: Any) -> None:
    baseline_session_parked(terminal_session_id=session_id, at=at)


def on_flag_fixed(sender: Any, flag: Any, **kwargs: Any) -> None:
    """Staff chose to invalidate the sessions on versions before the fix: the flag is the reason."""
    stale = BaselineSession.objects.filter(
        assignment__task=flag.task, assignment__task_version__version__lt=flag.fixed_in.version
    )
    for session in stale.select_related("assignment"):
        session.review_status = ReviewStatus.INVALID
        session.review_reason = InvalidReason.TASK_PROBLEM
        session.review_note = (
            f"flag #{flag.pk}: {flag.get_category_display()} (fixed in v{flag.fixed_in.version})"
        )
        session.reviewed_at = timezone.now()
        session.save(update_fields=["review_status", "review_reason", "review_note", "reviewed_at"])
        Assignment.objects.filter(pk=session.assignment_id).update(success=None)
