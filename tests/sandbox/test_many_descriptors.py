"""A process that holds many sessions has descriptors numbered past 1024; starting a sandbox and running a
command in it must still work (select(2) cannot watch such a descriptor: issue 21's 150-session ceiling)."""

from __future__ import annotations

import os
import resource

import pytest

from sandbox import SandboxSpec, get_backend
from tests.conftest import SIMPLE_FAMILY

pytestmark = pytest.mark.sandbox


def test_a_sandbox_starts_and_runs_with_descriptors_past_1024(make_family, settings) -> None:
    settings.SANDBOX_BACKEND = "bubblewrap"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1024
        family = make_family("many", SIMPLE_FAMILY)
        with get_backend().provision(SandboxSpec(family_dir=family, family_name="many")) as sandbox:
            ran = sandbox.exec(["sh", "-c", "cat; echo done"], user="agent", stdin=b"typed ", timeout=30)
            assert (ran.returncode, ran.stdout) == (0, b"typed done\n")
            assert sandbox.read_file("/etc/hostname", limit=100) == b"sandbox\n"
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
