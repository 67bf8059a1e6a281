"""Every write of the baselining workflow, one module per subject: assignments.py, contractors.py, flags.py,
and a session's lifecycle.py, review.py, feedback.py, with the signal receivers in receivers.py."""

from baselining.services.assignments import (
    ERR_CAPACITY,
    ERR_NOT_ACTIVE,
    ERR_NOTHING,
    ERR_RULES,
    RULES_VERSION,
    AssignmentError,
    assignment_assign,
    assignment_claim_next,
    assignment_outlook,
    contractor_accept_rules,
)

__all__ = [
    "ERR_CAPACITY",
    "ERR_NOTHING",
    "ERR_NOT_ACTIVE",
    "ERR_RULES",
    "RULES_VERSION",
    "AssignmentError",
    "assignment_assign",
    "assignment_claim_next",
    "assignment_outlook",
    "contractor_accept_rules",
]
