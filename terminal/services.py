"""Writes for terminal sessions: create, go live, end. Called by views and by terminal/control.py's hooks
(the host's events); nothing here reaches the session host."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from tasks.models import TaskVersion
from terminal import signals
from terminal.models import SandboxHost, SessionPurpose, SessionStatus, TerminalSession

log = logging.getLogger(__name__)
OPEN_STATUSES = (SessionStatus.NEW, SessionStatus.LIVE)

ERR_NOT_STAFF = "only staff may open trial sessions"
ERR_DISK_LOW = (
    "the server is low on disk space, so no new session can start now; please try again later "
    "(staff: see MIN_FREE_DISK_MB in docs/deployment.md)"
)


class TerminalSessionError(Exception):
    """A terminal session may not be created (the message says why, for the user)."""


class TryLaterError(TerminalSessionError):
    """A new session cannot start now, but may in a while (nothing was started; it stays new)."""


class DiskSpaceError(TryLaterError):
    """Too little free disk for a new session (nothing was created)."""


def terminal_disk_check() -> None:
    """DiskSpaceError(ERR_DISK_LOW) while the data, recordings or sandbox file system has less free space
    than MIN_FREE_DISK_MB: a session records to disk and its sandbox (bubblewrap) copies files there."""
    need = settings.MIN_FREE_DISK_MB * 1024 * 1024
    seen: set[int] = set()
    for configured in (settings.DATA_DIR, settings.RECORDINGS_DIR, settings.SANDBOX_DIR):
        path = Path(configured)
        while not path.exists() and path != path.parent:
            path = path.parent  # not created yet: it will be on its nearest existing parent's file system
        device = os.stat(path).st_dev
        if device in seen:
            continue
        seen.add(device)
        free = shutil.disk_usage(path).free
        if free < need:
            log.error(
                "refusing new sessions: %s has %d MiB free, MIN_FREE_DISK_MB is %d",
                path,
                free // 2**20,
                settings.MIN_FREE_DISK_MB,
            )
            raise DiskSpaceError(ERR_DISK_LOW)


def terminal_session_create(*, user: User, task_version: TaskVersion, purpose: str) -> TerminalSession:
    """A new session (its sandbox starts when its owner attaches, or a job prepares it).

    TerminalSessionError if the user may not, DiskSpaceError if the server is low on disk."""
    if purpose == SessionPurpose.TRIAL and not user.is_staff:
        raise TerminalSessionError(ERR_NOT_STAFF)
    terminal_disk_check()
    session = TerminalSession(user=user, task_version=task_version, purpose=purpose)
    session.full_clean()
    session.save()
    return session


def terminal_session_mark_live(*, session_id: Any, fingerprint: dict[str, Any]) -> None:
    """The sandbox is up and the shell runs: record when, and what environment it was."""
    with transaction.atomic():
        s = TerminalSession.objects.select_for_update().filter(pk=session_id).first()
        if s is None:  # removed meanwhile (a warm start cooled while it was starting): the reaper ends it
            return
        if s.status == SessionStatus.NEW:
            s.status = SessionStatus.LIVE
            s.started_at = timezone.now()
            s.fingerprint = fingerprint
            s.save(update_fields=["status", "started_at", "fingerprint"])
        elif s.status == SessionStatus.PARKED:  # restored from its snapshot
            s.status = SessionStatus.LIVE
            s.parked_image = ""
            s.save(update_fields=["status", "parked_image"])


def terminal_session_park(*, session_id: Any, image: str) -> None:
    """The session was parked: its sandbox is gone, its files are in `image` until it is resumed."""
    with transaction.atomic():
        updated = TerminalSession.objects.filter(pk=session_id, status=SessionStatus.LIVE).update(
            status=SessionStatus.PARKED, parked_image=image
        )
        if updated:
            at = timezone.now()
            transaction.on_commit(
                lambda: signals.session_parked.send(sender=TerminalSession, session_id=session_id, at=at)
            )


def terminal_session_recording_truncated(*, session_id: Any, at: float) -> None:
    """The recording reached its size cap `at` seconds in (the session goes on): staff are warned on the
    replay and review pages. The first report wins."""
    TerminalSession.objects.filter(pk=session_id, recording_truncated_at__isnull=True).update(
        recording_truncated_at=at
    )


def terminal_session_end(*, session_id: Any, reason: str, failed: bool = False) -> None:
    """Idempotent: the first end wins and keeps its reason. A new session that fails could not start: the
    failure is kept in start_failures (signal session_start_failed), and its owner may try again."""
    with transaction.atomic():
        s = TerminalSession.objects.select_for_update().filter(pk=session_id).first()
        if s is None or s.status in (SessionStatus.ENDED, SessionStatus.FAILED):
            return
        fields = ["status", "ended_at", "end_reason"]
        if failed and s.status == SessionStatus.NEW:
            host = settings.SESSION_HOST_NAME  # the one machine, unless the session was placed
            if s.host_id is not None:
                host = SandboxHost.objects.filter(pk=s.host_id).values_list("name", flat=True).first() or host
            s.start_failures = [
                *s.start_failures,
                {"at": timezone.now().isoformat(), "reason": reason, "host": host},
            ]
            fields.append("start_failures")
            transaction.on_commit(
                lambda: signals.session_start_failed.send(
                    sender=TerminalSession, session_id=s.pk, reason=reason
                )
            )
        s.status = SessionStatus.FAILED if failed else SessionStatus.ENDED
        s.ended_at = timezone.now()
        s.end_reason = reason[:300]
        s.save(update_fields=fields)


def terminal_session_discard(*, session_id: Any) -> Path | None:
    """Remove a session nobody worked in (a sandbox prepared ahead that no one took): its row goes; its
    recording's path is returned for the caller to delete once its sandbox is ended. None if it is gone."""
    s = TerminalSession.objects.filter(pk=session_id).first()
    if s is None:
        return None
    path = s.recording_path
    s.delete()
    return path


