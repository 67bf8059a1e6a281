"""The terminal's Celery jobs (autodiscovered; the schedule is CELERY_BEAT_SCHEDULE in config/settings.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="terminal.reap_sandboxes")
def reap_sandboxes() -> int:
    """Periodic: destroy sandboxes whose session has ended in the database."""
    from terminal.control import terminal_reap  # the app registry is ready only once a worker runs a job

    return len(terminal_reap())


@shared_task(name="terminal.watch_hosts")
def watch_hosts() -> list[str]:
    """Periodic: machines whose heartbeat stopped; their sessions' clocks pause (docs/deployment.md)."""
    from terminal.services import sandbox_hosts_watch

    return sandbox_hosts_watch()
