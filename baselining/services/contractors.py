"""Contractors: applying (optionally by invitation), vetting, and status changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from baselining.models import ContractorProfile, ContractorStatus, Invitation
from config import limits

ERR_USERNAME_TAKEN = "that user name is taken"
ERR_INVITATION = "this invitation link is not valid (used or expired)"
ERR_NOT_APPLICANT = "only applicants are vetted"
ERR_EXPERTISE = "give at least one area of expertise, with your years in it"
ERR_VETTING_TASK = "a vetting task was required: record its outcome first"


class ContractorError(Exception):
    pass


def parse_expertise(text: str) -> list[dict[str, Any]]:
    """'data science: 4' per line -> [{"area": "data science", "years": 4}]."""
    limits.check_length(text, limit=limits.APPLICATION_EXPERTISE, field="expertise", error=ContractorError)
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        area, _, years = line.partition(":")
        try:
            y = float(years) if years.strip() else 0.0
        except ValueError as exc:
            raise ContractorError(f"{line.strip()!r}: years must be a number") from exc
        out.append({"area": area.strip().lower(), "years": y})
    if not out:
        raise ContractorError(ERR_EXPERTISE)
    return out


# The areas the application form offers (with every area a task names, baselining.selectors.expertise_areas)
EXPERTISE_AREAS = (
    "software engineering", "data science", "machine learning", "site reliability", "security",
    "systems administration", "networking", "databases", "web development", "mathematics",
)  # fmt: skip
MAX_YEARS = 70.0
ERR_YEARS = "{area}: years of experience must be a number from 0 to 70, not {years!r}"
ERR_AREA_YEARS = "years without an area ({years!r}): choose the area they are in"


def expertise_from_rows(rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The application form's expertise: (area, years) rows, a blank row skipped -> [{"area", "years"}];
    an area named twice counts once (the most years)."""
    out: dict[str, float] = {}
    for raw_area, raw_years in rows:
        area, years = " ".join(raw_area.split()).lower(), raw_years.strip()
        if not area:
            if years:
                raise ContractorError(ERR_AREA_YEARS.format(years=years[:20]))
            continue
        limits.check_length(area, limit=limits.APPLICATION_AREA, field="an area", error=ContractorError)
        try:
            y = float(years) if years else 0.0
        except ValueError as exc:
            raise ContractorError(ERR_YEARS.format(area=area, years=years[:20])) from exc
        if not 0 <= y <= MAX_YEARS:  # (also NaN)
            raise ContractorError(ERR_YEARS.format(area=area, years=years[:20]))
        out[area] = max(y, out.get(area, 0.0))
    if not out:
        raise ContractorError(ERR_EXPERTISE)
    return [{"area": a, "years": y} for a, y in out.items()]


def contractor_apply(
    *,
    username: str,
    password: str,
    email: str,
    expertise: list[dict[str, Any]],
    background: str,
    availability: str,
    invitation_token: str = "",
) -> ContractorProfile:
    """Create the account and profile: an applicant for the vetting queue, or active with an invitation."""
    for value, limit, field in (
        (username, limits.USERNAME, "the user name"),
        (email, limits.EMAIL, "the e-mail address"),
        (password, limits.PASSWORD, "the password"),
        (background, limits.APPLICATION_BACKGROUND, "the background"),
        (availability, limits.APPLICATION_AVAILABILITY, "the availability"),
    ):
        limits.check_length(value, limit=limit, field=field, error=ContractorError)
    try:
        validate_password(password)
    except ValidationError as exc:
        raise ContractorError(" ".join(exc.messages)) from exc
    with transaction.atomic():
        invitation = None
        if invitation_token:
            invitation = (
                Invitation.objects.select_for_update()
                .filter(token=invitation_token, used_by__isnull=True, expires_at__gt=timezone.now())
                .first()
            )
            if invitation is None:
                raise ContractorError(ERR_INVITATION)
        try:
            user = get_user_model().objects.create_user(username=username, password=password, email=email)
        except IntegrityError as exc:
            raise ContractorError(ERR_USERNAME_TAKEN) from exc
        profile = ContractorProfile.objects.create(
            user=user,
            expertise=expertise,
            background=background,
            availability=availability,
            status=ContractorStatus.ACTIVE if invitation else ContractorStatus.APPLICANT,
            invitation=invitation,
        )
        if invitation is not None:
            invitation.used_by = user
            invitation.used_at = timezone.now()
            invitation.save(update_fields=["used_by", "used_at"])
    return profile


def invitation_create(*, by: User, note: str = "", days: int = 14) -> Invitation:
    if not by.is_staff:
        raise ContractorError("only staff invite")
    limits.check_length(note, limit=limits.INVITATION_NOTE, field="the note", error=ContractorError)
    return Invitation.objects.create(
        created_by=by, note=note, expires_at=timezone.now() + timedelta(days=days)
    )


def contractor_vet(
    *, profile: ContractorProfile, by: User, approve: bool, note: str = ""
) -> ContractorProfile:
    """Approve (active) or reject (suspended) an applicant, with a note."""
    if not by.is_staff:
        raise ContractorError("only staff vet applicants")
    limits.check_length(note, limit=limits.VETTING_NOTE, field="the note", error=ContractorError)
    with transaction.atomic():
        locked = ContractorProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.status != ContractorStatus.APPLICANT:
            raise ContractorError(ERR_NOT_APPLICANT)
        if approve and locked.vetting_task_required and locked.vetting_task_outcome != "passed":
            raise ContractorError(ERR_VETTING_TASK)
        locked.status = ContractorStatus.ACTIVE if approve else ContractorStatus.SUSPENDED
        locked.vetting_note = note
        locked.vetted_by = by
        locked.vetted_at = timezone.now()
        locked.save()
    return locked


def contractor_require_vetting_task(*, profile: ContractorProfile, by: User, outcome: str = "") -> None:
    """Ask for a vetting task (outcome "") or record how it went ("passed" / "failed")."""
    if not by.is_staff or outcome not in ("", "passed", "failed"):
        raise ContractorError("invalid vetting task outcome")
    ContractorProfile.objects.filter(pk=profile.pk).update(
        vetting_task_required=True, vetting_task_outcome=outcome
    )


def contractor_set_status(*, profile: ContractorProfile, by: User, status: str, note: str = "") -> None:
    if not by.is_staff or status not in ContractorStatus.values:
        raise ContractorError("invalid status change")
    limits.check_length(note, limit=limits.VETTING_NOTE, field="the note", error=ContractorError)
    ContractorProfile.objects.filter(pk=profile.pk).update(
        status=status, vetting_note=note or profile.vetting_note
    )
