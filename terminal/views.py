"""Terminal pages: try a task (staff), the live terminal, ending a session, replay and the recording file."""

from __future__ import annotations

from uuid import UUID

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.http import seconds
from config.permissions import acting_user, staff_required
from config.text import sentence
from config.views import database_trouble
from sandbox import SandboxError
from tasks.family_runner import MethodFailure
from tasks.models import FlagCategory, FlagSeverity, Task, TaskVersion
from tasks.services.environment import task_intermediate_score, task_score
from terminal import control
from terminal.models import SessionPurpose, SessionStatus, TerminalSession
from terminal.selectors import attach_info, sandbox_hosts, session_list
from terminal.services import (
    TerminalSessionError,
    sandbox_host_drain,
    terminal_session_create,
    terminal_session_end,
)


@staff_required
def try_task(request: HttpRequest) -> HttpResponse:
    tasks = Task.objects.select_related("family", "latest_version").exclude(latest_version=None)
    sessions = session_list().filter(purpose=SessionPurpose.TRIAL)[:20]
    return render(request, "terminal/try.html", {"tasks": tasks, "sessions": sessions})


@staff_required
@require_POST
def try_start(request: HttpRequest, task_version_id: int) -> HttpResponse:
    tv = get_object_or_404(TaskVersion, pk=task_version_id)
    try:
        session = terminal_session_create(
            user=acting_user(request), task_version=tv, purpose=SessionPurpose.TRIAL
        )
    except TerminalSessionError as exc:  # e.g. the server is low on disk: nothing was created
        messages.error(request, sentence(str(exc)))
        return redirect("terminal:try")
    return redirect("terminal:session", session_id=session.id)


@login_required
def session_page(request: HttpRequest, session_id: UUID) -> HttpResponse:
    info = attach_info(session_id=session_id, user=request.user)
    if info is None:
        raise Http404("no such session")
    return render(
        request,
        "terminal/session.html",
        {"s": info.session, "role": info.role, "ws_path": f"/ws/terminal/{info.session.id}/"},
    )


@login_required
@require_POST
def session_end(request: HttpRequest, session_id: UUID) -> HttpResponse:
    info = attach_info(session_id=session_id, user=request.user)
    if info is None:
        raise Http404("no such session")
    if info.role != "owner" and not request.user.is_staff:
        raise PermissionDenied
    reason = f"ended by {request.user.get_username()}"
    control.end(str(info.session.id), reason)
    terminal_session_end(session_id=info.session.id, reason=reason)
    if request.user.is_staff:
        return redirect("terminal:replay", session_id=info.session.id)
    return redirect("home")


ERR_SCORE_ANSWER = "type the answer to score"
ERR_SCORE_NOT_LIVE = "the sandbox is not running: start the task again to score an answer"


@staff_required
@require_POST
def session_score(request: HttpRequest, session_id: UUID) -> HttpResponse:
    """Try a task: run the task's own scorer on an answer, in the live sandbox, as a contractor's Submit would
    (a family with intermediate scoring: its intermediate score now), and say what it gave. The session goes
    on; nothing is stored but the page's message."""
    info = attach_info(session_id=session_id, user=request.user)
    if info is None or info.role != "owner":
        raise Http404("no such session")
    s = info.session
    submission = request.POST.get("submission", "")
    sandbox = control.sandbox_for(str(s.id)) if s.status == SessionStatus.LIVE else None
    tv = s.task_version
    intermediate = "intermediate_score" in tv.family_version.methods
    try:
        if sandbox is None:
            raise ValueError(ERR_SCORE_NOT_LIVE)
        if intermediate:
            result = task_intermediate_score(sandbox=sandbox, task_version=tv)
            score, note = result.get("score"), str(result.get("message") or "")
        else:
            if len(submission.encode()) > settings.SUBMISSION_MAX_BYTES:
                raise ValueError(f"the answer is larger than {settings.SUBMISSION_MAX_BYTES} bytes")
            if not submission.strip():
                raise ValueError(ERR_SCORE_ANSWER)
            score, note = task_score(sandbox=sandbox, task_version=tv, submission=submission).score, ""
    except (ValueError, MethodFailure, SandboxError) as exc:
        messages.error(request, sentence(f"not scored: {exc}"))
        return redirect("terminal:session", session_id=s.id)
    if score is None:
        messages.info(request, "The task is scored by a person: no score here.")
    else:
        verdict = "a success" if float(score) >= tv.success_threshold else "a failure"
        what = "Intermediate score" if intermediate else "Score"
        messages.success(
            request,
            f"{what} {float(score):g}: {verdict} (the task's threshold is {tv.success_threshold:g})"
            + (f". {note}" if note else "."),
        )
    return redirect("terminal:session", session_id=s.id)


@staff_required
def sessions(request: HttpRequest) -> HttpResponse:
    context = {"sessions": session_list()[:200], "hosts": sandbox_hosts()}
    return render(request, "terminal/sessions.html", context)


@staff_required
@require_POST
def host_drain(request: HttpRequest, name: str) -> HttpResponse:
    """Drain a sandbox machine (no new sessions; its live ones run to their end), or take it back."""
    draining = request.POST.get("draining") == "1"
    if not sandbox_host_drain(name=name, draining=draining):
        raise Http404("no such sandbox host")
    messages.success(request, f"{name}: {'draining' if draining else 'taking new sessions'}.")
    return redirect("terminal:sessions")


ERR_BAD_START = "?t={t!r} is not a number of seconds from the start: playing from the start."


def replay_start(raw: str) -> float | None:
    """?t= of a replay link: seconds from the start, finite and >= 0 ("" is 0), or None if it is not.

    It is written into the page as a data attribute, where `inf` or `nan` would break the player."""
    return seconds(raw) if raw else 0.0


@staff_required
def replay(request: HttpRequest, session_id: UUID) -> HttpResponse:
    s = get_object_or_404(
        TerminalSession.objects.select_related("task_version__task__family", "user"), pk=session_id
    )
    start_at = replay_start(request.GET.get("t", ""))
    if start_at is None:
        messages.warning(request, ERR_BAD_START.format(t=request.GET["t"][:100]))
        start_at = 0.0
    return render(
        request,
        "terminal/replay.html",
        {
            "s": s,
            "start_at": start_at,
            "has_recording": s.recording_path.exists(),
            "categories": FlagCategory.choices,
            "severities": FlagSeverity.choices,
            "live": s.status == SessionStatus.LIVE,
        },
    )


@staff_required
def recording(request: HttpRequest, session_id: UUID) -> FileResponse:
    s = get_object_or_404(TerminalSession, pk=session_id)
    if not s.recording_path.exists():
        raise Http404("no recording")
    return FileResponse(
        s.recording_path.open("rb"),
        content_type="application/x-asciicast",
        filename=f"{s.id}.cast",
    )


def readyz(request: HttpRequest) -> JsonResponse:
    """For the load balancer's readiness check: 200 when the database, Redis (if the platform uses it)
    and at least one session host that takes sessions answer; else 503, with each check's answer."""
    trouble = database_trouble()
    checks = {"database": trouble or "ok"}
    ready = not trouble
    if settings.REDIS_URL:
        try:
            with redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2) as r:
                r.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"], ready = f"unreachable: {type(exc).__name__}", False
    if not settings.SESSION_HOST_SOCKET:
        checks["session_hosts"] = "embedded (in this process)"
    elif ready:
        hosts = sandbox_hosts()
        up = sum(1 for h in hosts if h.state == "up")
        checks["session_hosts"] = f"{up} taking sessions of {len(hosts)}"
        ready = up > 0
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
