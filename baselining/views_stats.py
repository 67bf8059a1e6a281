"""Staff pages for human-time statistics: the suite dashboard and the exports."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse

from baselining.exports import (
    DOWNLOADS,
    INSPECT_ZIP,
    contractors_frame,
    export_lines,
    load_frames,
    suite_statistics,
)
from baselining.forms import ExportFilterForm
from baselining.plots import ESTIMATE_LABELS, dashboard_plots, speed_by_experience
from baselining.selectors import ExportFilters
from baselining.statistics import ESTIMATE_INTERVALS, family_table, second_opinion, unsettled_tasks
from config.http import bad_request
from config.permissions import staff_required
from config.streaming import download

# Plain-text 400s (config.http): they quote the request's own values.
ERR_UNKNOWN_EXPORT = "unknown export {name!r}: one of {names}"
ERR_BAD_FILTER = "bad filter: {errors}"


def _errors(form: ExportFilterForm) -> str:
    return "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in form.errors.items())


@staff_required
def export_download(request: HttpRequest, name: str) -> HttpResponseBase:
    if name not in DOWNLOADS:
        return bad_request(ERR_UNKNOWN_EXPORT.format(name=name, names=", ".join(DOWNLOADS)))
    form = ExportFilterForm(request.GET)
    if not form.is_valid():
        return bad_request(ERR_BAD_FILTER.format(errors=_errors(form)))
    base_url = request.build_absolute_uri("/").rstrip("/")
    if name == INSPECT_ZIP:
        from baselining.inspect_export import inspect_zip_response  # noqa: PLC0415  (inspect_ai: exports.py)

        return inspect_zip_response(form.filters(), base_url)
    return download(export_lines(name, form.filters(), base_url), name)


@staff_required
def exports(request: HttpRequest) -> HttpResponse:
    form = ExportFilterForm(request.GET or None)
    query = request.GET.urlencode() if form.is_bound and form.is_valid() else ""
    links = [
        (name, reverse("stats:export", args=[name]) + (f"?{query}" if query else "")) for name in DOWNLOADS
    ]
    return render(request, "baselining/exports.html", {"form": form, "links": links})


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ExportFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else ExportFilters()
    tasks, attempts = load_frames(filters)
    stats = suite_statistics(filters, (tasks, attempts))
    coverage = stats["human_source"].fillna("none").value_counts()
    estimate = settings.BASELINE_ESTIMATE
    # the tasks table's second column: the chosen estimate, or its second opinion when the chosen one is
    # the geometric mean (which has a column of its own)
    column = estimate if estimate != "gmean" else second_opinion(estimate)
    chosen = ESTIMATE_INTERVALS[column]
    contractors = contractors_frame(filters, (tasks, attempts), stats)
    context = {
        "form": form,
        "n_tasks": len(stats),
        "n_attempts": int(stats["attempts"].sum()),
        "n_invalid": int(stats["invalid_excluded"].sum()),
        "coverage": [(s, int(coverage.get(s, 0))) for s in ("baseline", "qa", "estimate", "none")],
        "plots": {**dashboard_plots(stats, attempts, estimate), "speed": speed_by_experience(contractors)},
        "estimate": ESTIMATE_LABELS[estimate],
        "column_estimate": ESTIMATE_LABELS[column],
        "second_opinion": ESTIMATE_LABELS[second_opinion(estimate)],
        "disagree_factor": settings.ESTIMATES_DISAGREE_FACTOR,
        "unsettled": unsettled_tasks(stats, estimate, settings.ESTIMATES_DISAGREE_FACTOR).to_dict("records"),
        "families": family_table(stats).to_dict("records"),
        "contractors": contractors.to_dict("records"),
        "tasks": stats.assign(
            chosen_minutes=stats[chosen[0]], chosen_low=stats[chosen[1]], chosen_high=stats[chosen[2]]
        )
        .sort_values("human_minutes", na_position="last")
        .head(200)
        .to_dict("records"),
        "query": request.GET.urlencode(),
    }
    return render(request, "baselining/stats.html", context)
