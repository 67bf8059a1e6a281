"""Our asciicast writer, checked with asciinema's own parser (a test-only, GPL dependency) and CLI."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asciinema.asciicast import open_from_url
from asgiref.sync import async_to_sync

from terminal.recording import AsciicastWriter
from tests.terminal.conftest import new_session, run


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
def test_killed_session_host_loses_at_most_the_last_second(remote_server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> float:
        c = await remote_server.shell(session, users["alice"])
        await run(c, "true")
        await c.send_input("while true; do echo T=$(date +%s.%N); sleep 0.05; done\r")
        await asyncio.sleep(3)
        killed_at = time.time()
        assert remote_server.host is not None
        os.kill(remote_server.host.pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        return killed_at

    killed_at = async_to_sync(scenario)()
    remote_server.host = None
    with open_from_url(str(session.recording_path)) as cast:
        output = "".join(e[2] for e in cast.events("o"))
    stamps = [float(x) for x in re.findall(r"T=(\d+\.\d+)\r\n", output)]
    assert len(stamps) > 10
    lost = killed_at - stamps[-1]
    print(f"killed session host: last recorded output {lost:.2f} s before the kill")
    assert lost <= 1.0
