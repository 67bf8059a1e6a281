"""System checks for settings that only make sense together."""

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def session_host_with_workers(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.REDIS_URL and not settings.SESSION_HOST_SOCKET:
        return [
            Warning(
                "REDIS_URL is set (Celery workers run in their own processes) but SESSION_HOST_SOCKET is "
                "not: workers cannot reach sandboxes that live inside the web process, so provisioning "
                "ahead of the contractor and scoring will fail.",
                hint="Run `manage.py session_host`; set SESSION_HOST_SOCKET for the web process and workers.",
                id="baselines.W001",
            )
        ]
    return []
