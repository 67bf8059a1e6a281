"""Staff pages: upload agent runs, see each agent's time horizon, the trend, and the QA signals."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from baselining.services.flags import FlagError, flag_raise
from config.permissions import acting_user, staff_required
from horizons.analysis import analyse, discrepancies, inputs_fingerprint
from horizons.fit import FitOptions
from horizons.forms import FitForm, RunsUploadForm
from horizons.inspect_logs import DEFAULT_THRESHOLD, inspect_upload, is_inspect_log, load_task_map
from horizons.models import RunBatch
from horizons.plots import agent_plot, trend_plot
from horizons.services import ImportResult, RunsImportError, UnknownTasks, release_dates_import, runs_import
from tasks.models import Task


@staff_required
def horizons(request: HttpRequest) -> HttpResponse:
    upload = RunsUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        try:
            if upload.cleaned_data["release_dates"]:
                n = release_dates_import(upload.cleaned_data["release_dates"].read())
                messages.success(request, f"Release dates set for {n} agents.")
            if upload.cleaned_data["runs"]:
                f = upload.cleaned_data["runs"]
                result = _import_upload(upload.cleaned_data, f.name, f.read(), acting_user(request))
                messages.success(request, f"{result.stored} runs imported from {f.name}.")
                try:  # fitted now (the button says so): the page after it is at once
                    fitted(default_options())
                except Exception:  # (the import stands; the page fits again, and shows what went wrong)
                    log.exception("fitting after the import of %s", f.name)
                for line in result.left_out:  # (the tasks without a time: one sentence, and a table)
                    if not LEFT_OUT_LINE.match(line):
                        messages.warning(request, line)
                if result.unknown:
                    n = sum(result.unknown.values())
                    messages.warning(
                        request,
                        f"{n} run{'s' if n != 1 else ''} on {len(result.unknown)} task"
                        f"{'s' if len(result.unknown) != 1 else ''} left out: the platform has no human time "
                        "for them (listed under the upload form).",
                    )
        except UnknownTasks as exc:  # the page again, with the tasks it does not know
            messages.error(request, f"Nothing was imported from {upload.cleaned_data['runs'].name}: {exc}.")
            return _page(request, upload, unknown=exc.unknown, status=400)
        except RunsImportError as exc:
            messages.error(request, f"Nothing was imported: {exc}")
        return redirect("horizons:index")
    return _page(request, upload)


def _import_upload(cleaned: dict[str, Any], name: str, data: bytes, by: Any) -> ImportResult:
    """METR's run file, or an Inspect log (`.eval`, or a `.json` log) with the optional task map."""
    if not is_inspect_log(name, data):
        return runs_import(data=data, name=name, human_times=cleaned["human_times"], by=by)
    task_map = load_task_map(cleaned["inspect_map"].read()) if cleaned.get("inspect_map") else None
    threshold = cleaned.get("threshold")
    return inspect_upload(
        name, data, human_times=cleaned["human_times"], task_map=task_map,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        skip_unmatched=bool(cleaned.get("skip_unmatched")), by=by,
    )  # fmt: skip


def _page(
    request: HttpRequest, upload: RunsUploadForm, unknown: dict[str, int] | None = None, status: int = 200
) -> HttpResponse:
    batches = list(RunBatch.objects.select_related("created_by")[:10])
    fit = FitForm(request.GET or None)
    data = fit.cleaned_data if fit.is_bound and fit.is_valid() else {}
    options = default_options(weighting=data.get("weighting") or "invsqrt", legacy=bool(data.get("legacy")))
    context: dict[str, object] = {
        "upload": upload,
        "fit": fit,
        "options": options,
        "batches": batches,
        # the tasks the platform has no time for: of a refused upload, else of the last one
        "unknown": sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))
        if unknown is not None
        else _left_out_of(batches[0] if batches else None),
        **fitted(options),
    }
    if "agents" in context:  # a note several agents share is said once, under the table, with their names
        context["agents"], context["shared_notes"] = _shared_notes(
            cast(list[dict[str, object]], context["agents"])
        )
    if "signals" in context:  # each signal's platform task, for the flag button (not cached: live rows)
        context["signals"] = _with_tasks([dict(r) for r in cast(list[dict[str, object]], context["signals"])])
    return render(request, "horizons/index.html", context, status=status)


LEFT_OUT_LINE = re.compile(r"^(\d+) runs? on (.+) left out: the platform has no human time for it$")