def terminal_session_retry(*, session_id: Any) -> bool:
    """A session whose sandbox could not start is new again (its machine chosen afresh; its failures kept).
    False if it is not such a session (it ran, or it did not fail)."""
    return bool(
        TerminalSession.objects.filter(
            pk=session_id, status=SessionStatus.FAILED, started_at__isnull=True
        ).update(status=SessionStatus.NEW, ended_at=None, end_reason="", host=None)
    )


# --- Sandbox machines: registration, heartbeat, placement, draining, outages ------------------------------

ERR_NO_ROOM = (
    "no sandbox machine has room for a new session right now; please try again in a few minutes "
    "(staff: see the Sandbox hosts page)"
)


class NoRoomError(TryLaterError):
    """No live, undrained machine whose backend runs the task has room (nothing was started)."""


def sandbox_host_register(
    *, name: str, address: str, backend: str, capacity: int, cpus: int, memory_mb: int
) -> SandboxHost:
    """A session host that starts says where it is and what it takes (a new start keeps `draining`)."""
    now = timezone.now()
    host, _ = SandboxHost.objects.update_or_create(
        name=name,
        defaults={
            "address": address,
            "backend": backend,
            "capacity": capacity,
            "cpus": cpus,
            "memory_mb": memory_mb,
            "started_at": now,
            "heartbeat_at": now,
            "down_since": None,
        },
    )
    return host


def sandbox_host_heartbeat(*, name: str, live_sessions: int) -> None:
    SandboxHost.objects.filter(name=name).update(
        heartbeat_at=timezone.now(), live_sessions=live_sessions, down_since=None
    )


def sandbox_host_drain(*, name: str, draining: bool = True) -> bool:
    """Drain a machine (no new sessions; its live ones run to their end), or take it back. False: unknown."""
    return bool(SandboxHost.objects.filter(name=name).update(draining=draining))


def terminal_session_place(*, session: TerminalSession, provides: Any) -> SandboxHost | None:
    """Choose the machine a new session runs on, once: alive (a fresh heartbeat), not draining, its backend
    able to run the task (`provides(backend)` holds every need the task records), with room; the least
    loaded first. None while no machine is registered: the one session host of SESSION_HOST_SOCKET.
    NoRoomError when machines are registered but none can take it."""
    if session.host_id is not None:
        return session.host
    if not SandboxHost.objects.exists():
        return None
    fresh = timezone.now() - timedelta(seconds=settings.HOST_DOWN_AFTER)
    needs = {n for n in session.task_version.needs if not n.startswith("env:")}
    with transaction.atomic():
        # The candidates are locked (two placements at once do not both take a last place); their loads
        # are counted apart (PostgreSQL allows no FOR UPDATE with GROUP BY).
        hosts = list(SandboxHost.objects.select_for_update().filter(heartbeat_at__gte=fresh, draining=False))
        loads = dict(
            TerminalSession.objects.filter(host__in=hosts, status__in=OPEN_STATUSES)
            .values_list("host")
            .annotate(n=Count("pk"))
        )
        fits = [h for h in hosts if loads.get(h.pk, 0) < h.capacity and needs <= set(provides(h.backend))]
        if not fits:
            raise NoRoomError(ERR_NO_ROOM)
        host = min(fits, key=lambda h: (loads.get(h.pk, 0) / max(h.capacity, 1), loads.get(h.pk, 0), h.name))
        TerminalSession.objects.filter(pk=session.pk, host__isnull=True).update(host=host)
    session.refresh_from_db(fields=["host"])
    return session.host


def sandbox_hosts_watch() -> list[str]:
    """Periodic: a machine whose heartbeat stopped (HOST_DOWN_AFTER) is down; each of its live sessions
    is reported once (signal session_platform_down, since the last heartbeat), not ended: its keepers
    may well be alive, and a session host that comes back adopts them. Returns the names found down."""
    stale = timezone.now() - timedelta(seconds=settings.HOST_DOWN_AFTER)
    down = []
    for host in SandboxHost.objects.filter(heartbeat_at__lt=stale, down_since__isnull=True):
        if not SandboxHost.objects.filter(pk=host.pk, down_since__isnull=True).update(
            down_since=host.heartbeat_at
        ):
            continue  # another watcher took it
        down.append(host.name)
        log.error("sandbox host %s is down (no heartbeat since %s)", host.name, host.heartbeat_at)
        for sid in host.sessions.filter(status=SessionStatus.LIVE).values_list("pk", flat=True):
            since = host.heartbeat_at
            signals.session_platform_down.send(sender=TerminalSession, session_id=sid, since=since)
    return down
