"""Staff pages of the task suite: the catalogue, a task's page, importing families."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.permissions import acting_user, staff_required
from tasks import selectors
from tasks.forms import StatusForm, UploadForm
from tasks.models import Task, TaskStatus
from tasks.services.importer import TaskImportError, tasks_import
from tasks.services.status import StatusChangeError, task_set_status
from tasks.services.upload import extract_archive
from terminal.sandbox import get_backend


@staff_required
def catalogue(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = selectors.TaskFilters(
        family=g.get("family", ""),
        status=g.get("status", ""),
        expertise=g.get("expertise", ""),
        needs=g.get("needs", ""),
        q=g.get("q", "").strip(),
    )
    tasks = list(selectors.task_list(filters))
    return render(
        request,
        "tasks/catalogue.html",
        {
            "tasks": tasks,
            "filters": filters,
            "choices": selectors.task_filter_choices(),
            "statuses": TaskStatus.choices,
            "backend": get_backend(),
        },
    )


@staff_required
def task_page(request: HttpRequest, family: str, name: str) -> HttpResponse:
    try:
        task = selectors.task_detail(family=family, name=name)
    except Task.DoesNotExist as exc:
        raise Http404("no such task") from exc
    backend = get_backend()
    tv = task.latest_version
    missing = [n for n in (tv.needs if tv else []) if n not in backend.provides]
    return render(
        request,
        "tasks/detail.html",
        {
            "task": task,
            "tv": tv,
            "versions": task.versions.all(),
            "history": task.status_changes.all(),
            "status_form": StatusForm(initial={"status": task.status}),
            "backend": backend,
            "missing": missing,
        },
    )


@staff_required
@require_POST
def change_status(request: HttpRequest, family: str, name: str) -> HttpResponse:
    task = Task.objects.filter(family__name=family, name=name).first()
    if task is None:
        raise Http404("no such task")
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            task_set_status(
                task=task,
                status=form.cleaned_data["status"],
                by=acting_user(request),
                note=form.cleaned_data["note"],
            )
            messages.success(request, f"{task.task_id} is now {task.get_status_display()}.")
        except StatusChangeError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Choose a valid status.")
    return redirect("tasks:detail", family=family, name=name)


@staff_required
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
            try:
                extract_archive(
                    form.cleaned_data["archive"], Path(tmp), max_bytes=settings.TASK_UPLOAD_MAX_BYTES
                )
                report = tasks_import(path=Path(tmp), by=acting_user(request))
            except TaskImportError as exc:
                messages.error(request, f"Nothing was imported. {exc}")
        if report is not None:
            for line in report.lines():
                messages.success(request, line)
            return redirect("tasks:catalogue")
    return render(request, "tasks/upload.html", {"form": form})
