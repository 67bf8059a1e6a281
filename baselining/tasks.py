"""Celery entry points of the baselining workflow: thin, named, re-fetching their row."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="baselining.score_session", acks_late=True, max_retries=0)
def score_session(session_id: int) -> str:
    """Score a submitted session inside its live sandbox and record the outcome."""
    from baselining.services.lifecycle import baseline_session_score

    session = baseline_session_score(session_id=session_id)
    return session.outcome if session is not None else "gone"


@shared_task(name="baselining.provision_session", acks_late=True, max_retries=0)
def provision_session(session_id: int) -> str:
    """Provision a session's sandbox (and run start()) before the contractor attaches."""
    from baselining.services.lifecycle import baseline_session_provision

    return baseline_session_provision(session_id=session_id)


@shared_task(name="baselining.cool_warm_sandboxes")
def cool_warm_sandboxes() -> int:
    """Periodic: sandboxes prepared ahead of a Start that did not come (in time) are ended and removed."""
    from baselining.services.lifecycle import baseline_warm_cool

    return len(baseline_warm_cool())


@shared_task(name="baselining.enforce_time_limits")
def enforce_time_limits() -> int:
    """Periodic: end sessions whose working time reached their limit."""
    from baselining.services.lifecycle import enforce_time_limits as run

    return run()


@shared_task(name="baselining.expire_reservations")
def expire_reservations() -> int:
    """Periodic: reservations not started in time go back to the pool."""
    from baselining.services.lifecycle import expire_reservations as run

    return run()


@shared_task(name="baselining.park_paused")
def park_paused() -> int:
    """Periodic: park the sandboxes of sessions paused longer than PARK_PAUSED_AFTER_HOURS."""
    from baselining.services.lifecycle import baseline_sessions_park

    return len(baseline_sessions_park())
