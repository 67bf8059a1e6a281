"""{% recording_truncated session %}: the warning staff see where a recording was cut by its size cap."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from terminal.models import TerminalSession

register = template.Library()


@register.inclusion_tag("terminal/_recording_truncated.html")
def recording_truncated(session: TerminalSession | None) -> dict[str, Any]:
    at = session.recording_truncated_at if session is not None else None
    return {
        "session": session,
        "at": at,
        "clock": _clock(at) if at is not None else "",
        "max_mb": settings.RECORDING_MAX_MB,
        "sample_kb": settings.RECORDING_SAMPLE_KB,
    }


def _clock(seconds: float) -> str:
    """12.3 -> "0:00:12"; a position in the replay as its player shows it."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
