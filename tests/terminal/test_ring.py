"""The session host's replay buffer: any byte still held is read back exactly, by absolute offset."""

from __future__ import annotations

import random

from terminal.host import RingBuffer


def test_reads_back_every_byte_it_still_holds_across_wraps() -> None:
    rng = random.Random(3)
    ring = RingBuffer(size=1000)
    stream = bytearray()
    for _ in range(2000):
        data = rng.randbytes(rng.choice([1, 7, 300, 999, 1000, 1001, 2500]))
        ring.append(data)
        stream += data
        assert ring.end == len(stream)
        assert ring.start == max(0, len(stream) - 1000)
        offset = rng.randrange(ring.start, ring.end + 1)
        limit = rng.choice([1, 64, 1000, 5000])
        assert ring.read(offset, limit) == bytes(stream[offset : offset + limit])
    assert ring.read(ring.start - 1, 10) == b""  # fell off: the caller resets instead


def test_a_replay_after_a_wrap_starts_on_a_new_line() -> None:
    ring = RingBuffer(size=100)
    ring.append(b"a" * 50 + b"\x1b[31mred\r\nnext line\r\n")
    assert ring.replay_start() == 0  # nothing lost yet: from the very first byte
    ring.append(b"b" * 60)
    start = ring.replay_start()
    assert ring.read(start, 4) == b"next"
