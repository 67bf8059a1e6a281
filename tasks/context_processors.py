"""Staff see new task problems at a glance: the count of open flags in the navigation."""

from typing import Any

from django.http import HttpRequest

from tasks.models import Flag, FlagStatus


def open_flags(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {}
    return {"open_flag_count": Flag.objects.filter(status=FlagStatus.OPEN).count()}
