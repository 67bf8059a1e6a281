"""A baseline session's life: open and provision, the clock (start, pause, resume; idle and disconnect
pauses), submit or give up, scoring, the outcome; the time limit and expired reservations (periodic jobs).

Every clock change is an append to the session's event log under a row lock on the session; working
time is computed from the log by baselining/clock.py. Side effects (Celery jobs, the session host) run
after commit. SessionError, which every session service raises, is defined here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from baselining import clock
from baselining.models import (
    Assignment,
    AssignmentStatus,
    BaselineSession,
    ClockEvent,
    Outcome,
    SessionState,
)
from baselining.tasks import provision_session, score_session
from config import limits
from sandbox import SandboxError
from sandbox.base import (
    MAX_EXEC_OUTPUT,
    READ_DENIED,
    READ_FAILED,
    READ_LINK,
    READ_MISSING,
    READ_NOT_REGULAR,
    READ_TIMEOUT,
    READ_TOO_LARGE,
    FileRefused,
)
from tasks.family_runner import MethodFailure
from tasks.services.environment import task_score
from terminal import control
from terminal.models import SessionStatus as TerminalStatus
from terminal.models import TerminalSession
from terminal.services import (
    TerminalSessionError,
    TryLaterError,
    terminal_session_create,
    terminal_session_discard,
    terminal_session_retry,
)

log = logging.getLogger(__name__)

ERR_NOT_LIVE = "the session is not running (state: {state})"
ERR_ALREADY_SUBMITTED = "the session has already been submitted"
ERR_REASON = "say why you give up"
ERR_NOT_YOURS = "this is not your assignment"
ERR_ONE_LIVE = "finish your current session first: one live session at a time"
ERR_NO_RETRY = "only a session whose sandbox could not start can be tried again"
ERR_RESTORE = "your parked session could not be brought back yet, please try again in a moment"
SUBMISSION_FILE = "/home/agent/submission.txt"
# Why ~/submission.txt was not taken: the contractor reads these, the clock keeps running, nothing is stored.
ERR_SUBMISSION_FILE = {
    READ_LINK: "~/submission.txt is a symbolic link: write your answer into the file itself",
    READ_NOT_REGULAR: "~/submission.txt is not a regular file (a directory, FIFO or device): "
    "write your answer into an ordinary file",
    READ_DENIED: "~/submission.txt is not readable by you (agent): make it yours and readable",
    READ_TOO_LARGE: "~/submission.txt is larger than {limit}: a submission may be at most {limit}",
    READ_TIMEOUT: "~/submission.txt could not be read in time: try again",
    READ_FAILED: "~/submission.txt could not be read: try again, or submit the answer as text",
}
ERR_SUBMISSION_TOO_LARGE = "the submission is larger than {limit}: a submission may be at most {limit}"
ERR_HOST_UNREACHABLE = "your terminal could not be reached to read ~/submission.txt: try again in a moment"
ERR_SUBMISSION_NUL = "the submission holds NUL bytes (is it a binary file?): submit text"


class SessionError(Exception):
    pass


def clock_events(session: BaselineSession) -> list[clock.Event]:
    """The session's clock log, oldest first."""
    out = []
    for row in session.clock_events.order_by("seq"):
        periods = tuple((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in row.periods or [])
        out.append(clock.Event(clock.Kind(row.kind), row.at, row.reason, row.since, periods))
    return out


def clock_append(*, session: BaselineSession, event: clock.Event, by: Any = None) -> ClockEvent:
    """Append one event to the session's clock log; ClockError if it does not fit (nothing written)."""
    with transaction.atomic():
        locked = BaselineSession.objects.select_for_update().get(pk=session.pk)
        events = clock_events(locked)
        clock.check(events, event)
        return ClockEvent.objects.create(
            session=locked,
            seq=len(events) + 1,
            kind=event.kind,
            at=event.at,
            since=event.since,
            reason=event.reason,
            periods=[[a.isoformat(), b.isoformat()] for a, b in event.periods],
            by=by,
        )


def working_seconds(session: BaselineSession, now: datetime | None = None) -> float:
    return clock.working_seconds(clock_events(session), now or timezone.now())


def baseline_session_open(*, assignment: Assignment, user: Any) -> BaselineSession:
    """The contractor opens an assignment: its terminal session is created (idempotent)."""
    if assignment.contractor_id != user.pk:
        raise SessionError(ERR_NOT_YOURS)
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        # this assignment's session (a double-clicked Start), or another one open: one query for both
        mine_or_open = list(
            BaselineSession.objects.filter(
                Q(assignment=locked)
                | Q(assignment__contractor=user, state__in=[SessionState.CREATED, SessionState.LIVE])
            )
        )
        for existing in mine_or_open:
            if existing.assignment_id == locked.pk:
                return existing
        if mine_or_open:
            raise SessionError(ERR_ONE_LIVE)
        terminal = _take_warm(locked)
        warmed = terminal is not None
        if terminal is None:
            terminal = terminal_session_create(
                user=user, task_version=locked.task_version, purpose=locked.kind
            )
        session = BaselineSession(assignment=locked, terminal=terminal)
        if (
            terminal.status == TerminalStatus.FAILED
        ):  # its start failed while warming: said now, retry offered
            session.state = SessionState.FAILED
            session.scoring_error = terminal.end_reason
        session.save()
        locked.status = AssignmentStatus.IN_PROGRESS
        locked.save(update_fields=["status", "warm_terminal"])
        if not warmed:  # (a warm one is live, or starting, or refused for now: the owner's attach opens it)
            _provision_on_commit(session)
        return session


# --- Warm starts: the sandbox prepared while the contractor reads the instructions ----------------------


def baseline_session_warm(*, assignment: Assignment, user: Any) -> bool:
    """The contractor reads a reserved assignment's instructions: prepare its sandbox now (start() included;
    no clock runs: it starts when the contractor, after Start, is attached to the live shell), so Start finds
    it ready. One per contractor (warming another cools this one); nothing when they have a session open
    or WARM_SANDBOXES is off. True if a sandbox is (being) prepared."""
    if not settings.WARM_SANDBOXES or assignment.contractor_id != user.pk:
        return False
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if (
            locked.status != AssignmentStatus.RESERVED
            or BaselineSession.objects.filter(assignment=locked).exists()
        ):
            return False
        if BaselineSession.objects.filter(
            assignment__contractor=user, state__in=[SessionState.CREATED, SessionState.LIVE]
        ).exists():
            return False
        terminal = locked.warm_terminal
        if terminal is not None and terminal.status == TerminalStatus.FAILED and terminal.started_at is None:
            return (
                False  # its start failed: Start says why, with a retry (not tried again at every page view)
            )
        if terminal is None or terminal.status not in (TerminalStatus.NEW, TerminalStatus.LIVE):
            if terminal is not None:
                _discard_on_commit(terminal.pk)
            try:
                terminal = terminal_session_create(
                    user=user, task_version=locked.task_version, purpose=locked.kind
                )
            except TerminalSessionError as exc:  # low on disk: Start will say so
                log.info("no warm start for assignment %s: %s", locked.pk, exc)
                return False
            locked.warm_terminal = terminal
            locked.save(update_fields=["warm_terminal"])
        others = list(
            Assignment.objects.filter(contractor=user, warm_terminal__isnull=False)
            .exclude(pk=locked.pk)
            .values_list("pk", flat=True)
        )
        if terminal.status == TerminalStatus.NEW:  # (asking again is harmless: an opening is shared)
            transaction.on_commit(lambda: control.warm(terminal))
    for other in others:
        _cool(other)
    return True


def _take_warm(locked: Assignment) -> TerminalSession | None:
    """Start takes the assignment's warm session (the caller saves warm_terminal): live or still starting,
    as it is; one whose start failed, as it is too (the contractor is told at once and may retry; a second
    try of the same start would only fail again); anything else is discarded (None)."""
    terminal = locked.warm_terminal
    locked.warm_terminal = None
    if terminal is None:
        return None
    if terminal.status in (TerminalStatus.NEW, TerminalStatus.LIVE):
        return terminal
    if terminal.status == TerminalStatus.FAILED and terminal.started_at is None:
        return terminal
    _discard_on_commit(terminal.pk)
    return None


def _cool(assignment_id: int) -> str | None:
    """End and remove an assignment's warm sandbox if no Start took it meanwhile; its session id."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().filter(pk=assignment_id).first()
        if locked is None or locked.warm_terminal_id is None:
            return None
        tid = locked.warm_terminal_id
        locked.warm_terminal = None
        locked.save(update_fields=["warm_terminal"])
        _discard_on_commit(tid)
        return str(tid)


def _discard_on_commit(terminal_id: Any) -> None:
    address = control.host_of(str(terminal_id))  # read before the row goes: the machine it runs on
    recording = terminal_session_discard(session_id=terminal_id)

    def end() -> None:
        try:
            control.end(str(terminal_id), "prepared ahead, not started: removed", address)
        except Exception:  # the reaper ends it (its session is unknown now) if the host did not answer
            log.warning("could not end warm sandbox %s now", terminal_id, exc_info=True)
        if recording is not None:
            recording.unlink(missing_ok=True)

    transaction.on_commit(end)


def baseline_warm_cool(*, now: datetime | None = None) -> list[str]:
    """Periodic: warm sandboxes no Start took within WARM_SANDBOX_MINUTES, or whose assignment is no longer
    reserved (expired, cancelled), are ended and removed; their session ids."""
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.WARM_SANDBOX_MINUTES)
    stale = Assignment.objects.filter(warm_terminal__isnull=False).filter(
        Q(warm_terminal__created_at__lt=cutoff) | ~Q(status=AssignmentStatus.RESERVED)
    )
    return [tid for pk in stale.values_list("pk", flat=True) if (tid := _cool(pk)) is not None]


def _provision_on_commit(session: BaselineSession) -> None:
    """Once committed, a job prepares the session's sandbox (on its machine's queue with
    JOBS_ON_HOST_QUEUES, placed now for that); without a broker the contractor's attach does it."""
    terminal = session.terminal
    if terminal is None:
        return

    def provision() -> None:
        try:
            provision_session.apply_async((session.pk,), queue=control.job_queue(terminal, place=True))
        except Exception:
            log.exception("could not queue the provisioning of session %s", session.pk)

    transaction.on_commit(provision)


