"""The session clock: working time as a pure function of an append-only event log (docs/timing.md).

Nothing here touches the database or the wall clock; services append events and call these functions
with an explicit `now`. The rules:

- the clock starts at `started` (the sandbox is ready and the contractor first attached);
- `paused` stops it; its `since` says from when: the pause time itself for a manual pause, but the last
  input for an idle pause, so the idle stretch is not counted;
- `resumed` starts it again;
- `submitted`, `gave_up` and `time_limit` end it for good;
- `staff_correction` replaces the work periods with the ones staff give (with a reason, audited).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    SUBMITTED = "submitted"
    GAVE_UP = "gave_up"
    TIME_LIMIT = "time_limit"
    STAFF_CORRECTION = "staff_correction"
    # While paused: the sandbox was parked (files kept, processes stopped) and later restored. They change
    # nothing in the clock's state; they are on its timeline for staff.
    PARKED = "parked"
    RESTORED = "restored"


class PauseReason(StrEnum):
    MANUAL = "manual"
    IDLE = "idle"
    DISCONNECT = "disconnect"
    SCORING = "scoring"
    FLAG = "flag"
    PLATFORM = "platform"  # the platform could not reach the shell (a session host restarting)


ENDINGS = frozenset({Kind.SUBMITTED, Kind.GAVE_UP, Kind.TIME_LIMIT})


class State(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    ENDED = "ended"


class ClockError(ValueError):
    """An event that does not fit the log (e.g. resume while running, or anything after the end)."""


Period = tuple[datetime, datetime]


@dataclass(frozen=True)
class Event:
    kind: Kind
    at: datetime
    reason: str = ""
    since: datetime | None = None  # paused only: when the clock stopped (<= at; idle: the last input)
    periods: tuple[Period, ...] = field(default=())  # staff_correction only


def state(events: Sequence[Event]) -> State:
    s = State.NOT_STARTED
    for e in events:
        if e.kind == Kind.STARTED or e.kind == Kind.RESUMED:
            s = State.RUNNING
        elif e.kind == Kind.PAUSED:
            s = State.PAUSED
        elif e.kind in ENDINGS:
            s = State.ENDED
    return s


PAUSE_WORDS = {
    PauseReason.MANUAL: "you paused",
    PauseReason.IDLE: "idle",
    PauseReason.DISCONNECT: "disconnected",
    PauseReason.SCORING: "scoring",
    PauseReason.FLAG: "reporting a problem",
    PauseReason.PLATFORM: "the platform lost your terminal",
}
STATE_WORDS = {State.NOT_STARTED: "Not started", State.RUNNING: "Running", State.ENDED: "Stopped"}


def describe(events: Sequence[Event]) -> str:
    """The clock's state in words people read: "Running", "Paused: idle", "Not started", "Stopped"."""
    current = state(events)
    if current != State.PAUSED:
        return STATE_WORDS[current]
    reason = next((e.reason for e in reversed(events) if e.kind == Kind.PAUSED), "")
    words = PAUSE_WORDS.get(PauseReason(reason)) if reason in PauseReason._value2member_map_ else None
    return f"Paused: {words}" if words else "Paused"


def check(events: Sequence[Event], new: Event) -> None:
    """Raise ClockError unless new may follow events."""
    if events and new.at < events[-1].at:
        raise ClockError(f"{new.kind} at {new.at} is before the previous event at {events[-1].at}")
    current = state(events)
    started = running_since(events)
    if new.kind == Kind.STAFF_CORRECTION:
        if not new.reason.strip():
            raise ClockError("a timing correction needs a reason")
        for start, end in new.periods:
            if end < start:
                raise ClockError(f"period {start} - {end} ends before it starts")
        ordered = sorted(new.periods)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start < end:
                raise ClockError("corrected periods overlap")
        return
    allowed = {
        State.NOT_STARTED: {Kind.STARTED, Kind.GAVE_UP},
        State.RUNNING: {Kind.PAUSED, *ENDINGS},
        State.PAUSED: {Kind.RESUMED, Kind.PARKED, Kind.RESTORED, *ENDINGS},
        State.ENDED: set(),
    }[current]
    if new.kind not in allowed:
        raise ClockError(f"cannot record {new.kind!s} when the clock is {current!s}")
    if new.kind == Kind.PAUSED:
        since = new.since or new.at
        if since > new.at:
            raise ClockError("a pause cannot start after it is recorded")
        if started is not None and since < started:
            raise ClockError("a pause cannot reach back before the clock last started")


def append(events: Sequence[Event], new: Event) -> list[Event]:
    check(events, new)
    return [*events, new]


def running_since(events: Sequence[Event]) -> datetime | None:
    since = None
    for e in events:
        if e.kind in (Kind.STARTED, Kind.RESUMED):
            since = e.at
        elif e.kind == Kind.PAUSED or e.kind in ENDINGS:
            since = None
    return since


def work_periods(events: Iterable[Event], now: datetime) -> list[Period]:
    """The intervals during which the clock ran, up to now for a running clock."""
    events = list(events)
    corrections = [e for e in events if e.kind == Kind.STAFF_CORRECTION]
    if corrections:
        return sorted(corrections[-1].periods)
    periods: list[Period] = []
    start: datetime | None = None
    for e in events:
        if e.kind in (Kind.STARTED, Kind.RESUMED):
            start = e.at
        elif start is not None and (e.kind == Kind.PAUSED or e.kind in ENDINGS):
            end = max(start, e.since or e.at) if e.kind == Kind.PAUSED else e.at
            periods.append((start, end))
            start = None
    if start is not None:
        periods.append((start, max(start, now)))
    return [p for p in periods if p[1] > p[0]]


def working_seconds(events: Iterable[Event], now: datetime) -> float:
    return sum((end - start for start, end in work_periods(events, now)), timedelta()).total_seconds()


def wall_seconds(events: Sequence[Event], now: datetime) -> float:
    """From start to end (or now): the span that working time is part of."""
    started = next((e.at for e in events if e.kind == Kind.STARTED), None)
    if started is None:
        return 0.0
    ended = next((e.at for e in events if e.kind in ENDINGS), None)
    return ((ended or now) - started).total_seconds()


def paused_seconds(events: Sequence[Event], now: datetime) -> float:
    return max(0.0, wall_seconds(events, now) - working_seconds(events, now))


def time_when_working_reaches(events: Sequence[Event], limit: float) -> datetime | None:
    """The moment the working time reached `limit` seconds, or None if it has not."""
    total = 0.0
    for start, end in work_periods(events, datetime.max.replace(tzinfo=UTC)):
        span = (end - start).total_seconds()
        if total + span >= limit:
            return start + timedelta(seconds=limit - total)
        total += span
    return None
