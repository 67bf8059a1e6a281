"""Applying, invitations, vetting (with an optional vetting task) and what each status allows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from baselining.models import ContractorProfile, ContractorStatus, Invitation
from baselining.services import ERR_NOT_ACTIVE, AssignmentError, assignment_claim_next
from baselining.services.contractors import (
    ERR_INVITATION,
    ERR_NOT_APPLICANT,
    ERR_USERNAME_TAKEN,
    ERR_VETTING_TASK,
    ContractorError,
    contractor_apply,
    contractor_require_vetting_task,
    contractor_vet,
    invitation_create,
    parse_expertise,
)

pytestmark = pytest.mark.django_db

APPLICATION: dict[str, Any] = {
    "username": "newperson",
    "password": "a-long-enough-pass-1",
    "email": "new@example.org",
    "expertise": "Software Engineering: 6\ndata science: 2.5",
    "background": "Backend engineer",
    "availability": "10 h/week",
}


@pytest.fixture
def staff(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user("vetter", password="x-pass-123", is_staff=True)


def test_apply_through_the_page_then_vetting(client, staff) -> None:
    resp = client.post("/apply/", APPLICATION)
    assert resp.status_code == 302 and resp["Location"] == "/work/"
    profile = ContractorProfile.objects.get(user__username="newperson")
    assert profile.status == ContractorStatus.APPLICANT
    assert profile.expertise == [
        {"area": "software engineering", "years": 6.0},
        {"area": "data science", "years": 2.5},
    ]
    assert b"not active" in client.get("/work/").content or b"applicant" in client.get("/work/").content
    with pytest.raises(AssignmentError, match=ERR_NOT_ACTIVE):
        assignment_claim_next(contractor=profile.user)

    contractor_require_vetting_task(profile=profile, by=staff)
    with pytest.raises(ContractorError, match=ERR_VETTING_TASK):
        contractor_vet(profile=profile, by=staff, approve=True)
    contractor_require_vetting_task(profile=profile, by=staff, outcome="passed")
    vetted = contractor_vet(profile=profile, by=staff, approve=True, note="strong backend background")
    assert (vetted.status, vetted.vetted_by, vetted.vetting_note) == (
        ContractorStatus.ACTIVE,
        staff,
        "strong backend background",
    )
    with pytest.raises(ContractorError, match=ERR_NOT_APPLICANT):
        contractor_vet(profile=profile, by=staff, approve=False)


def test_rejection_and_bad_applications(staff) -> None:
    profile = contractor_apply(**{**APPLICATION, "expertise": parse_expertise("ml: 3")})
    assert (
        contractor_vet(profile=profile, by=staff, approve=False, note="no").status
        == ContractorStatus.SUSPENDED
    )
    with pytest.raises(ContractorError, match=ERR_USERNAME_TAKEN):
        contractor_apply(**{**APPLICATION, "expertise": parse_expertise("ml: 3")})
    with pytest.raises(ContractorError, match=r"too short|too common"):
        contractor_apply(**{**APPLICATION, "username": "x2", "password": "abc", "expertise": []})
    with pytest.raises(ContractorError, match="years must be a number"):
        parse_expertise("ml: lots")
    with pytest.raises(ContractorError, match="at least one area"):
        parse_expertise("  \n")


def test_invitations_skip_the_queue_once(client, staff) -> None:
    inv = invitation_create(by=staff, note="Dana from the meetup")
    page = client.get(f"/apply/?invite={inv.token}")
    assert b"You were invited (Dana from the meetup)" in page.content
    client.post("/apply/", {**APPLICATION, "invite": inv.token})
    profile = ContractorProfile.objects.get(user__username="newperson")
    assert profile.status == ContractorStatus.ACTIVE and profile.invitation == inv
    with pytest.raises(ContractorError, match=re.escape(ERR_INVITATION)):
        contractor_apply(
            **{**APPLICATION, "username": "second", "expertise": parse_expertise("a: 1")},
            invitation_token=inv.token,
        )
    expired = Invitation.objects.create(created_by=staff, expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(ContractorError, match=re.escape(ERR_INVITATION)):
        contractor_apply(
            **{**APPLICATION, "username": "third", "expertise": parse_expertise("a: 1")},
            invitation_token=expired.token,
        )


def test_staff_vetting_page(staff) -> None:
    contractor_apply(**{**APPLICATION, "expertise": parse_expertise("ml: 3")})
    c = Client()
    c.force_login(staff)
    assert b"newperson" in c.get("/work/vetting/").content
    profile = ContractorProfile.objects.get()
    c.post(f"/work/vetting/{profile.pk}/", {"action": "approve", "note": "ok"})
    assert ContractorProfile.objects.get().status == ContractorStatus.ACTIVE
    resp = c.post("/work/invitations/", {"note": "for Sam"}, follow=True)
    assert b"?invite=" in resp.content


def test_staff_pause_a_contractor(staff) -> None:
    contractor_apply(**{**APPLICATION, "expertise": parse_expertise("ml: 3")})
    profile = ContractorProfile.objects.get()
    contractor_vet(profile=profile, by=staff, approve=True)
    c = Client()
    c.force_login(staff)
    assert b'<option value="suspended"' in c.get("/work/vetting/").content
    c.post(f"/work/vetting/{profile.pk}/", {"action": "paused", "note": "on leave"})
    profile.refresh_from_db()
    assert (profile.status, profile.vetting_note) == (ContractorStatus.PAUSED, "on leave")
    with pytest.raises(AssignmentError, match=ERR_NOT_ACTIVE):
        assignment_claim_next(contractor=profile.user)
