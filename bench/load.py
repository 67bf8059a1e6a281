"""Load benchmark: N live sessions at once on this machine, each typing at human speed, embedded and with the
session host as its own process (keepers), on a ladder of N; what it costs and where it breaks.

    .venv/bin/python bench/load.py [--ladder 10,30,60,100,200,300] [--seconds 60] [--repeat 1]
                                   [--modes embedded,production]

Each rung starts a fresh platform (PostgreSQL when DATABASE_URL names one, as in production: a fresh
database per run on that server; else SQLite), opens N sessions of ssh_key/find_key at the same moment (a
burst of Start presses: the time from each browser's hello to its first prompt is "prompt"), then for
--seconds each session types a key every 150-400 ms (the echo of each is timed: "echo") and once a minute,
at a random moment, prints 1 MB (`head -c 750000 /dev/urandom | base64`). "errors": sessions that did not
reach their prompt in 120 s, keystrokes not echoed within 5 s, connections closed under a client. The
platform's CPU (web, session host, keepers, their copier processes; not the sandboxes) is in cores over the
typing phase; its memory (PSS, the same processes) in all, and per live session over what it held before
the first (the web process's Django, the session host's). The client is a Python asyncio program
on the same 2 cores: its own latency is in every figure, the same for every rung.

With --repeat R every rung runs R times (modes interleaved) and the table gives the median and the range.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.terminal import Keeper, cpu_seconds, start_platform  # noqa: E402
from terminal.keeper import keeper_pids  # noqa: E402

PROMPT_TIMEOUT = 120.0
ECHO_TIMEOUT = 5.0
BURST = "head -c 750000 /dev/urandom | base64 -w 76; echo BU''RST_DONE\r"


@dataclass
class Sample:
    prompt: list[float] = field(default_factory=list)
    echo: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in out]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def platform_pids(procs: list[Any], session_ids: list[str], remote: bool) -> tuple[list[int], list[int]]:
    """The platform's processes (web, session host, each session's keeper, and their copiers, `cat`), and
    of those the keepers."""
    keepers = keeper_pids(*session_ids) if remote else []  # (one pass over /proc for them all)
    pids = [p.pid for p in procs] + keepers
    copiers = [c for pid in pids for c in children(pid) if comm(c) in ("cat", "setpriv")]
    return pids + copiers, keepers


def fresh_database(base: str, name: str) -> str:
    """A new empty database on the server of `base` (a postgres:// URL); its URL."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def drop_database(base: str, name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def more_sessions(tmp: Path, remote: bool, database_url: str, n: int) -> list[str]:
    """n more trial sessions of the bench user (the one start_platform logged in), on the same database."""
    env = dict(os.environ, DATA_DIR=str(tmp / ("data-remote" if remote else "data")))
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for k in ("DATABASE_URL", "REDIS_URL", "SESSION_HOST_SOCKET"):
        env.pop(k, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    code = (
        "import json; from django.contrib.auth.models import User; from tasks.models import Task;"
        "from terminal.services import terminal_session_create;"
        "u = User.objects.get(username='bench'); tv = Task.objects.get().latest_version;"
        f"print(json.dumps([str(terminal_session_create(user=u, task_version=tv, purpose='trial').id)"
        f" for _ in range({n})]))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=env, check=True, capture_output=True
    )
    return list(json.loads(out.stdout.decode().strip().splitlines()[-1]))


async def one_session(
    url: str, cookie: str, origin: str, sample: Sample, start: asyncio.Event, until: list[float]
) -> None:
    from terminal.wsclient import TerminalClient

    c = TerminalClient(url, cookie=cookie, origin=origin)
    try:
        t0 = time.perf_counter()
        await c.connect(cols=120)
        await c.wait_for("$ ", timeout=PROMPT_TIMEOUT)
        sample.prompt.append(time.perf_counter() - t0)
    except Exception as exc:
        sample.errors.append(f"no prompt: {type(exc).__name__}: {exc}"[:200])
        with contextlib.suppress(Exception):
            await c.close()
        return
    await start.wait()
    rng = random.Random()
    burst_at = time.perf_counter() + rng.uniform(0, 60)
    typed = 0
    try:
        while time.perf_counter() < until[0]:
            if c.closed_code is not None:
                sample.errors.append(f"closed under the client: {c.closed_code}")
                return
            if time.perf_counter() >= burst_at:
                since = c.received
                await c.send_input("\x15" + BURST)
                await c.wait_for("BURST_DONE", since=since, timeout=60)
                burst_at += 60
                typed = 0
                continue
            await asyncio.sleep(rng.uniform(0.15, 0.4))
            if typed >= 40:
                await c.send_input("\x15")  # clear the line now and then
                typed = 0
            mark = c.received
            t = time.perf_counter()
            await c.send_input("x")
            try:
                await c.wait_for("x", since=mark, timeout=ECHO_TIMEOUT)
            except TimeoutError:
                sample.errors.append("a keystroke not echoed within 5 s")
                continue
            sample.echo.append(time.perf_counter() - t)
            typed += 1
    except Exception as exc:
        sample.errors.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        with contextlib.suppress(Exception):
            await c.close()


async def rung(n: int, remote: bool, seconds: float, tmp: Path, database_url: str) -> dict[str, float]:
    procs, url, cookie, origin = start_platform(tmp, remote, database_url=database_url)
    session_ids = [url.rstrip("/").rsplit("/", 1)[-1], *more_sessions(tmp, remote, database_url, n - 1)]
    base = url.rsplit("/", 2)[0]
    sample = Sample()
    start = asyncio.Event()
    until = [0.0]
    keepers: list[Keeper] = []
    idle = sum(pss_kib(p.pid) for p in procs)  # the platform before any session
    try:
        tasks = [
            asyncio.ensure_future(one_session(f"{base}/{sid}/", cookie, origin, sample, start, until))
            for sid in session_ids
        ]
        t0 = time.perf_counter()
        while len(sample.prompt) + len(sample.errors) < n and time.perf_counter() - t0 < PROMPT_TIMEOUT + 10:
            await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        pids, keeper_list = await loop.run_in_executor(None, platform_pids, procs, session_ids, remote)
        keepers = [Keeper(pid) for pid in keeper_list]
        cpu0 = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}"))
        until[0] = time.perf_counter() + seconds
        t1 = time.perf_counter()
        start.set()
        mem = []
        while time.perf_counter() < until[0]:
            await asyncio.sleep(min(10, max(0.1, until[0] - time.perf_counter())))
            mem.append(sum(pss_kib(p) for p in pids))
        await asyncio.gather(*tasks)
        cpu = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}")) - cpu0
        cores = cpu / (time.perf_counter() - t1)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        if remote:
            from terminal.keeper import instance_of
            from terminal.keepers import end_all

            instance = instance_of(str(tmp / "data-remote" / "session-host.sock"))
            await asyncio.get_running_loop().run_in_executor(None, end_all, instance, "bench over")
            for k in keepers:
                k.wait()
    live = max(1, len(sample.prompt))
    for e in sorted(set(sample.errors))[:5]:
        print(f"    error ({sample.errors.count(e)}x): {e}")
    return {
        "n": n,
        "prompt_p50": pct(sample.prompt, 0.5),
        "prompt_p95": pct(sample.prompt, 0.95),
        "echo_p50": pct(sample.echo, 0.5) * 1e3,
        "echo_p95": pct(sample.echo, 0.95) * 1e3,
        "echo_p99": pct(sample.echo, 0.99) * 1e3,
        "keystrokes": len(sample.echo),
        "errors": len(sample.errors),
        "cores": cores,
        "platform_mib": statistics.median(mem) / 1024 if mem else float("nan"),
        "mib_per_session": (statistics.median(mem) - idle) / 1024 / live if mem else float("nan"),
    }