def baseline_session_start_failed(*, terminal_session_id: Any, reason: str) -> None:
    """The sandbox could not start: the session shows why and offers a retry; the clock never started."""
    with transaction.atomic():
        locked = (
            BaselineSession.objects.select_for_update()
            .filter(terminal_id=terminal_session_id, state=SessionState.CREATED)
            .first()
        )
        if locked is not None:
            locked.state = SessionState.FAILED
            locked.scoring_error = reason
            locked.save(update_fields=["state", "scoring_error"])


def baseline_session_retry(*, session: BaselineSession) -> None:
    """Try again after the sandbox could not start (the earlier failures stay on the terminal session for
    staff): the session is created again and its sandbox prepared anew."""
    with transaction.atomic():
        locked = BaselineSession.objects.select_for_update().get(pk=session.pk)
        if locked.state != SessionState.FAILED or clock_events(locked) or locked.terminal_id is None:
            raise SessionError(ERR_NO_RETRY)
        if not terminal_session_retry(session_id=locked.terminal_id):
            raise SessionError(ERR_NO_RETRY)
        locked.state = SessionState.CREATED
        locked.scoring_error = ""
        locked.save(update_fields=["state", "scoring_error"])
        _provision_on_commit(locked)


def baseline_session_provision(*, session_id: int) -> str:
    """Prepare the sandbox (start() included) before the contractor arrives; provisioning never counts."""
    session = BaselineSession.objects.select_related("terminal__task_version").filter(pk=session_id).first()
    if session is None or session.terminal is None or session.state != SessionState.CREATED:
        return "nothing to do"
    try:
        refusal = control.prepare(session.terminal)
    except TryLaterError as exc:
        return str(exc)  # low on disk, no room: the session stays CREATED; the owner's attach tries again
    except SandboxError as exc:
        refusal = ("failed", str(exc))
    if refusal is not None and refusal[0] == "unavailable":
        return refusal[1]  # the machine is full or short: as above
    if refusal is not None:
        with transaction.atomic():
            locked = BaselineSession.objects.select_for_update().get(pk=session_id)
            if locked.state == SessionState.CREATED:
                locked.state = SessionState.FAILED
                locked.scoring_error = refusal[1]
                locked.save(update_fields=["state", "scoring_error"])
        return refusal[1]
    return "ready"


