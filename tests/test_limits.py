"""Length limits of free-text fields (config/limits.py): every service refuses an over-long text clearly,
nothing is stored, and the forms carry the same limits as `maxlength`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from baselining.models import BaselineSession, ContractorProfile, Invitation
from baselining.services.contractors import (
    ContractorError,
    contractor_apply,
    contractor_set_status,
    contractor_vet,
    expertise_from_rows,
    invitation_create,
    parse_expertise,
)
from baselining.services.feedback import baseline_session_qa_checklist, baseline_session_survey
from baselining.services.flags import FlagError, flag_raise, flag_transition
from baselining.services.lifecycle import SessionError, baseline_session_give_up
from baselining.services.review import (
    baseline_session_correct_time,
    baseline_session_manual_score,
    baseline_session_review,
)
from baselining.synthetic import generate_suite
from config import limits
from tasks.models import Flag, Task
from tasks.services.status import StatusChangeError, task_set_status
from tests.factories import passed_qa_run

pytestmark = pytest.mark.django_db
TOO_LONG = re.compile(r"is too long: at most \d+ characters \(this one has \d+\)")


@pytest.fixture
def world() -> dict[str, Any]:
    generate_suite(n_tasks=2, attempts_per_task=2, n_contractors=2, prefix="l")
    User = get_user_model()
    staff = User.objects.create_user("staffer", password="x-pass-123", is_staff=True)
    applicant = User.objects.create_user("applicant", password="x-pass-123")
    profile = ContractorProfile.objects.create(user=applicant)
    task = Task.objects.select_related("latest_version").first()
    assert task is not None
    qa = passed_qa_run(task).session
    ended = BaselineSession.objects.exclude(pk=qa.pk).select_related("assignment").first()
    return {"staff": staff, "profile": profile, "task": task, "qa": qa, "ended": ended}


def _over(limit: int) -> str:
    return "x" * (limit + 1)


APPLY: dict[str, Any] = {"username": "newbie", "password": "a-long-pass-phrase-9", "email": "n@example.org",
         "expertise": [{"area": "x", "years": 1}], "background": "", "availability": ""}  # fmt: skip


def _cases(w: dict[str, Any]) -> dict[str, tuple[Callable[[], object], type[Exception]]]:
    staff, profile, task, qa, ended = w["staff"], w["profile"], w["task"], w["qa"], w["ended"]
    tv = task.latest_version
    now = timezone.now()
    return {
        "application username": (lambda: contractor_apply(**{**APPLY, "username": _over(limits.USERNAME)}), ContractorError),
        "application e-mail": (lambda: contractor_apply(**{**APPLY, "email": _over(limits.EMAIL)}), ContractorError),
        "application password": (lambda: contractor_apply(**{**APPLY, "password": _over(limits.PASSWORD)}), ContractorError),
        "application background": (
            lambda: contractor_apply(**{**APPLY, "background": _over(limits.APPLICATION_BACKGROUND)}), ContractorError),
        "application availability": (
            lambda: contractor_apply(**{**APPLY, "availability": _over(limits.APPLICATION_AVAILABILITY)}), ContractorError),
        "application expertise": (lambda: parse_expertise(_over(limits.APPLICATION_EXPERTISE)), ContractorError),
        "application area": (lambda: expertise_from_rows([(_over(limits.APPLICATION_AREA), "3")]), ContractorError),
        "invitation note": (lambda: invitation_create(by=staff, note=_over(limits.INVITATION_NOTE)), ContractorError),
        "vetting note": (
            lambda: contractor_vet(profile=profile, by=staff, approve=True, note=_over(limits.VETTING_NOTE)), ContractorError),
        "status note": (
            lambda: contractor_set_status(profile=profile, by=staff, status="active", note=_over(limits.VETTING_NOTE)),
            ContractorError),
        "flag description": (
            lambda: flag_raise(task_version=tv, by=staff, category="other", severity="minor",
                               description=_over(limits.FLAG_DESCRIPTION)), FlagError),
        "flag triage note": (
            lambda: flag_transition(flag=flag_raise(task_version=tv, by=staff, category="other", severity="minor",
                                                    description="x"), by=staff, to="confirmed",
                                    note=_over(limits.FLAG_NOTE)), FlagError),
        "task status note": (
            lambda: task_set_status(task=task, status="retired", by=staff, note=_over(limits.STATUS_NOTE)),
            StatusChangeError),
        "give-up reason": (
            lambda: baseline_session_give_up(session=ended, reason=_over(limits.GIVE_UP_REASON)), SessionError),
        "survey resources": (
            lambda: baseline_session_survey(session=ended, answers={"resources": _over(limits.SURVEY_RESOURCES)}),
            SessionError),
        "survey remarks": (
            lambda: baseline_session_survey(session=ended, answers={"remarks": _over(limits.SURVEY_REMARKS)}),
            SessionError),
        "review note": (
            lambda: baseline_session_review(session=ended, by=staff, valid=True, note=_over(limits.REVIEW_NOTE)),
            SessionError),
        "manual-scoring notes": (
            lambda: baseline_session_manual_score(session=ended, by=staff, score=1.0,
                                                  notes=_over(limits.MANUAL_SCORING_NOTES)), SessionError),
        "timing-correction reason": (
            lambda: baseline_session_correct_time(session=ended, by=staff, periods=[(now - timedelta(hours=1), now)],
                                                  reason=_over(limits.CORRECTION_REASON)), SessionError),
        "QA checklist differences": (
            lambda: baseline_session_qa_checklist(session=qa, answers=dict(qa.qa_checklist.answers),
                                                  differences=_over(limits.QA_DIFFERENCES)), SessionError),
    }  # fmt: skip


CASES = [
    "application username", "application e-mail", "application password", "application background",
    "application availability", "application expertise", "application area", "invitation note", "vetting note", "status note",
    "flag description", "flag triage note", "task status note", "give-up reason", "survey resources",
    "survey remarks", "review note", "manual-scoring notes", "timing-correction reason", "QA checklist differences",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_every_service_refuses_an_over_long_text_clearly_and_stores_nothing(world, case) -> None:
    cases = _cases(world)
    assert sorted(cases) == sorted(CASES)
    call, error = cases[case]
    before = (
        BaselineSession.objects.filter(pk=world["ended"].pk).values().get(),
        Invitation.objects.count(),
        ContractorProfile.objects.filter(pk=world["profile"].pk).values().get(),
        world["qa"].clock_events.count(),
        world["ended"].clock_events.count(),
        get_user_model().objects.count(),
    )
    with pytest.raises(error, match=TOO_LONG):
        call()
    after = (
        BaselineSession.objects.filter(pk=world["ended"].pk).values().get(),
        Invitation.objects.count(),
        ContractorProfile.objects.filter(pk=world["profile"].pk).values().get(),
        world["qa"].clock_events.count(),
        world["ended"].clock_events.count(),
        get_user_model().objects.count(),
    )
    assert before == after
    assert not Flag.objects.exclude(description="x").exists()
    assert not Flag.objects.exclude(status="open").exists()


def test_a_text_at_its_limit_is_accepted(world) -> None:
    inv = invitation_create(by=world["staff"], note="n" * limits.INVITATION_NOTE)
    assert len(inv.note) == limits.INVITATION_NOTE
    baseline_session_survey(session=world["ended"], answers={"remarks": "r" * limits.SURVEY_REMARKS})
    world["ended"].refresh_from_db()
    assert len(world["ended"].survey["remarks"]) == limits.SURVEY_REMARKS


def test_pages_refuse_over_long_texts_with_a_message_and_show_the_limits(world) -> None:
    client = Client()
    page = client.get("/apply/").content.decode()
    assert f'name="background" rows="3" maxlength="{limits.APPLICATION_BACKGROUND}"' in page
    resp = client.post(
        "/apply/",
        {"username": "newbie", "password": "a-long-pass-phrase-9", "email": "n@example.org",
         "expertise": "x: 1", "background": _over(limits.APPLICATION_BACKGROUND)},
        follow=True,
    )  # fmt: skip
    assert "The background is too long: at most 5000 characters" in resp.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()
    client.force_login(world["staff"])
    resp = client.post("/work/invitations/", {"note": _over(limits.INVITATION_NOTE)}, follow=True)
    assert resp.status_code == 200 and "The note is too long: at most 200 characters" in resp.content.decode()
    assert not Invitation.objects.exists()
    assert f'maxlength="{limits.INVITATION_NOTE}"' in client.get("/work/vetting/").content.decode()
    ended = world["ended"]
    events = ended.clock_events.count()
    resp = client.post(
        f"/work/review/{ended.pk}/", {"form": "correction", "periods": "0-1," * 1000, "reason": "r"}
    )
    assert resp.status_code == 302
    page = client.get("/work/vetting/").content.decode()  # (a synthetic session has no replay to render)
    assert "The list of periods is too long: at most 2000 characters" in page
    assert ended.clock_events.count() == events
