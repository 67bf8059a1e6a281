"""The clock as pure functions, checked against an independent second-by-second count (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselining import clock
from baselining.clock import (
    ENDINGS,
    ClockError,
    Event,
    Kind,
    PauseReason,
    State,
    append,
    paused_seconds,
    state,
    wall_seconds,
    work_periods,
    working_seconds,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def t(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[Event], int]:
    """A valid event log with whole-second times, and a 'now' after it."""
    events: list[Event] = []
    now = draw(st.integers(0, 100))
    events.append(Event(Kind.STARTED, t(now)))
    running_from = now
    for _ in range(draw(st.integers(0, 25))):
        s = state(events)
        if s == State.ENDED:
            break
        now += draw(st.integers(0, 3600))
        if s == State.RUNNING:
            kind = draw(st.sampled_from([Kind.PAUSED, Kind.PAUSED, Kind.PAUSED, *ENDINGS]))
        else:
            kind = draw(st.sampled_from([Kind.RESUMED, Kind.RESUMED, Kind.RESUMED, *ENDINGS]))
        if kind == Kind.PAUSED:
            reason = draw(st.sampled_from(list(PauseReason)))
            since = now
            if reason == PauseReason.IDLE:  # detected now, but nothing was typed since the last input
                since = draw(st.integers(running_from, now))
            events.append(Event(kind, t(now), reason=reason, since=t(since)))
        else:
            if kind == Kind.RESUMED:
                running_from = now
            events.append(Event(kind, t(now)))
    return events, now + draw(st.integers(0, 3600))


def oracle(events: list[Event], now: int) -> int:
    """Count the running seconds one by one: an implementation that shares nothing with the real one."""
    running: set[int] = set()
    current = None
    for e in events:
        at = int((e.at - T0).total_seconds())
        if e.kind in (Kind.STARTED, Kind.RESUMED):
            current = at
        elif current is not None and e.kind == Kind.PAUSED:
            stop = int(((e.since or e.at) - T0).total_seconds())
            running.update(range(current, stop))
            current = None
        elif current is not None and e.kind in ENDINGS:
            running.update(range(current, at))
            current = None
    if current is not None:
        running.update(range(current, now))
    return len(running)


@settings(max_examples=400, deadline=None)
@given(logs())
def test_working_time_is_the_sum_of_running_intervals(log: tuple[list[Event], int]) -> None:
    events, now = log
    w = working_seconds(events, t(now))
    assert w == oracle(events, now)
    assert w >= 0
    assert w <= wall_seconds(events, t(now))
    assert paused_seconds(events, t(now)) == wall_seconds(events, t(now)) - w


@settings(max_examples=300, deadline=None)
@given(logs())
def test_idle_stretches_are_removed(log: tuple[list[Event], int]) -> None:
    events, now = log
    periods = work_periods(events, t(now))
    for e in events:
        if e.kind == Kind.PAUSED and e.reason == PauseReason.IDLE and e.since is not None:
            for start, end in periods:
                assert end <= e.since or start >= e.at, "an idle stretch was counted as work"


@settings(max_examples=300, deadline=None)
@given(logs(), st.sampled_from(list(Kind)), st.integers(-100, 100))
def test_check_accepts_exactly_the_valid_transitions(log, kind: Kind, dt: int) -> None:
    events, _now = log
    last = int((events[-1].at - T0).total_seconds())
    new = Event(
        kind, t(last + dt), reason="fixing a forgotten pause" if kind == Kind.STAFF_CORRECTION else ""
    )
    valid = dt >= 0 and (
        kind == Kind.STAFF_CORRECTION
        or kind
        in {
            State.RUNNING: {Kind.PAUSED, *ENDINGS},
            State.PAUSED: {Kind.RESUMED, Kind.PARKED, Kind.RESTORED, *ENDINGS},
            State.ENDED: set(),
            State.NOT_STARTED: {Kind.STARTED, Kind.GAVE_UP},
        }[state(events)]
    )
    if valid:
        assert append(events, new)[-1] == new
    else:
        with pytest.raises(ClockError):
            append(events, new)


def test_a_simple_session() -> None:
    events: list[Event] = []
    for e in [
        Event(Kind.STARTED, t(0)),
        Event(Kind.PAUSED, t(600), reason=PauseReason.MANUAL),
        Event(Kind.RESUMED, t(900)),
        # idle detected at 40:00, last input at 30:00: the 10 idle minutes are not work
        Event(Kind.PAUSED, t(2400), reason=PauseReason.IDLE, since=t(1800)),
        Event(Kind.RESUMED, t(3000)),
        Event(Kind.SUBMITTED, t(3300)),
    ]:
        events = append(events, e)
    assert working_seconds(events, t(99999)) == 600 + 900 + 300
    assert wall_seconds(events, t(99999)) == 3300
    assert state(events) == State.ENDED


def test_staff_correction_replaces_work_periods_and_needs_a_reason() -> None:
    events = [Event(Kind.STARTED, t(0)), Event(Kind.SUBMITTED, t(36000))]  # "left open overnight"
    with pytest.raises(ClockError, match="needs a reason"):
        append(events, Event(Kind.STAFF_CORRECTION, t(40000), periods=((t(0), t(1200)),)))
    with pytest.raises(ClockError, match="overlap"):
        append(
            events,
            Event(Kind.STAFF_CORRECTION, t(40000), reason="x", periods=((t(0), t(100)), (t(50), t(200)))),
        )
    corrected = append(
        events,
        Event(
            Kind.STAFF_CORRECTION,
            t(40000),
            reason="worked 0-20 and 60-70 min per the contractor's form",
            periods=((t(0), t(1200)), (t(3600), t(4200))),
        ),
    )
    assert working_seconds(corrected, t(50000)) == 1800


def test_nothing_after_the_end_and_no_going_back_in_time() -> None:
    events = [Event(Kind.STARTED, t(0)), Event(Kind.GAVE_UP, t(10), reason="stuck")]
    with pytest.raises(ClockError, match="cannot record resumed when the clock is ended"):
        append(events, Event(Kind.RESUMED, t(20)))
    with pytest.raises(ClockError, match="before the previous event"):
        append([Event(Kind.STARTED, t(10))], Event(Kind.PAUSED, t(5)))
    with pytest.raises(ClockError, match="reach back before"):
        append([Event(Kind.STARTED, t(10))], Event(Kind.PAUSED, t(20), reason="idle", since=t(5)))


def test_the_clock_state_in_words_people_read() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [Event(Kind.STARTED, t0)]
    assert clock.describe([]) == "Not started" and clock.describe(events) == "Running"
    idle = [*events, Event(Kind.PAUSED, t0 + timedelta(minutes=5), reason=PauseReason.IDLE)]
    assert clock.describe(idle) == "Paused: idle"
    mine = [*events, Event(Kind.PAUSED, t0 + timedelta(minutes=5), reason=PauseReason.MANUAL)]
    assert clock.describe(mine) == "Paused: you paused"
    assert clock.describe([*events, Event(Kind.SUBMITTED, t0 + timedelta(minutes=9))]) == "Stopped"