def baseline_session_started(*, terminal_session_id: Any, at: datetime) -> None:
    """The sandbox is ready and the contractor is attached to it: the clock starts (once)."""
    with transaction.atomic():
        session = BaselineSession.objects.select_for_update().filter(terminal_id=terminal_session_id).first()
        if session is None or session.state != SessionState.CREATED:
            return
        clock_append(session=session, event=clock.Event(clock.Kind.STARTED, at))
        session.state = SessionState.LIVE
        session.save(update_fields=["state"])


def baseline_session_pause(
    *,
    session: BaselineSession,
    reason: str = clock.PauseReason.MANUAL,
    at: datetime | None = None,
    since: datetime | None = None,
    tell_host: bool = True,
) -> None:
    """Stop the clock; input is refused until resumed (tell_host=False: the session host is not there)."""
    at = at or timezone.now()
    clock_append(session=session, event=clock.Event(clock.Kind.PAUSED, at, reason=reason, since=since))
    terminal_id = str(session.terminal_id)
    if tell_host:
        transaction.on_commit(lambda: control.set_input(terminal_id, f"paused ({reason})", marker="pause"))


def baseline_session_resume(*, session: BaselineSession, at: datetime | None = None) -> None:
    """Start the clock again; a session parked meanwhile is restored first (its files; SessionError if it
    cannot be now, and the clock stays paused)."""
    terminal = session.terminal
    if terminal is not None and terminal.status == TerminalStatus.PARKED:
        try:
            control.restore(terminal)
        except (SandboxError, TryLaterError) as exc:
            raise SessionError(f"{ERR_RESTORE}: {exc}") from exc
        clock_append(session=session, event=clock.Event(clock.Kind.RESTORED, timezone.now()))
    clock_append(session=session, event=clock.Event(clock.Kind.RESUMED, at or timezone.now()))
    terminal_id = str(session.terminal_id)
    transaction.on_commit(lambda: control.set_input(terminal_id, None, marker="resume"))


