"""Staff triage of task problems (board, flag page, bulk actions, flags.csv), and raising flags: by API and
from a session's replay, at the moment it shows."""

from __future__ import annotations

import json
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from baselining.services.flags import FlagError, FlagNotAllowed, flag_raise, flag_transition, flags_bulk
from baselining.views_stats import export_download
from config.http import posted_id, posted_ids, posted_uuid, seconds
from config.permissions import acting_user, staff_required
from config.text import sentence
from tasks.models import Flag, FlagCategory, FlagSeverity, FlagStatus, TaskVersion
from terminal.models import TerminalSession
from terminal.views import replay_start

FILTERS = ("status", "category", "severity", "family", "task")
ERR_OFFSET = "offset is a number of seconds into the session's recording, finite and >= 0"


def _filtered(request: HttpRequest):  # type: ignore[no-untyped-def]
    qs = Flag.objects.select_related("task__family", "task_version", "raised_by", "duplicate_of", "fixed_in")
    g = request.GET
    if g.get("status"):
        qs = qs.filter(status=g["status"])
    if g.get("category"):
        qs = qs.filter(category=g["category"])
    if g.get("severity"):
        qs = qs.filter(severity=g["severity"])
    if g.get("family"):
        qs = qs.filter(task__family__name=g["family"])
    if g.get("task"):
        qs = qs.filter(task__name=g["task"])
    return qs


@staff_required
def board(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        flags = list(Flag.objects.filter(pk__in=posted_ids(request.POST.getlist("flags"))))
        done, refused = flags_bulk(
            flags=flags,
            by=acting_user(request),
            to=request.POST.get("to", ""),
            note=request.POST.get("note", ""),
        )
        messages.success(request, f"{done} flag(s) updated.")
        for why in refused:
            messages.error(request, why)
        return redirect(request.get_full_path())
    flags = _filtered(request)
    counts = dict(Flag.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return render(
        request,
        "tasks/flags.html",
        {
            "flags": flags[:500],
            "counts": [(v, label, counts.get(v, 0)) for v, label in FlagStatus.choices],
            "statuses": FlagStatus.choices,
            "categories": FlagCategory.choices,
            "severities": FlagSeverity.choices,
            "current": {k: request.GET.get(k, "") for k in FILTERS},
        },
    )


@staff_required
def flag_page(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(
        Flag.objects.select_related("task__family", "task_version", "raised_by", "duplicate_of", "fixed_in"),
        pk=flag_id,
    )
    if request.method == "POST":
        p = request.POST
        try:
            flag_transition(
                flag=flag,
                by=acting_user(request),
                to=p.get("to", ""),
                note=p.get("note", ""),
                duplicate_of=Flag.objects.filter(pk=posted_id(p.get("duplicate_of")) or 0).first(),
                fixed_in=TaskVersion.objects.filter(pk=posted_id(p.get("fixed_in")) or 0).first(),
                invalidate_old_sessions=p.get("invalidate") == "yes",
            )
            messages.success(request, "Flag updated.")
        except FlagError as exc:
            messages.error(request, sentence(str(exc)))
        return redirect("flags:flag", flag_id=flag.pk)
    return render(
        request,
        "tasks/flag.html",
        {
            "f": flag,
            "history": flag.changes.select_related("by"),
            "statuses": FlagStatus.choices,
            "versions": flag.task.versions.filter(version__gt=flag.task_version.version),
            "siblings": Flag.objects.filter(task=flag.task).exclude(pk=flag.pk),
        },
    )


@staff_required
def flags_csv(request: HttpRequest) -> HttpResponseBase:
    return export_download(request, "flags.csv")


@login_required
@require_POST
def api_raise(request: HttpRequest) -> JsonResponse:
    """POST JSON {task_version_id, category, severity, description, terminal_session_id?, offset?}."""
    try:
        doc = json.loads(request.body or b"{}")
        tv = TaskVersion.objects.get(pk=int(doc["task_version_id"]))
    except (ValueError, KeyError, TypeError, OverflowError, TaskVersion.DoesNotExist):
        return JsonResponse({"error": "give task_version_id, category, severity and description"}, status=400)
    user = acting_user(request)
    session = None
    if doc.get("terminal_session_id"):
        session_id = posted_uuid(doc["terminal_session_id"])
        session = TerminalSession.objects.filter(pk=session_id).first() if session_id else None
        if session is None or (session.user_id != user.pk and not user.is_staff):
            return JsonResponse({"error": "no such session"}, status=404)
        if session.task_version_id != tv.pk:  # a flag's replay link must show its own task
            return JsonResponse({"error": "that session is of another task version"}, status=400)
    offset = None
    if doc.get("offset") is not None:
        offset = seconds(doc["offset"])
        if offset is None:  # inf was stored, and then /api/flags/ could not write it as JSON (a 500)
            return JsonResponse({"error": ERR_OFFSET}, status=400)
    try:
        flag = flag_raise(
            task_version=tv,
            by=user,
            category=str(doc.get("category", "")),
            severity=str(doc.get("severity", "")),
            description=str(doc.get("description", "")),
            terminal_session=session,
            recording_offset=offset,
            source="api",
        )
    except FlagNotAllowed as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except (FlagError, ValueError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"id": flag.pk, "status": flag.status}, status=201)


@staff_required
@require_POST
def replay_flag(request: HttpRequest, session_id: UUID) -> HttpResponse:
    """Staff report a problem from the replay, at the current playback time."""
    s = get_object_or_404(TerminalSession.objects.select_related("task_version__task"), pk=session_id)
    try:
        offset = replay_start(request.POST.get("offset", "")) or 0.0  # the player says; never inf or nan
        flag = flag_raise(
            task_version=s.task_version,
            by=acting_user(request),
            category=request.POST.get("category", ""),
            severity=request.POST.get("severity", ""),
            description=request.POST.get("description", ""),
            terminal_session=s,
            recording_offset=offset,
            source="replay",
        )
    except (FlagError, ValueError) as exc:
        messages.error(request, sentence(str(exc)))
        return redirect("terminal:replay", session_id=s.id)
    return redirect("flags:flag", flag_id=flag.pk)
