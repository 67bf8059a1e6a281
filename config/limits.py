"""Length limits of every free-text field a person types, in one place: forms show them, services enforce.

Forms put each limit in the field's `maxlength` (templates read them as `{{ maxlen.<name> }}` through
`config.context_processors.limits`); every service that stores such a text calls `check_length`, so a
request that skips the form, a script or a command gets the same clear error. Where the database column
has a `max_length`, the limit is that length (a longer value would fail in PostgreSQL with a 500).
"""

from __future__ import annotations

ERR_TOO_LONG = "{field} is too long: at most {limit} characters (this one has {length})"

# Applying (baselining/services/contractors.py contractor_apply)
USERNAME = 150  # django.contrib.auth User.username
EMAIL = 254  # User.email
PASSWORD = 1024
APPLICATION_EXPERTISE = 2000  # "area: years" per line
APPLICATION_AREA = 100  # one area of expertise, as the application form's "other area" names it
APPLICATION_BACKGROUND = 5000
APPLICATION_AVAILABILITY = 200  # ContractorProfile.availability
# Staff: invitations, vetting and contractor status notes
INVITATION_NOTE = 200  # Invitation.note
VETTING_NOTE = 2000
# Flags (baselining/services/flags.py): the report, and staff's triage notes
FLAG_DESCRIPTION = 5000
FLAG_NOTE = 2000
# Task status changes (tasks/services/status.py)
STATUS_NOTE = 1000
# The session (baselining/services/lifecycle.py, feedback.py): give-up, survey, QA checklist
GIVE_UP_REASON = 280  # BaselineSession.give_up_reason (300) and the terminal's end reason "gave up: ..."
SURVEY_RESOURCES = 2000
SURVEY_REMARKS = 5000
QA_DIFFERENCES = 5000
# Staff review (baselining/services/review.py): review note, manual scoring, timing corrections
REVIEW_NOTE = 5000
MANUAL_SCORING_NOTES = 5000
CORRECTION_REASON = 300  # ClockEvent.reason
CORRECTION_PERIODS = 2000  # the "0-20, 35.5-50" text of a correction


class TextTooLong(ValueError):
    """A text over its limit; services re-raise it as their own error class (check_length's `error`)."""


ERR_NUL = "{field} holds a NUL character, which no text may hold"


def check_length(value: str, *, limit: int, field: str, error: type[Exception] = TextTooLong) -> None:
    """Raise `error` with ERR_TOO_LONG when `value` has more than `limit` characters, or ERR_NUL when it
    holds a NUL character (PostgreSQL stores none: it would be a 500 there and fine on SQLite)."""
    if len(value) > limit:
        raise error(ERR_TOO_LONG.format(field=field, limit=limit, length=len(value)))
    if "\x00" in value:
        raise error(ERR_NUL.format(field=field))


def maxlengths() -> dict[str, int]:
    """Every limit by its lower-case name, for templates (`maxlength="{{ maxlen.flag_description }}"`)."""
    return {
        name.lower(): value for name, value in globals().items() if name.isupper() and isinstance(value, int)
    }