def baseline_session_pause_for_flag(*, session: BaselineSession) -> None:
    """The contractor opens the problem report: a running clock pauses (reason flag) while it is open."""
    if clock.state(clock_events(session)) == clock.State.RUNNING:
        baseline_session_pause(session=session, reason=clock.PauseReason.FLAG)


def baseline_session_resume_after_flag(*, session: BaselineSession) -> None:
    """The report is sent or cancelled: a clock paused for it resumes (any other pause stays)."""
    events = clock_events(session)
    if clock.state(events) == clock.State.PAUSED and events[-1].reason == clock.PauseReason.FLAG:
        baseline_session_resume(session=session)


def _live_session_for_terminal(terminal_session_id: Any, *, lock: bool = False) -> BaselineSession | None:
    live = BaselineSession.objects.filter(terminal_id=terminal_session_id, state=SessionState.LIVE)
    # (locked: its row alone; PostgreSQL locks no nullable side of an outer join)
    return (live.select_for_update() if lock else live.select_related("terminal")).first()


def baseline_session_auto_pause(
    *, terminal_session_id: Any, reason: str, since: datetime, tell_host: bool = True
) -> bool:
    """Idle or disconnect: pause a running clock from `since` (the last input, or when the browser went)."""
    session = _live_session_for_terminal(terminal_session_id)
    if session is None:
        return False
    events = clock_events(session)
    started = clock.running_since(events)
    if started is None:
        return False
    try:
        baseline_session_pause(session=session, reason=reason, since=max(since, started), tell_host=tell_host)
    except clock.ClockError:
        return False  # a concurrent pause or end won
    return True