def _left_out_of(batch: RunBatch | None) -> list[tuple[str, int]]:
    """The tasks an import left out for want of a platform human time, from its stored report."""
    if batch is None:
        return []
    found = [LEFT_OUT_LINE.match(line) for line in batch.report if isinstance(line, str)]
    return [(m[2], int(m[1])) for m in found if m]


log = logging.getLogger(__name__)
FIT_CACHE_SECONDS = 24 * 3600


def default_options(weighting: str = "invsqrt", legacy: bool = False) -> FitOptions:
    return FitOptions(weighting=weighting, legacy=legacy, n_bootstrap=settings.HORIZON_BOOTSTRAP)


def fitted(options: FitOptions) -> dict[str, object]:
    """The page's fitted part (the table, the plots, the trend, the QA signals): computed once for what it
    depends on (inputs_fingerprint: the runs, the release dates, the platform's human times, the options)
    and then read from the cache, so the page does not refit thousands of runs at every load. Any new
    upload, date, baseline, review or timing correction changes the fingerprint, and so the fit."""
    key = "horizons:fit:" + hashlib.sha256(repr(options).encode()).hexdigest()  # one entry per set of options
    fingerprint = inputs_fingerprint(options)
    cached = cache.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cast(dict[str, object], cached[1])
    analysis = analyse(options)
    part: dict[str, object] = {"left_out": analysis.left_out, "n_runs": len(analysis.runs)}
    if analysis.result is not None:
        table = analysis.result.table
        part.update(
            agents=table.to_dict("records"),
            plots=[(a, agent_plot(a, analysis.runs, analysis.result)) for a in table["agent"]],
            trend=analysis.trend,
            trend_plot=trend_plot(analysis.result, analysis.dates, analysis.trend),
            signals=discrepancies(analysis).to_dict("records"),
        )
    cache.set(key, (fingerprint, part), FIT_CACHE_SECONDS)
    return part


def _shared_notes(
    agents: list[dict[str, object]],
) -> tuple[list[dict[str, object]], list[tuple[str, list[str]]]]:
    """Each agent's own notes (its `warning`, `; `-separated), and the notes two or more agents share with
    the agents that have them (each said once, not on every row)."""
    notes = {str(a["agent"]): [n for n in str(a.get("warning") or "").split("; ") if n] for a in agents}
    counts = Counter(n for own in notes.values() for n in set(own))
    shared = [n for n, c in counts.items() if c >= 2]
    rows = [
        {**a, "own_notes": "; ".join(n for n in notes[str(a["agent"])] if n not in shared)} for a in agents
    ]
    return rows, [(n, [name for name, own in notes.items() if n in own]) for n in shared]


def _with_tasks(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Attach the platform task (if any) to each signal, so staff can flag it in one click."""
    ids = {str(r["task_id"]) for r in rows}
    names = {i.partition("/")[2] for i in ids}
    candidates = Task.objects.filter(name__in=names).select_related("family")  # one query, not the suite
    tasks = {t.task_id: t for t in candidates if t.task_id in ids}
    for r in rows:
        r["task"] = tasks.get(str(r["task_id"]))
    return rows


SIGNAL_FLAG = {
    "too_easy": ("shortcut", "Agents succeed far more often than this task's human time predicts: {agents}."),
    "too_hard": ("other", "Agents fail a task its human time says is easy for them: {agents}."),
}


@staff_required
@require_POST
def flag_signal(request: HttpRequest) -> HttpResponse:
    """One click from a QA signal to an open flag on the task's current version (source "horizons")."""
    task_pk = request.POST.get("task", "")
    task = (
        Task.objects.filter(pk=int(task_pk) if task_pk.isdigit() else 0)
        .select_related("latest_version")
        .first()
    )
    kind = request.POST.get("kind", "")
    if task is None or task.latest_version is None or kind not in SIGNAL_FLAG:
        messages.error(request, "No such task or signal.")
        return redirect("horizons:index")
    category, text = SIGNAL_FLAG[kind]
    try:
        flag = flag_raise(
            task_version=task.latest_version, by=acting_user(request), category=category, severity="major",
            description=text.format(agents=request.POST.get("agents", "")[:2000]), source="horizons",
        )  # fmt: skip
    except FlagError as exc:
        messages.error(request, str(exc))
        return redirect("horizons:index")
    messages.success(request, f"Flag #{flag.pk} raised on {task.task_id}.")
    return redirect("flags:flag", flag_id=flag.pk)
