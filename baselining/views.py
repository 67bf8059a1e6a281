"""Contractor pages: my work, get my next task, the timed session, my history. Nothing of anyone else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, F, Value, When
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from baselining import clock
from baselining.models import (
    QA_QUESTIONS,
    Assignment,
    AssignmentKind,
    BaselineSession,
    ContractorProfile,
    InvalidReason,
    ReviewStatus,
    SessionState,
)
from baselining.selectors import assignment_history, open_assignments
from baselining.services import (
    RULES_VERSION,
    AssignmentError,
    assignment_claim_next,
    assignment_outlook,
    contractor_accept_rules,
)
from baselining.services.feedback import (
    baseline_session_flag,
    baseline_session_intermediate_score,
    baseline_session_qa_checklist,
    baseline_session_survey,
)
from baselining.services.flags import FlagError
from baselining.services.lifecycle import (
    SessionError,
    baseline_session_give_up,
    baseline_session_open,
    baseline_session_pause,
    baseline_session_pause_for_flag,
    baseline_session_resume,
    baseline_session_resume_after_flag,
    baseline_session_retry,
    baseline_session_submit,
    baseline_session_warm,
    clock_events,
)
from baselining.services.review import (
    baseline_session_correct_time,
    baseline_session_manual_score,
    baseline_session_review,
)
from config import limits
from config.permissions import acting_user, staff_required
from config.text import sentence
from tasks.models import FlagCategory, FlagSeverity
from tasks.selectors import blocking_flags
from terminal.services import TerminalSessionError

RULES = [
    "Do not use AI assistants of any kind (chatbots, code completion, agents).",
    "Do not share or discuss task content with anyone.",
    "Pause the clock whenever you step away.",
    "Do not search the internet for the task itself or its answer.",
]


def _own_session(request: HttpRequest, session_id: int) -> BaselineSession:
    session = (
        BaselineSession.objects.select_related(
            "assignment__task__family", "assignment__task_version__family_version", "terminal"
        )
        .filter(pk=session_id)
        .first()
    )
    if session is None or (session.assignment.contractor_id != request.user.pk and not request.user.is_staff):
        raise Http404("no such session")
    return session


@login_required
def work(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    profile = ContractorProfile.objects.filter(user=user).first()
    history = assignment_history(contractor=user)
    sessions = {s.assignment_id: s for s in BaselineSession.objects.filter(assignment__in=history)}
    rows = [(a, sessions.get(a.pk)) for a in history]
    return render(
        request,
        "baselining/work.html",
        {
            "profile": profile,
            "rules": RULES,
            "rules_ok": profile is not None and profile.rules_version == RULES_VERSION,
            "open": open_assignments(contractor=user),
            "rows": rows,
        },
    )


@login_required
@require_POST
def accept_rules(request: HttpRequest) -> HttpResponse:
    if request.POST.get("agree") == "yes":
        contractor_accept_rules(user=acting_user(request))
        messages.success(request, "Thank you. The rules you accepted are recorded with the time.")
    return redirect("baselining:work")


@login_required
@require_POST
def next_task(request: HttpRequest) -> HttpResponse:
    try:
        a = assignment_claim_next(contractor=acting_user(request))
    except AssignmentError as exc:
        messages.error(request, sentence(str(exc)))
        return redirect("baselining:work")
    return redirect("baselining:assignment", assignment_id=a.pk)


@login_required
def assignment_page(request: HttpRequest, assignment_id: int) -> HttpResponse:
    a = (
        Assignment.objects.select_related("task__family", "task_version")
        .filter(pk=assignment_id, contractor=acting_user(request))
        .first()
    )
    if a is None:
        raise Http404("no such assignment")
    if request.method == "POST":
        try:
            opened = baseline_session_open(assignment=a, user=acting_user(request))
        except (SessionError, TerminalSessionError) as exc:  # e.g. low on disk: nothing was created
            messages.error(request, sentence(str(exc)))
            return redirect("baselining:assignment", assignment_id=a.pk)
        return redirect("baselining:session", session_id=opened.pk)
    session = BaselineSession.objects.filter(assignment=a).first()
    warming = session is None and baseline_session_warm(assignment=a, user=acting_user(request))
    return render(request, "baselining/assignment.html", {"a": a, "session": session, "warming": warming})


def _clock_doc(session: BaselineSession) -> dict[str, object]:
    events = clock_events(session)
    now = timezone.now()
    return {
        "state": str(clock.state(events)),
        "label": clock.describe(events),
        "working_seconds": round(clock.working_seconds(events, now), 1),
        "session_state": session.state,
        "outcome": session.get_outcome_display() if session.outcome else "",
        "score": session.score,
    }


@login_required
def session_page(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    return render(
        request,
        "baselining/session.html",
        {
            "s": session,
            "a": session.assignment,
            "clock": _clock_doc(session),
            "ws_path": f"/ws/terminal/{session.terminal_id}/",
            "owner": session.assignment.contractor_id == request.user.pk,
            "qa_questions": QA_QUESTIONS,
            "needs_qa_checklist": session.assignment.kind == AssignmentKind.QA
            and session.state in (SessionState.ENDED, SessionState.MANUAL_SCORING)
            and not hasattr(session, "qa_checklist"),
            "categories": FlagCategory.choices,
            # the survey's: not blocking (that takes effect at once, and is confirmed on Report a problem)
            "severities": [(v, lbl) for v, lbl in FlagSeverity.choices if v != FlagSeverity.BLOCKING],
            "can_intermediate": "intermediate_score"
            in session.assignment.task_version.family_version.methods,
            "on_hold": blocking_flags(holding=True, task=session.assignment.task_id).exists(),
            # once the survey is in: is there a next task, or why not (no dead end)
            "next_task": _outlook(request, session),
        },
    )


def _outlook(request: HttpRequest, session: BaselineSession) -> dict[str, str | None] | None:
    if session.assignment.contractor_id != request.user.pk or not session.survey:
        return None
    if session.state not in (SessionState.ENDED, SessionState.MANUAL_SCORING):
        return None
    return {"unavailable": assignment_outlook(contractor=acting_user(request))}


@login_required
def session_clock(request: HttpRequest, session_id: int) -> JsonResponse:
    """The server's clock for the page to show (the client never reports time)."""
    return JsonResponse(_clock_doc(_own_session(request, session_id)))