def baseline_session_owner_back(*, terminal_session_id: Any) -> bool:
    """The browser is back after a disconnect pause: the clock resumes (a manual pause stays)."""
    session = _live_session_for_terminal(terminal_session_id)
    if session is None:
        return False
    events = clock_events(session)
    if clock.state(events) != clock.State.PAUSED or events[-1].reason != clock.PauseReason.DISCONNECT:
        return False
    try:
        baseline_session_resume(session=session)
    except clock.ClockError:
        return False
    return True


def baseline_session_platform_down(*, terminal_session_id: Any, since: datetime) -> bool:
    """The session's machine stopped answering (no heartbeat since `since`): a running clock pauses from
    then, reason platform, while it is down. Nothing is asked of the session host: it is not there."""
    return baseline_session_auto_pause(
        terminal_session_id=terminal_session_id,
        reason=clock.PauseReason.PLATFORM,
        since=since,
        tell_host=False,
    )


def baseline_session_platform_outage(*, terminal_session_id: Any, since: datetime, until: datetime) -> bool:
    """The platform could not reach the shell from `since` to `until` (its session host was down, and the
    session's keeper kept the shell), reported on adoption: the clock runs again from `until`, and a clock
    that was still running (the outage was shorter than HOST_DOWN_AFTER) is first paused for exactly that
    stretch, reason platform. Input was refused by the keeper meanwhile, so nothing is asked of the session
    host here. A clock paused or ended for another reason is left as it is."""
    with transaction.atomic():
        session = _live_session_for_terminal(terminal_session_id, lock=True)
        if session is None:
            return False
        events = clock_events(session)
        at = max(until, events[-1].at)
        started = clock.running_since(events)
        try:
            if started is not None:
                reason = clock.PauseReason.PLATFORM
                pause = clock.Event(clock.Kind.PAUSED, at, reason=reason, since=max(since, started))
                clock_append(session=session, event=pause)
            elif events[-1].kind != clock.Kind.PAUSED or events[-1].reason != clock.PauseReason.PLATFORM:
                return False
            clock_append(session=session, event=clock.Event(clock.Kind.RESUMED, at))
        except clock.ClockError:
            return False
    return True


def baseline_session_parked(*, terminal_session_id: Any, at: datetime) -> bool:
    """Put the parking of a paused session's sandbox on its clock's timeline (its restoring is put there
    by baseline_session_resume)."""
    session = _live_session_for_terminal(terminal_session_id)
    if session is None:
        return False
    try:
        event = clock.Event(clock.Kind.PARKED, max(at, clock_events(session)[-1].at))
        clock_append(session=session, event=event)
    except clock.ClockError:
        return False
    return True


def baseline_sessions_park(*, now: datetime | None = None) -> list[int]:
    """Periodic: park the sandboxes of sessions paused longer than PARK_PAUSED_AFTER_HOURS (0: never), on
    backends that can (docker): their files are kept in a snapshot and their CPU and memory freed; Resume
    restores them. Returns the parked sessions' ids."""
    hours = settings.PARK_PAUSED_AFTER_HOURS
    if hours <= 0:
        return []
    now = now or timezone.now()
    parked = []
    candidates = BaselineSession.objects.filter(
        state=SessionState.LIVE, terminal__status=TerminalStatus.LIVE, terminal__fingerprint__backend="docker"
    ).select_related("terminal")
    for session in candidates:
        events = clock_events(session)
        if clock.state(events) != clock.State.PAUSED or events[-1].kind != clock.Kind.PAUSED:
            continue
        if (now - events[-1].at).total_seconds() < hours * 3600:
            continue
        try:
            if control.park(str(session.terminal_id)) is not None:
                parked.append(session.pk)
        except SandboxError as exc:
            log.warning("could not park session %s: %s", session.pk, exc)
    return parked


def submission_limit() -> int:
    """SUBMISSION_MAX_BYTES, at most what one command's output may carry (MAX_EXEC_OUTPUT)."""
    return min(settings.SUBMISSION_MAX_BYTES, MAX_EXEC_OUTPUT - 1)


def _size(limit: int) -> str:
    if limit < 1024:
        return f"{limit} bytes"
    return f"{limit / 1024:g} KiB" if limit < 1024 * 1024 else f"{limit / (1024 * 1024):g} MiB"


