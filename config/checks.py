"""System checks for settings that only make sense together."""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility)  # (tagged: the session host runs its checks by tag)
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


@register(Tags.security, deploy=True)
def demo_mode_off(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """`check --deploy` fails on a production configuration that would create users with known passwords."""
    if settings.DEMO_MODE:
        return [
            Warning(
                "DEMO is on: `manage.py demo_setup` creates staff/staff, alice/alice and bob/bob.",
                hint="Unset DEMO in production (docs/deployment.md).",
                id="baselines.W002",
            )
        ]
    return []