COLUMNS = (
    ("prompt_p50", "prompt p50 s", "{:.2f}"),
    ("prompt_p95", "prompt p95 s", "{:.2f}"),
    ("echo_p50", "echo p50 ms", "{:.1f}"),
    ("echo_p95", "echo p95 ms", "{:.1f}"),
    ("echo_p99", "echo p99 ms", "{:.1f}"),
    ("errors", "errors", "{:.0f}"),
    ("cores", "platform cores", "{:.2f}"),
    ("platform_mib", "platform MiB", "{:.0f}"),
    ("mib_per_session", "MiB/session", "{:.2f}"),
)


def cell(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ladder", default="10,30,60,100,200,300")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--modes", default="embedded,production")
    args = parser.parse_args()
    base_db = os.environ.get("DATABASE_URL", "")
    modes = [m.strip() for m in args.modes.split(",")]
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as d:
        root = Path(d)
        root.chmod(0o755)  # the sandboxes' unprivileged uids must reach their files under it
        for n in [int(x) for x in args.ladder.split(",")]:
            for r in range(args.repeat):
                for mode in modes if r % 2 == 0 else modes[::-1]:
                    tmp = root / f"{mode}-{n}-{r}"
                    tmp.mkdir(mode=0o755)
                    name = f"bench_load_{os.getpid()}_{mode}_{n}_{r}"
                    url = fresh_database(base_db, name) if base_db.startswith("postgres") else ""
                    try:
                        row = asyncio.run(rung(n, mode == "production", args.seconds, tmp, url))
                    finally:
                        if url:
                            drop_database(base_db, name)
                    results.setdefault((mode, n), []).append(row)
                    print(f"  {mode} {n}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    print()
    print("| mode | sessions | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for (mode, n), rows in results.items():
        cells = [cell([row[k] for row in rows], fmt) for k, _, fmt in COLUMNS]
        print(f"| {mode} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