def submission_file_read(*, session: BaselineSession) -> str | None:
    """The contractor's /home/agent/submission.txt, read in their live sandbox with their rights.

    None if the task does not take one (it has intermediate scoring), or there is none, or the sandbox is
    not running; SessionError, with a message for the contractor, if it is there but not acceptable (a
    link, not a regular file, too large). Never as root: a link to a root-only file must not become an
    answer, nor a FIFO or /dev/zero hang or flood the platform."""
    if "intermediate_score" in session.assignment.task_version.family_version.methods:
        return None
    sandbox = control.sandbox_for(str(session.terminal_id)) if session.terminal_id else None
    if sandbox is None:
        return None
    limit = submission_limit()
    try:
        data = sandbox.read_file(SUBMISSION_FILE, user="agent", limit=limit, timeout=15)
    except FileRefused as exc:
        if exc.kind == READ_MISSING:
            return None
        raise SessionError(ERR_SUBMISSION_FILE[exc.kind].format(limit=_size(limit))) from exc
    except control.HostUnreachable as exc:
        raise SessionError(ERR_HOST_UNREACHABLE) from exc
    except SandboxError:
        return None  # the sandbox went away: scoring says so
    text = data.decode(errors="replace")
    if "\x00" in text:
        raise SessionError(ERR_SUBMISSION_NUL)
    return text


def baseline_session_submit(*, session: BaselineSession, submission: str, at: datetime | None = None) -> bool:
    """Submit once. A second submit (a double click) changes nothing and returns False.

    A blank text submission takes /home/agent/submission.txt instead, read now (the answer is what was
    there when the clock stopped). The clock stops at the submit; scoring runs as a Celery job inside the
    live sandbox.
    """
    at = at or timezone.now()
    limit = submission_limit()
    if len(submission.encode()) > limit:
        raise SessionError(ERR_SUBMISSION_TOO_LARGE.format(limit=_size(limit)))
    if "\x00" in submission:
        raise SessionError(ERR_SUBMISSION_NUL)
    if not submission.strip():
        submission = submission_file_read(session=session) or submission
    with transaction.atomic():
        locked = BaselineSession.objects.select_for_update().get(pk=session.pk)
        if locked.submitted_at is not None:
            return False
        if locked.state != SessionState.LIVE:
            raise SessionError(ERR_NOT_LIVE.format(state=locked.state))
        clock_append(session=locked, event=clock.Event(clock.Kind.SUBMITTED, at))
        locked.submission = submission
        locked.submitted_at = at
        locked.state = SessionState.SCORING
        locked.working_seconds = clock.working_seconds(clock_events(locked), at)
        locked.save(update_fields=["submission", "submitted_at", "state", "working_seconds"])
        terminal_id, pk = str(locked.terminal_id), locked.pk
        queue = control.job_queue(locked.terminal) if locked.terminal is not None else None

        def after() -> None:
            control.set_input(terminal_id, "submitted: scoring", marker="submit")
            try:
                score_session.apply_async((pk,), queue=queue)
            except Exception:  # the broker is unreachable: score here rather than leave it unscored
                log.exception("could not queue the scoring of session %s; scoring in this process", pk)
                score_session.apply(args=(pk,))

        transaction.on_commit(after)
    return True


def baseline_session_give_up(*, session: BaselineSession, reason: str, at: datetime | None = None) -> None:
    if not reason.strip():
        raise SessionError(ERR_REASON)
    limits.check_length(reason, limit=limits.GIVE_UP_REASON, field="the reason", error=SessionError)
    at = at or timezone.now()
    with transaction.atomic():
        locked = BaselineSession.objects.select_for_update().get(pk=session.pk)
        if locked.state not in (SessionState.LIVE, SessionState.CREATED):
            raise SessionError(ERR_NOT_LIVE.format(state=locked.state))
        clock_append(session=locked, event=clock.Event(clock.Kind.GAVE_UP, at, reason=reason))
        _finish(locked, Outcome.GAVE_UP, at, give_up_reason=reason)
        terminal_id = str(locked.terminal_id)
    transaction.on_commit(lambda: control.end(terminal_id, f"gave up: {reason}"))


