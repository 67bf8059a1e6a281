"""Reads for terminal sessions, including who may attach to one and how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from terminal.models import SandboxHost, TerminalSession


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
    return TerminalSession.objects.select_related("user", "task_version__task__family", "host").order_by(
        "-created_at"
    )


@dataclass(frozen=True)
class HostRow:
    host: SandboxHost
    live: int  # sessions placed there that are new or live
    state: str  # "up", "draining", "down"
    heartbeat_age: float  # seconds since its last heartbeat


def sandbox_hosts() -> list[HostRow]:
    """Every registered machine with its load and state, for staff (the Sessions page)."""
    now = timezone.now()
    down_after = settings.HOST_DOWN_AFTER
    hosts = SandboxHost.objects.annotate(
        open_sessions=Count("sessions", filter=Q(sessions__status__in=["new", "live"]))
    )
    rows = []
    for h in hosts:
        age = (now - h.heartbeat_at).total_seconds()
        state = "down" if age > down_after else "draining" if h.draining else "up"
        rows.append(HostRow(h, int(h.open_sessions), state, age))
    return rows
