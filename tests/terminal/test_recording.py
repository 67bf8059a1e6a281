"""Our asciicast writer, checked with asciinema's own parser (a test-only, GPL dependency) and CLI."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from asciinema.asciicast import open_from_url
from asgiref.sync import async_to_sync

from terminal.recording import TRUNCATED, AsciicastWriter
from tests.terminal.conftest import _server, keeper_pid, new_session, run, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


ALPHABET = (
    "abcxyz 0123456789\r\n\t\x1b[31m\x1b[0m"
    + '"\\/\x00\x07\x08\x0c\x1f\x7f'
    + "éüßøñ"
    + "日本語中文"
    + "🙂🚀"
    + "\u200d\u0301"
)


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


def _split_bytes(rng: random.Random, data: bytes) -> list[bytes]:
    """Cut anywhere, including inside multibyte characters."""
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(0, 4))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_any_bytes_are_recorded_as_their_utf8_decoding(tmp_path: Path) -> None:
    """Every byte value, invalid UTF-8 included, cut anywhere: what a parser reads back is what the
    bytes decode to (invalid sequences as U+FFFD), JSON escapes and all, and ASCII stays as it came."""
    rng = random.Random(7)
    blob = bytes(range(256)) * 4 + bytes(rng.randrange(256) for _ in range(20_000))
    blob += "日本語🙂".encode() * 50 + b'plain "quoted" \\ back\\slash\r\n' * 50
    path = tmp_path / "bytes.cast"
    w = AsciicastWriter(path, width=80, height=24, clock=FakeClock())
    pos = 0
    while pos < len(blob):
        step = rng.choice([1, 2, 3, 7, 100, 4096])
        w.output(blob[pos : pos + step])
        pos += step
    w.close()
    with open_from_url(str(path)) as cast:
        parsed = "".join(e[2] for e in cast.events() if e[1] == "o")
    assert parsed == blob.decode("utf-8", "replace")
    assert path.read_bytes().decode("utf-8")  # the file itself is valid UTF-8


def test_10000_random_events_round_trip_through_asciinemas_parser(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    clock = FakeClock()
    path = tmp_path / "s.cast"
    w = AsciicastWriter(path, width=80, height=24, title="round trip", clock=clock)
    out_text: list[str] = []
    in_text: list[str] = []
    resizes: list[str] = []
    events = 0
    while events < 10_000:
        clock.t += rng.choice([0.0, 0.000001, 0.003, 0.25, 1.7])
        kind = rng.random()
        if kind < 0.6:
            text = _random_text(rng, rng.randint(1, 40))
            out_text.append(text)
            for chunk in _split_bytes(rng, text.encode()):
                w.output(chunk)
        elif kind < 0.9:
            text = _random_text(rng, rng.randint(1, 10))
            in_text.append(text)
            for chunk in _split_bytes(rng, text.encode()):
                w.input(chunk)
        else:
            size = f"{rng.randint(20, 300)}x{rng.randint(5, 100)}"
            resizes.append(size)
            w.resize(*map(int, size.split("x")))
        events += 1
    w.marker("submit")
    w.close()

    with open_from_url(str(path)) as cast:
        assert cast.v2_header["width"] == 80 and cast.v2_header["title"] == "round trip"
        parsed = list(cast.events())
    assert "".join(e[2] for e in parsed if e[1] == "o") == "".join(out_text)
    assert "".join(e[2] for e in parsed if e[1] == "i") == "".join(in_text)
    assert [e[2] for e in parsed if e[1] == "r"] == resizes
    assert [e[2] for e in parsed if e[1] == "m"] == ["submit"]
    times = [e[0] for e in parsed]
    assert times == sorted(times) and times[0] >= 0
    # no event holds a broken character: every split character was written whole
    assert not any("\ufffd" in e[2] for e in parsed)

    cat = subprocess.run(
        [sys.executable, "-m", "asciinema", "cat", str(path)], capture_output=True, check=True
    )
    assert cat.stdout.decode() == "".join(out_text)


def test_writer_flushes_at_least_every_second(tmp_path: Path) -> None:
    clock = FakeClock()
    w = AsciicastWriter(tmp_path / "f.cast", width=80, height=24, clock=clock)
    w.output(b"first")
    size_after_first = (tmp_path / "f.cast").stat().st_size
    clock.t += 1.01
    w.output(b"second")  # an event after a second flushes everything pending
    text = (tmp_path / "f.cast").read_text()
    assert "first" in text and "second" in text
    assert size_after_first < len(text)
    w.close()


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_killed_keeper_loses_at_most_the_last_second(remote_server, users, suite) -> None:
    """The keeper writes the recording (a killed session host costs it nothing: test_keepers.py); killed
    itself, outright, it loses at most what it had not yet flushed."""
    session = new_session(users["alice"])

    async def scenario() -> float:
        c = await remote_server.shell(session, users["alice"])
        await run(c, "true")
        await c.send_input("while true; do echo T=$(date +%s.%N); sleep 0.05; done\r")
        await asyncio.sleep(3)
        killed_at = time.time()
        os.kill(keeper_pid(session), signal.SIGKILL)
        await asyncio.sleep(0.5)
        return killed_at

    killed_at = async_to_sync(scenario)()
    with open_from_url(str(session.recording_path)) as cast:
        output = "".join(e[2] for e in cast.events("o"))
    stamps = [float(x) for x in re.findall(r"T=(\d+\.\d+)\r\n", output)]
    assert len(stamps) > 10
    lost = killed_at - stamps[-1]
    print(f"killed keeper: last recorded output {lost:.2f} s before the kill")
    assert lost <= 1.0


# -- the size cap ---------------------------------------------------------------------------------------
def _events(path: Path) -> list[list[Any]]:
    with open_from_url(str(path)) as cast:  # asciinema's own parser: a cut file is still a valid file
        return [list(e) for e in cast.events()]


def test_cap_cuts_the_recording_marks_the_cut_and_keeps_a_sample_of_each_minute(tmp_path: Path) -> None:
    clock = FakeClock()
    cuts: list[float] = []
    path = tmp_path / "capped.cast"
    cap, sample = 100_000, 10_000
    w = AsciicastWriter(
        path, width=80, height=24, clock=clock, max_bytes=cap, sample_bytes=sample, on_truncate=cuts.append
    )
    w.marker("start")
    flood = b"0123456789abcdef" * 256  # 4 KiB of output per read, 25 reads a second
    sent = b""
    for _minute in range(3):
        for _ in range(60 * 25):
            clock.t += 0.04
            w.output(flood)
            sent += flood if len(sent) < 2 * cap else b""
        w.input(b"typed\r")
    w.marker("end")
    w.close()

    events = _events(path)
    marks = [i for i, e in enumerate(events) if e[1] == "m"]
    assert [events[i][2] for i in marks] == ["start", TRUNCATED, "end"]
    at = marks[1]
    cut = events[at][0]
    assert cuts == [pytest.approx(cut)] and w.truncated_at == pytest.approx(cut)
    # Before the marker: the output exactly as it came, up to the cap.
    recorded = "".join(e[2] for e in events[:at] if e[1] == "o")
    assert sent.decode().startswith(recorded) and len(recorded) > cap * 0.9
    # After it: a sample of each minute (the cut's, then the next two), none larger than `sample` bytes.
    after = [e for e in events[at + 1 :] if e[1] == "o"]
    per_window: dict[int, int] = {}
    for e in after:
        window = int((e[0] - cut) // 60)
        per_window[window] = per_window.get(window, 0) + len(e[2])
    assert sorted(per_window) == [0, 1, 2] and max(per_window.values()) <= sample
    assert path.stat().st_size <= cap + 3 * sample + 1000
    # What was typed is kept whole past the cap, even where each minute's sample is full of output.
    assert [e[2] for e in events if e[1] == "i"] == ["typed\r"] * 3


def test_past_the_cap_input_is_kept_up_to_twice_the_cap(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "typed.cast"
    w = AsciicastWriter(path, width=80, height=24, clock=clock, max_bytes=20_000, sample_bytes=1_000)
    w.output(b"x" * 30_000)  # past the cap at once
    for _ in range(100):  # every second the sample is flooded first, then the contractor types
        clock.t += 1
        w.output(b"y" * 5_000)
        w.input(b"ls\r")
    for _ in range(10_000):  # an input flood stops at the ceiling
        w.input(b"z" * 100)
    w.close()
    typed = [e[2] for e in _events(path) if e[1] == "i"]
    assert typed[:100] == ["ls\r"] * 100
    assert path.stat().st_size <= 2 * 20_000 + 1_000


def test_cap_holds_for_any_bytes(tmp_path: Path) -> None:
    """Control characters take 6 bytes in JSON (\\u0000), invalid UTF-8 3: the cut still fits the cap."""
    rng = random.Random(3)
    clock = FakeClock()
    path = tmp_path / "binary.cast"
    w = AsciicastWriter(path, width=80, height=24, clock=clock, max_bytes=50_000, sample_bytes=5_000)
    for _ in range(200):
        clock.t += 0.01
        w.output(bytes(rng.randrange(256) for _ in range(rng.choice([1, 100, 4096]))))
    w.close()
    assert w.truncated_at is not None
    assert path.stat().st_size <= 50_000 + 5_000 + 200  # the cap, one sample window, the marker
    _events(path)  # still parses


def test_no_cap_no_truncation(tmp_path: Path) -> None:
    w = AsciicastWriter(tmp_path / "free.cast", width=80, height=24, clock=FakeClock())
    for _ in range(100):
        w.output(b"x" * 65536)
    w.close()
    assert w.truncated_at is None
    assert (tmp_path / "free.cast").stat().st_size > 100 * 65536


@pytest.fixture(params=["embedded", "remote"])
def capped_server(request, tmp_path, _recordings, transactional_db, settings):  # type: ignore[no-untyped-def]
    """The platform with a small recording cap: 256 KiB, then 16 KiB of each minute."""
    settings.RECORDING_MAX_MB, settings.RECORDING_SAMPLE_KB = 0.25, 16  # what this process's pages say
    yield from _server(tmp_path, request.param, settings, RECORDING_MAX_MB="0.25", RECORDING_SAMPLE_KB="16")


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_a_flood_past_the_cap_keeps_the_terminal_and_cuts_the_recording(capped_server, users, suite) -> None:
    """`base64 -w0` of 3 MB of random bytes through the real WebSocket, with a 256 KiB cap: the contractor
    gets every byte and the shell goes on; the file ends near the cap with the marker; staff are warned."""
    from django.test import Client
    from django.urls import reverse

    from baselining.models import Assignment, AssignmentKind, AssignmentStatus, BaselineSession, SessionState
    from terminal.models import TerminalSession

    alice, staff = users["alice"], users["staff"]
    session = new_session(alice)

    async def scenario() -> bytes:
        c = await capped_server.shell(session, alice)
        flood = await run(c, "head -c 3000000 /dev/urandom | base64 -w0; echo", timeout=120)
        assert len(flood.strip()) == 4_000_000  # all of it reached the terminal
        assert await run(c, "echo still-$((40 + 2))") == "still-42"  # and it still works
        await c.close()
        return bytes(c.data)

    shown = async_to_sync(scenario)()
    capped_server.end_session(session, alice)
    wait_until(lambda: TerminalSession.objects.get(pk=session.pk).recording_truncated_at is not None)

    cap, sample = 256 * 1024, 16 * 1024
    size = session.recording_path.stat().st_size
    assert size <= cap + 2 * sample + 4096, size  # the cap, at most two minutes' samples, the markers
    events = _events(session.recording_path)
    labels = [e[2] for e in events if e[1] == "m"]
    assert labels[0] == "start" and labels[-1] == "end" and TRUNCATED in labels
    at = next(i for i, e in enumerate(events) if e[1] == "m" and e[2] == TRUNCATED)
    before = "".join(e[2] for e in events[:at] if e[1] == "o")
    assert shown.decode(errors="replace").startswith(before)  # up to the cut, exactly what was shown
    truncated_at = TerminalSession.objects.get(pk=session.pk).recording_truncated_at
    assert truncated_at == pytest.approx(events[at][0], abs=0.01)

    tv = session.task_version
    assignment = Assignment.objects.create(
        contractor=alice,
        task=tv.task,
        task_version=tv,
        kind=AssignmentKind.BASELINE,
        status=AssignmentStatus.COMPLETED,
    )
    baseline = BaselineSession.objects.create(
        assignment=assignment, terminal=session, state=SessionState.ENDED
    )
    browser = Client()
    browser.force_login(staff)
    for url in (
        reverse("baselining:review", args=[baseline.pk]),
        reverse("terminal:replay", args=[session.pk]),
    ):
        page = browser.get(url).content.decode()
        assert 'id="recording-truncated"' in page, url
        assert f"?t={truncated_at:.1f}" in page and "16 KiB of each minute" in page


def test_a_resumed_recording_goes_on_in_the_same_file_and_time_line(tmp_path) -> None:
    """A parked session restored: no second header, and its events continue after the earlier ones, on the
    wall-clock time line the header's timestamp starts (the parked hours included)."""
    path = tmp_path / "f.cast"
    w = AsciicastWriter(path, width=80, height=24, clock=FakeClock())
    w.output(b"before parking\r\n")
    w.marker("parked")
    w.close()
    header = json.loads(path.read_text().splitlines()[0])
    header["timestamp"] -= 3600  # as if it had started an hour ago
    lines = path.read_text().splitlines()
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")

    again = AsciicastWriter(path, width=80, height=24, resume=True)
    again.marker("restored")
    again.output(b"after\r\n")
    again.close()
    with open_from_url(str(path)) as cast:
        events = list(cast.events())
    assert [e[2] for e in events if e[1] == "m"] == ["parked", "restored"]
    assert "".join(e[2] for e in events if e[1] == "o") == "before parking\r\nafter\r\n"
    times = [e[0] for e in events]
    assert times == sorted(times) and 3599 < times[-1] < 3700
    assert sum(1 for line in path.read_text().splitlines() if line.startswith("{")) == 1
