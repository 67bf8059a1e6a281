"""Applying to be a contractor, invitations, and the staff vetting queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from baselining.models import AssignmentKind, ContractorProfile, ContractorStatus, Invitation
from baselining.selectors import expertise_areas
from baselining.services import AssignmentError, assignment_assign
from baselining.services.contractors import (
    EXPERTISE_AREAS,
    ContractorError,
    contractor_apply,
    contractor_require_vetting_task,
    contractor_set_status,
    contractor_vet,
    expertise_from_rows,
    invitation_create,
    parse_expertise,
)
from config.http import posted_ids
from config.permissions import acting_user, staff_required
from config.text import sentence
from tasks.models import Task

EXPERTISE_ROWS = 3  # areas chosen from the list; then one "other area" typed in


def apply(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("invite", "") or request.POST.get("invite", "")
    invitation = Invitation.objects.filter(token=token, used_by__isnull=True).first() if token else None
    values: dict[str, str] = {}
    if request.method == "POST":
        p = request.POST
        values = {k: str(v) for k, v in p.items() if k not in ("password", "csrfmiddlewaretoken")}
        try:
            if "area_1" in p:  # the form: areas from the list with their years, and one typed in
                rows = [
                    (p.get(f"area_{i}", ""), p.get(f"years_{i}", "")) for i in range(1, EXPERTISE_ROWS + 1)
                ]
                expertise = expertise_from_rows([*rows, (p.get("area_other", ""), p.get("years_other", ""))])
            else:  # "area: years" per line, as scripts and older forms send it
                expertise = parse_expertise(p.get("expertise", ""))
            profile = contractor_apply(
                username=p.get("username", "").strip(),
                password=p.get("password", ""),
                email=p.get("email", "").strip(),
                expertise=expertise,
                background=p.get("background", ""),
                availability=p.get("availability", ""),
                invitation_token=token,
            )
        except ContractorError as exc:
            messages.error(request, sentence(str(exc)))
        else:
            login(request, profile.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, APPLIED_ACTIVE if profile.status == ContractorStatus.ACTIVE else APPLIED
            )
            return redirect("baselining:work")
    return render(
        request,
        "baselining/apply.html",
        {
            "invite": token,
            "invitation": invitation,
            "values": values,
            "areas": expertise_areas(EXPERTISE_AREAS),
            "rows": [
                (i, values.get(f"area_{i}", ""), values.get(f"years_{i}", ""))
                for i in range(1, EXPERTISE_ROWS + 1)
            ],
        },
        status=400 if request.method == "POST" else 200,
    )


APPLIED = (
    "Thank you: your application is in. Staff review every application and may ask you to do a short "
    "vetting task first; once yours is approved, this page offers you tasks. Log in at any time to see "
    "where it stands."
)
APPLIED_ACTIVE = (
    "Welcome: your invitation made your account active. Accept the rules below, then get your first task."
)


@staff_required
def vetting(request: HttpRequest) -> HttpResponse:
    applicants = ContractorProfile.objects.filter(status=ContractorStatus.APPLICANT).select_related("user")
    others = ContractorProfile.objects.exclude(status=ContractorStatus.APPLICANT).select_related(
        "user", "vetted_by"
    )
    invitations = Invitation.objects.select_related("used_by").order_by("-created_at")[:20]
    return render(
        request,
        "baselining/vetting.html",
        {
            "applicants": applicants,
            "others": others,
            "invitations": invitations,
            "statuses": ContractorStatus.choices,
            "base": request.build_absolute_uri("/apply/"),
        },
    )


@staff_required
@require_POST
def vet(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(ContractorProfile, pk=profile_id)
    action = request.POST.get("action", "")
    try:
        if action in ("approve", "reject"):
            contractor_vet(
                profile=profile,
                by=acting_user(request),
                approve=action == "approve",
                note=request.POST.get("note", ""),
            )
        elif action in ContractorStatus.values:
            contractor_set_status(
                profile=profile, by=acting_user(request), status=action, note=request.POST.get("note", "")
            )
        elif action in ("require-task", "task-passed", "task-failed"):
            outcome = {"require-task": "", "task-passed": "passed", "task-failed": "failed"}[action]
            contractor_require_vetting_task(profile=profile, by=acting_user(request), outcome=outcome)
        messages.success(request, f"{profile.user}: done.")
    except ContractorError as exc:
        messages.error(request, sentence(str(exc)))
    return redirect("baselining:vetting")


@staff_required
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    try:
        inv = invitation_create(by=acting_user(request), note=request.POST.get("note", ""))
    except ContractorError as exc:
        messages.error(request, sentence(str(exc)))
    else:
        messages.success(
            request, f"Invitation link: {request.build_absolute_uri('/apply/')}?invite={inv.token}"
        )
    return redirect("baselining:vetting")


@staff_required
def assign(request: HttpRequest) -> HttpResponse:
    """Manual and bulk assignment: any contractors x any tasks, under the eligibility rules."""
    contractors = (
        get_user_model().objects.filter(contractor__status=ContractorStatus.ACTIVE).order_by("username")
    )
    tasks = (
        Task.objects.select_related("family").exclude(latest_version=None).order_by("family__name", "name")
    )
    if request.method == "POST":
        kind = request.POST.get("kind", AssignmentKind.BASELINE)
        try:
            made, refused = assignment_assign(
                by=acting_user(request),
                contractors=list(contractors.filter(pk__in=posted_ids(request.POST.getlist("contractors")))),
                tasks=list(tasks.filter(pk__in=posted_ids(request.POST.getlist("tasks")))),
                kind=kind if kind in AssignmentKind.values else AssignmentKind.BASELINE,
            )
        except AssignmentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{len(made)} assignment(s) made.")
            for why in refused:
                messages.error(request, why)
        return redirect("baselining:assign")
    return render(request, "baselining/assign.html", {"contractors": contractors, "tasks": tasks})