@login_required
@require_POST
def session_action(request: HttpRequest, session_id: int, action: str) -> HttpResponse:
    session = _own_session(request, session_id)
    if session.assignment.contractor_id != request.user.pk:
        raise Http404("not your session")
    handler = SESSION_ACTIONS.get(action)
    if handler is None:
        raise Http404("no such action")
    try:
        response: HttpResponse | None = handler(request, session)
    except (SessionError, clock.ClockError, FlagError) as exc:
        if action == "flag":  # the form again, as it was typed, with what to mend
            return flag_form(request, session.pk, values=request.POST, error=sentence(str(exc)), status=400)
        messages.error(request, sentence(str(exc)))
        response = None
    return response or redirect("baselining:session", session_id=session.pk)


# The contractor's actions on their session: each parses its form and calls one service; a response it
# returns replaces the redirect back to the session page.
def _pause(request: HttpRequest, session: BaselineSession) -> None:
    baseline_session_pause(session=session)


def _resume(request: HttpRequest, session: BaselineSession) -> None:
    baseline_session_resume(session=session)


def _retry(request: HttpRequest, session: BaselineSession) -> None:
    baseline_session_retry(session=session)


def _submit(request: HttpRequest, session: BaselineSession) -> None:
    if not baseline_session_submit(session=session, submission=request.POST.get("submission", "")):
        messages.info(request, "Already submitted.")


