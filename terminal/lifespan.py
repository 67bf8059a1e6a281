"""ASGI lifespan: when the web process stops, the embedded session host ends its sessions cleanly."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.db import connections

from config.celery import app
from sandbox import SandboxError, get_backend
from terminal.control import host_with_hooks, serve_warm_starts

log = logging.getLogger(__name__)


async def lifespan(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    timers: list[asyncio.Task[None]] = []
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            serve_warm_starts(asyncio.get_running_loop())
            if not settings.SESSION_HOST_SOCKET:
                await reap_orphans()
            if settings.PERIODIC_JOBS_EMBEDDED:
                timers.append(asyncio.ensure_future(_periodic_jobs()))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            serve_warm_starts(None)
            for timer in timers:
                timer.cancel()
            if not settings.SESSION_HOST_SOCKET:
                try:
                    await host_with_hooks().shutdown()
                except Exception:
                    log.exception("ending sessions at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def reap_orphans(keep: list[str] | None = None) -> None:
    """Sandboxes an earlier run of this session host left behind when it was killed, but those in keep
    (held by live keepers)."""
    try:
        reap = sync_to_async(lambda: get_backend().reap_orphans(keep or ()), thread_sensitive=False)
        removed = await reap()
    except SandboxError as exc:
        log.warning("could not look for orphaned sandboxes: %s", exc)
        return
    if removed:
        log.warning("removed %d orphaned sandboxes: %s", len(removed), ", ".join(removed))


async def _periodic_jobs() -> None:
    """Without Redis there is no Celery beat: run CELERY_BEAT_SCHEDULE's jobs on a timer here."""
    import_task_modules()

    beat: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    schedule = [(name, float(job["schedule"]), str(job["task"])) for name, job in beat.items()]
    due = {name: 0.0 for name, _, _ in schedule}
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(5)
        for name, every, task_name in schedule:
            if loop.time() >= due[name]:
                due[name] = loop.time() + every
                try:
                    await sync_to_async(_run_job, thread_sensitive=False)(task_name)
                except Exception:
                    log.exception("periodic job %s failed", name)


def _run_job(task_name: str) -> None:
    """One periodic job, in an executor thread; its database connection is given back after it (with the
    web process's pool, a thread that kept its connection would hold it from the others for good)."""
    try:
        app.tasks[task_name].apply()
    finally:
        connections.close_all()


def import_task_modules() -> None:
    """Import every installed app's tasks.py, as a Celery worker does at start (here nothing has yet).

    (Celery's own import_default_modules() also runs Django's system checks, with database access.)
    """
    for config in apps.get_app_configs():
        try:
            importlib.import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.tasks":
                raise
