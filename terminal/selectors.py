"""Reads for terminal sessions, including who may attach to one and how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from terminal.models import TerminalSession


@dataclass(frozen=True)
class AttachInfo:
    session: TerminalSession
    role: str  # "owner" may type; "watcher" (staff) may only watch


def attach_info(*, session_id: Any, user: Any) -> AttachInfo | None:
    """The session and the user's role in it, or None if this user may not attach at all."""
    if user is None or not user.is_authenticated:
        return None
    s = (
        TerminalSession.objects.select_related(
            "task_version__task__family", "task_version__family_version__family"
        )
        .filter(pk=session_id)
        .first()
    )
    if s is None:
        return None
    if s.user_id == user.pk:
        return AttachInfo(s, "owner")
    if user.is_staff:
        return AttachInfo(s, "watcher")
    return None


def session_list() -> QuerySet[TerminalSession]:
    return TerminalSession.objects.select_related("user", "task_version__task__family").order_by(
        "-created_at"
    )