def _give_up(request: HttpRequest, session: BaselineSession) -> None:
    baseline_session_give_up(session=session, reason=request.POST.get("reason", ""))


def _intermediate(request: HttpRequest, session: BaselineSession) -> None:
    entry = baseline_session_intermediate_score(session=session)
    messages.info(request, f"Intermediate score: {entry['score']} {entry['message'] or ''}")


def _flag_start(request: HttpRequest, session: BaselineSession) -> HttpResponse:
    baseline_session_pause_for_flag(session=session)
    return redirect("baselining:flag", session_id=session.pk)


def _flag(request: HttpRequest, session: BaselineSession) -> None:
    confirmed = request.POST.get("confirm_blocking") == "yes"
    if request.POST.get("severity") == FlagSeverity.BLOCKING and not confirmed:
        raise FlagError(ERR_CONFIRM_BLOCKING)
    flag = baseline_session_flag(
        session=session,
        category=request.POST.get("category", ""),
        severity=request.POST.get("severity", ""),
        description=request.POST.get("description", ""),
    )
    messages.success(request, f"Thank you: problem #{flag.pk} reported. Staff will look at it.")
    try:
        baseline_session_resume_after_flag(session=session)
    except (SessionError, clock.ClockError) as exc:  # the flag is in: back to the session, not to the form
        messages.error(request, sentence(str(exc)))


def _flag_cancel(request: HttpRequest, session: BaselineSession) -> None:
    baseline_session_resume_after_flag(session=session)


def _qa_checklist(request: HttpRequest, session: BaselineSession) -> None:
    answers = {key: request.POST.get(key) == "yes" for key, _, _ in QA_QUESTIONS}
    checklist = baseline_session_qa_checklist(
        session=session, answers=answers, differences=request.POST.get("differences", "")
    )
    messages.success(request, "QA checklist recorded: " + ("passed." if checklist.passed else "not passed."))


ERR_SURVEY_BLOCKING = (
    "a blocking problem takes effect at once and is confirmed as it is reported: use Report a problem, or "
    "describe it here as major"
)


def _survey(request: HttpRequest, session: BaselineSession) -> None:
    if request.POST.get("problem_severity") == FlagSeverity.BLOCKING:  # (the survey does not offer it)
        raise FlagError(ERR_SURVEY_BLOCKING)
    baseline_session_survey(session=session, answers=request.POST.dict())
    messages.success(request, "Thank you for the survey.")
    if request.POST.get("problem_description", "").strip():
        flag = baseline_session_flag(
            session=session,
            category=request.POST.get("problem_category", FlagCategory.OTHER),
            severity=request.POST.get("problem_severity", FlagSeverity.MINOR),
            description=request.POST["problem_description"],
            source="survey",
        )
        messages.success(request, f"Problem #{flag.pk} reported.")


SESSION_ACTIONS: dict[str, Callable[[HttpRequest, BaselineSession], HttpResponse | None]] = {
    "pause": _pause,
    "resume": _resume,
    "retry": _retry,
    "submit": _submit,
    "give-up": _give_up,
    "intermediate": _intermediate,
    "flag-start": _flag_start,
    "flag": _flag,
    "flag-cancel": _flag_cancel,
    "qa-checklist": _qa_checklist,
    "survey": _survey,
}


# "Report a problem": each severity in one line (none is chosen for the contractor); a blocking one must be
# confirmed, being told what it does.
SEVERITY_MEANINGS = {
    FlagSeverity.BLOCKING: "the task cannot be done as written (a file it needs is missing, the scorer "
    "rejects a right answer)",
    FlagSeverity.MAJOR: "it can be done, but the problem changes how long it takes or what counts as right",
    FlagSeverity.MINOR: "a typo, an unclear sentence, something cosmetic",
}
ERR_CONFIRM_BLOCKING = "a blocking problem takes effect at once: tick the box that says so to send it"