def _finish(session: BaselineSession, outcome: str, at: datetime, **fields: Any) -> None:
    session.outcome = outcome
    session.state = SessionState.MANUAL_SCORING if outcome == Outcome.PENDING_MANUAL else SessionState.ENDED
    session.ended_at = at
    session.working_seconds = clock.working_seconds(clock_events(session), at)
    for k, v in fields.items():
        setattr(session, k, v)
    session.save()
    assignment = session.assignment
    assignment.status = AssignmentStatus.COMPLETED
    assignment.success = outcome == Outcome.SUCCESS if outcome != Outcome.PENDING_MANUAL else None
    assignment.save(update_fields=["status", "success"])


def baseline_session_score(*, session_id: int) -> BaselineSession | None:
    """Run the task's scorer in the live sandbox, record the outcome, then tear the sandbox down."""
    session = (
        BaselineSession.objects.select_related(
            "assignment__task_version__family_version__family", "assignment__task_version__task", "terminal"
        )
        .filter(pk=session_id)
        .first()
    )
    if session is None or session.state != SessionState.SCORING:
        return session
    tv = session.assignment.task_version
    terminal_id = str(session.terminal_id)
    sandbox = control.sandbox_for(terminal_id)
    score: float | None = None
    error = ""
    try:
        if sandbox is None:
            raise SandboxError("the sandbox is gone before scoring")
        # The submission (typed, or submission.txt read as the agent at the submit) reaches the scorer
        # as data on its stdin, never as a path root would open.
        result = task_score(
            sandbox=sandbox,
            task_version=tv,
            submission=session.submission,
            score_log=session.intermediate_scores,
        )
        score = result.score
    except (MethodFailure, SandboxError) as exc:
        error = str(exc)
        log.warning("scoring session %s failed: %s", session_id, exc)
    with transaction.atomic():
        locked = BaselineSession.objects.select_for_update().get(pk=session_id)
        if locked.state != SessionState.SCORING:
            return locked
        if error:
            outcome = Outcome.ERROR
        elif score is None:
            outcome = Outcome.PENDING_MANUAL
        else:
            outcome = Outcome.SUCCESS if score >= tv.success_threshold else Outcome.FAILURE
        _finish(locked, outcome, locked.submitted_at or timezone.now(), score=score, scoring_error=error)
    control.end(terminal_id, f"submitted; {outcome}")
    return locked


def time_limit_seconds(session: BaselineSession) -> float:
    meta = session.assignment.task_version.meta or {}
    minutes = meta.get("time_limit_minutes")
    return float(minutes) * 60 if minutes else settings.TIME_LIMIT_HOURS * 3600


def enforce_time_limits(*, now: datetime | None = None) -> int:
    """End live sessions whose working time reached their limit (outcome time_limit: a censored attempt)."""
    now = now or timezone.now()
    ended = 0
    for session in BaselineSession.objects.filter(state=SessionState.LIVE).select_related(
        "assignment__task_version"
    ):
        events = clock_events(session)
        limit = time_limit_seconds(session)
        if clock.working_seconds(events, now) < limit:
            continue
        # The clock stops exactly at the limit, not at whenever this job noticed.
        at = clock.time_when_working_reaches(events, limit) or now
        with transaction.atomic():
            locked = BaselineSession.objects.select_for_update().get(pk=session.pk)
            if locked.state != SessionState.LIVE:
                continue
            try:
                clock_append(session=locked, event=clock.Event(clock.Kind.TIME_LIMIT, max(at, events[-1].at)))
            except clock.ClockError:
                continue
            _finish(locked, Outcome.TIME_LIMIT, max(at, events[-1].at))
            terminal_id = str(locked.terminal_id)
        control.end(terminal_id, "working-time limit reached")
        ended += 1
    return ended


def expire_reservations(*, now: datetime | None = None) -> int:
    """Reserved assignments never started in time go back to the pool."""
    now = now or timezone.now()
    return Assignment.objects.filter(
        status=AssignmentStatus.RESERVED, reserved_until__lt=now, session__isnull=True
    ).update(status=AssignmentStatus.EXPIRED)
