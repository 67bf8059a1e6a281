"""The Celery application; with no REDIS_URL tasks run in-process (eager). Every job is timed and counted
by task and state (config/metrics.py), and the worker serves its metrics, with the broker's queue depth,
on WORKER_METRICS_PORT."""

import inspect
import os
import time
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("baselining")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_started: dict[str, float] = {}


@signals.task_prerun.connect
def _job_begins(task_id: str = "", task: Any = None, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    from config.logs import about_session  # noqa: PLC0415  (settings are loaded by the time a job runs)

    _started[task_id] = time.perf_counter()
    # the job's arguments by name: only a job about a session (a `session_id` parameter) names one
    named = dict(zip(inspect.signature(task.run).parameters, args or (), strict=False)) if task else {}
    about_session(named.get("session_id", (kwargs or {}).get("session_id", "")))


@signals.task_postrun.connect
def _job_ends(task_id: str = "", task: Any = None, state: str = "", **_: Any) -> None:
    from config.metrics import JOB_SECONDS, JOBS  # noqa: PLC0415

    started = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    if started is not None:
        JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
    JOBS.labels(name, state or "UNKNOWN").inc()


@signals.worker_init.connect
def _serve_metrics(**_: Any) -> None:
    from django.conf import settings  # noqa: PLC0415

    from config.metrics import QueueDepth, serve  # noqa: PLC0415

    serve(settings.WORKER_METRICS_PORT, QueueDepth(app))