def _blocking_effect() -> str:
    if settings.FLAG_HOLD_ON_RAISE:
        return (
            "Yes, it is blocking: take this task off the queue for every baseliner until staff look at it "
            "(you may still finish or give up)."
        )
    return (
        "Yes, it is blocking: staff are asked to take this task off the queue "
        "(you may still finish or give up)."
    )


@login_required
def flag_form(
    request: HttpRequest, session_id: int, values: Any = None, error: str = "", status: int = 200
) -> HttpResponse:
    session = _own_session(request, session_id)
    return render(
        request,
        "baselining/flag.html",
        {
            "s": session,
            "categories": FlagCategory.choices,
            "severities": [(v, lbl, SEVERITY_MEANINGS[FlagSeverity(v)]) for v, lbl in FlagSeverity.choices],
            "blocking_effect": _blocking_effect(),
            "values": values or {},
            "error": error,
        },
        status=status,
    )


REVIEW_PAGE_SIZE = 100  # pending first, newest first


@staff_required
def review_queue(request: HttpRequest) -> HttpResponse:
    sessions = (
        BaselineSession.objects.filter(state__in=[SessionState.ENDED, SessionState.MANUAL_SCORING])
        .select_related("assignment__task__family", "assignment__contractor", "terminal")
        .annotate(reviewed=Case(When(review_status=ReviewStatus.PENDING, then=Value(0)), default=Value(1)))
        .order_by("reviewed", F("ended_at").desc(nulls_last=True), "-pk")
    )
    page = Paginator(sessions, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "baselining/review_queue.html", {"sessions": page, "page": page})


@staff_required
def review_page(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    if request.method == "POST" and request.POST.get("form") == "manual":
        try:
            baseline_session_manual_score(
                session=session,
                by=acting_user(request),
                score=float(request.POST.get("score", "nan")),
                minutes=float(request.POST["minutes"]) if request.POST.get("minutes") else None,
                notes=request.POST.get("notes", ""),
            )
            messages.success(request, "Score recorded.")
        except (SessionError, ValueError) as exc:
            messages.error(request, sentence(str(exc)))
        return redirect("baselining:review", session_id=session.pk)
    if request.method == "POST" and request.POST.get("form") == "correction":
        try:
            periods = parse_periods(request.POST.get("periods", ""), clock_events(session))
            total = baseline_session_correct_time(
                session=session,
                by=acting_user(request),
                periods=periods,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, f"Working time is now {total:.0f} s.")
        except (SessionError, ValueError, clock.ClockError) as exc:
            messages.error(request, sentence(str(exc)))
        return redirect("baselining:review", session_id=session.pk)
    if request.method == "POST":
        try:
            baseline_session_review(
                session=session,
                by=acting_user(request),
                valid=request.POST.get("verdict") == ReviewStatus.VALID,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
            )
            messages.success(request, "Review recorded.")
            return redirect("baselining:review_queue")
        except SessionError as exc:
            messages.error(request, sentence(str(exc)))
    events = clock_events(session)
    return render(
        request,
        "baselining/review.html",
        {
            "s": session,
            "a": session.assignment,
            "events": events,
            "reasons": InvalidReason.choices,
            "working": clock.working_seconds(events, session.ended_at or timezone.now()),
        },
    )


def parse_periods(text: str, events: list[clock.Event]) -> list[tuple[datetime, datetime]]:
    """'0-20, 35.5-50' (minutes after the clock started) into absolute work periods."""
    limits.check_length(text, limit=limits.CORRECTION_PERIODS, field="the list of periods")
    start = next((e.at for e in events if e.kind == clock.Kind.STARTED), None)
    if start is None:
        raise ValueError("the clock never started")
    periods = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        a, sep, b = part.partition("-")
        if not sep:
            raise ValueError(f"{part.strip()!r} is not FROM-TO in minutes")
        lo, hi = float(a), float(b)
        periods.append((start + timedelta(minutes=lo), start + timedelta(minutes=hi)))
    if not periods:
        raise ValueError("give at least one period")
    return periods
